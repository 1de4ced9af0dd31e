package geminicli

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzEnvelope: the wrappers either refuse a body or produce valid JSON
// that carries the body unchanged (generate) or as the request's members
// (countTokens); the unwrappers never panic and return valid JSON when
// they succeed.
func FuzzEnvelope(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"contents":[{"parts":[{"text":"hi"}]}]}`, `{"generateContentRequest":{"contents":[]}}`,
		`{"generateContentRequest":5}`, `{"response":{"candidates":[]}}`, `{"response":null}`, `{"totalTokens":3}`,
		`[]`, `"x"`, `{"a":`, `{"model":"x","model":"y"}`, "{\"\\u0000\":1}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if out, err := WrapGenerate("gemini-2.5-pro", "proj", "pid", body); err == nil {
			var env struct {
				Request json.RawMessage `json:"request"`
			}
			if !json.Valid(out) || json.Unmarshal(out, &env) != nil {
				t.Fatalf("WrapGenerate(%q) = invalid JSON %q", body, out)
			}
			if !bytes.Equal(env.Request, bytes.TrimSpace(body)) {
				t.Fatalf("WrapGenerate changed the body: %q → %q", body, env.Request)
			}
		}
		if out, err := WrapCountTokens("gemini-2.5-pro", body); err == nil {
			var env struct {
				Request map[string]json.RawMessage `json:"request"`
			}
			if !json.Valid(out) || json.Unmarshal(out, &env) != nil {
				t.Fatalf("WrapCountTokens(%q) = invalid JSON %q", body, out)
			}
			if string(env.Request["model"]) != `"models/gemini-2.5-pro"` {
				t.Fatalf("WrapCountTokens(%q): model %s", body, env.Request["model"])
			}
		}
		if out, err := UnwrapResponse(body); err == nil && !json.Valid(out) {
			t.Fatalf("UnwrapResponse(%q) = invalid JSON %q", body, out)
		}
		if out, err := UnwrapCountTokens(body); err == nil && !json.Valid(out) {
			t.Fatalf("UnwrapCountTokens(%q) = invalid JSON %q", body, out)
		}
	})
}
