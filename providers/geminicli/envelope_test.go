package geminicli

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// golden compares got with testdata/<name>, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs:\n got: %s\nwant: %s", name, got, want)
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWrapGenerateGolden(t *testing.T) {
	body := readTestdata(t, "envelope/cli_request.json")
	got, err := WrapGenerate("gemini-3-pro-preview", "my-project-123", "prompt-1", body)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "envelope/cli_request.golden", got)

	var env struct {
		Model        string          `json:"model"`
		Project      string          `json:"project"`
		UserPromptID string          `json:"user_prompt_id"`
		Request      json.RawMessage `json:"request"`
	}
	if err := json.Unmarshal(got, &env); err != nil {
		t.Fatalf("envelope is not JSON: %v", err)
	}
	if env.Model != "gemini-3-pro-preview" || env.Project != "my-project-123" || env.UserPromptID != "prompt-1" {
		t.Errorf("envelope = %q %q %q, want model, project and prompt id as given", env.Model, env.Project, env.UserPromptID)
	}
	if !bytes.Equal(env.Request, bytes.TrimSpace(body)) {
		t.Errorf("request is not the client body byte for byte:\n got: %s\nwant: %s", env.Request, body)
	}
}

func TestWrapGenerateEscapes(t *testing.T) {
	got, err := WrapGenerate(`m"x`, "p\\1", "<id>", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model":"m\"x","project":"p\\1","user_prompt_id":"\u003cid\u003e","request":{}}`
	if string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestWrapRejectsNonObjects(t *testing.T) {
	for name, body := range map[string]string{
		"empty":     "",
		"array":     `[{"contents":[]}]`,
		"string":    `"hi"`,
		"truncated": `{"contents":[`,
		"trailing":  `{"a":1} {"b":2}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := WrapGenerate("m", "p", "id", []byte(body)); !errors.Is(err, ErrInvalidBody) {
				t.Errorf("WrapGenerate err = %v, want ErrInvalidBody", err)
			}
			if _, err := WrapCountTokens("m", []byte(body)); !errors.Is(err, ErrInvalidBody) {
				t.Errorf("WrapCountTokens err = %v, want ErrInvalidBody", err)
			}
		})
	}
}

func TestWrapCountTokens(t *testing.T) {
	tests := []struct {
		name, model, body, want string
	}{
		{
			name:  "inserts model",
			model: "gemini-2.5-pro",
			body:  `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`,
			want:  `{"request":{"model":"models/gemini-2.5-pro","contents":[{"role":"user","parts":[{"text":"hi"}]}]}}`,
		},
		{
			name:  "overrides model, keeps other values verbatim",
			model: "models/gemini-2.5-flash",
			body:  `{"model":"models/other","contents":[ {"parts":[{"text":"a"}]} ],"x":1.0}`,
			want:  `{"request":{"model":"models/gemini-2.5-flash","contents":[ {"parts":[{"text":"a"}]} ],"x":1.0}}`,
		},
		{
			name:  "empty object",
			model: "m",
			body:  `{}`,
			want:  `{"request":{"model":"models/m"}}`,
		},
		{
			name:  "lifts generateContentRequest",
			model: "m",
			body:  `{"generateContentRequest":{"model":"models/m","contents":[{"parts":[{"text":"q"}]}]}}`,
			want:  `{"request":{"model":"models/m","contents":[{"parts":[{"text":"q"}]}]}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := WrapCountTokens(tt.model, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestWrapCountTokensGolden(t *testing.T) {
	got, err := WrapCountTokens("gemini-2.5-pro", readTestdata(t, "envelope/count_request.json"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "envelope/count_request.golden", got)
}

func TestUnwrapResponse(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    string
		wantErr error
	}{
		{"envelope", `{"response":{"candidates":[{"content":{"parts":[{"text":"x"}]}}],"modelVersion":"m"},"traceId":"t"}`, `{"candidates":[{"content":{"parts":[{"text":"x"}]}}],"modelVersion":"m"}`, nil},
		{"keeps inner bytes", `{"traceId":"t","response": {"a": 1.0 }}`, `{"a": 1.0 }`, nil},
		{"no response", `{"traceId":"t"}`, "", ErrNoResponse},
		{"null response", `{"response":null}`, "", ErrNoResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := UnwrapResponse([]byte(tt.body))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("unwrap (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := UnwrapResponse([]byte(`not json`)); err == nil {
		t.Error("UnwrapResponse(not json): want an error")
	}
}

func TestUnwrapCountTokens(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"top level", `{"totalTokens":31}`, `{"totalTokens":31}`},
		{"wrapped", `{"response":{"totalTokens":31}}`, `{"totalTokens":31}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := UnwrapCountTokens([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
