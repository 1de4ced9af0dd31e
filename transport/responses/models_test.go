package responses

import (
	"testing"
	"time"
)

func TestNewModels(t *testing.T) {
	created := time.Unix(1700000000, 0)
	m := NewModels([]string{"gpt-5", "", "gpt-5", "gpt-5-codex"}, "openai", created)
	want := `{"object":"list","data":[{"id":"gpt-5","object":"model","created":1700000000,"owned_by":"openai"},` +
		`{"id":"gpt-5-codex","object":"model","created":1700000000,"owned_by":"openai"}]}`
	if got := string(m.list); got != want {
		t.Errorf("list = %s, want %s", got, want)
	}
	if got, want := string(m.byID["gpt-5-codex"]), `{"id":"gpt-5-codex","object":"model","created":1700000000,"owned_by":"openai"}`; got != want {
		t.Errorf("byID[gpt-5-codex] = %s, want %s", got, want)
	}
	if got, want := string(NewModels(nil, "google", created).list), `{"object":"list","data":[]}`; got != want {
		t.Errorf("empty list = %s, want %s", got, want)
	}
}

func TestJoin(t *testing.T) {
	created := time.Unix(1700000000, 0)
	j := Join(NewModels([]string{"gemini-2.5-pro", "shared"}, "google", created), NewModels([]string{"shared", "gpt-5"}, "openai", created))
	want := `{"object":"list","data":[{"id":"gemini-2.5-pro","object":"model","created":1700000000,"owned_by":"google"},` +
		`{"id":"shared","object":"model","created":1700000000,"owned_by":"google"},` +
		`{"id":"gpt-5","object":"model","created":1700000000,"owned_by":"openai"}]}`
	if got := string(j.list); got != want {
		t.Errorf("list = %s, want %s", got, want)
	}
	if got, want := string(j.byID["gpt-5"]), `{"id":"gpt-5","object":"model","created":1700000000,"owned_by":"openai"}`; got != want {
		t.Errorf("byID[gpt-5] = %s, want %s", got, want)
	}
	if got, want := string(Join().list), `{"object":"list","data":[]}`; got != want {
		t.Errorf("empty join = %s, want %s", got, want)
	}
}
