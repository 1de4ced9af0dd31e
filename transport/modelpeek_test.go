package transport

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestPeekModel(t *testing.T) {
	cases := []struct {
		name, body, want string
		err              error // nil: any error is wrong; errAny: some error
	}{
		{"first", `{"model":"gpt-5.2","messages":[]}`, "gpt-5.2", nil},
		{"last member", `{"messages":[{"role":"user","content":"hi"}],"model":"gemini-2.5-pro"}`, "gemini-2.5-pro", nil},
		{"nested model earlier is skipped", `{"messages":[{"model":"wrong","content":{"model":"deeper"}}],"metadata":{"model":"also wrong"},"model":"right"}`, "right", nil},
		{"only nested", `{"messages":[{"model":"nested"}]}`, "", errNoModel},
		{"escaped name", `{"mod\u0065l":"escaped-name"}`, "escaped-name", nil},
		{"escaped value", `{"model":"gemini\u002d2.5-pro"}`, "gemini-2.5-pro", nil},
		{"model-like names", `{"models":"x","model_id":"y","Model":"z","model":"real"}`, "real", nil},
		{"duplicate: last wins", `{"model":"first","model":"second"}`, "second", nil},
		{"whitespace", " \n\t{ \"model\" : \"spaced\" } \n", "spaced", nil},
		{"strings holding braces", `{"a":"}{\"model\":\"no\"","model":"yes"}`, "yes", nil},
		{"missing", `{"messages":[]}`, "", errNoModel},
		{"empty", `{"model":""}`, "", errNoModel},
		{"null", `{"model":null}`, "", errNoModel},
		{"number", `{"model":5}`, "", errModelNotText},
		{"object", `{"model":{"id":"x"}}`, "", errModelNotText},
		{"array body", `[{"model":"x"}]`, "", errBodyNotObject},
		{"string body", `"model"`, "", errBodyNotObject},
		{"empty body", ``, "", errBodyNotObject},
		{"truncated", `{"model":"x","messages":[`, "", errAny},
		{"trailing data", `{"model":"x"} {"model":"y"}`, "", errAny},
		{"bad syntax", `{"model" "x"}`, "", errAny},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := peekModel([]byte(tc.body))
			switch {
			case tc.err == nil && err != nil:
				t.Fatalf("peekModel(%s) error %v, want %q", tc.body, err, tc.want)
			case tc.err == errAny && err == nil, tc.err != nil && tc.err != errAny && !errors.Is(err, tc.err):
				t.Fatalf("peekModel(%s) = %q, %v; want error %v", tc.body, got, err, tc.err)
			case got != tc.want:
				t.Errorf("peekModel(%s) = %q, want %q", tc.body, got, tc.want)
			}
		})
	}
}

// errAny marks a case that must fail, whatever the error.
var errAny = errors.New("any error")

// FuzzPeekModel: on every valid JSON object peekModel finds the model
// encoding/json (the surfaces' decoder) sees at the top level, and it
// never panics on any input.
func FuzzPeekModel(f *testing.F) {
	for _, s := range []string{`{"model":"m"}`, `{"a":{"model":"n"},"model":"m"}`, `{"model":"a","model":"b"}`, `[1]`, `{"model":1}`, `{"mod\u0065l":"m"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got, err := peekModel([]byte(body))
		var want struct {
			Model *string `json:"model"`
		}
		var m map[string]json.RawMessage
		if json.Unmarshal([]byte(body), &m) != nil {
			return // not an object encoding/json accepts
		}
		raw, ok := m["model"]
		if !ok || string(raw) == "null" {
			if err == nil {
				t.Fatalf("peekModel(%q) = %q, want no model", body, got)
			}
			return
		}
		if json.Unmarshal(raw, &want.Model) != nil || want.Model == nil {
			if err == nil {
				t.Fatalf("peekModel(%q) = %q, want an error: model is not a string", body, got)
			}
			return
		}
		if *want.Model == "" {
			return
		}
		if err != nil || got != *want.Model {
			t.Fatalf("peekModel(%q) = %q, %v; want %q", body, got, err, *want.Model)
		}
	})
}

// BenchmarkPeekModel is the root's cost of routing a Claude Code-sized
// request (~30 KB, model last), against encoding/json decoding the same
// field (what a surface's own parse costs at least).
func BenchmarkPeekModel(b *testing.B) {
	msg := `{"role":"user","content":[{"type":"text","text":"` + strings.Repeat("lorem ipsum dolor sit amet ", 40) + `","model":"nested"}]},`
	body := []byte(`{"max_tokens":1024,"messages":[` + strings.Repeat(msg, 28) + `{"role":"user","content":"hi"}],"model":"gemini-2.5-pro"}`)
	b.Run("peekModel", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if m, err := peekModel(body); err != nil || m != "gemini-2.5-pro" {
				b.Fatal(m, err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var v struct {
				Model string `json:"model"`
			}
			if err := json.Unmarshal(body, &v); err != nil || v.Model != "gemini-2.5-pro" {
				b.Fatal(v.Model, err)
			}
		}
	})
}
