package transport

import (
	"net/http"
	"strings"
	"testing"

	"github.com/pollux-gateway/pollux/providers/geminicli"
)

// FuzzGeminiCheckedBodyWraps: whatever body the Gemini handler accepts
// (geminiCheckBody), the upstream wrapper of that method accepts too, so no
// accepted request can fail on every credential for the client's fault.
func FuzzGeminiCheckedBodyWraps(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`,
		`{"generateContentRequest":5}`, `{"generateContentRequest":{"contents":[]}}`,
		`{"generateContentRequest":[1]}`, `{"generateContentRequest":null,"contents":[]}`,
		` {"a":1} `, `[]`, `"x"`, `{"a":`, "{\"a\":1}\v", `{"model":"models/x","generateContentRequest":{"model":"y"}}`,
	} {
		f.Add([]byte(seed), true)
		f.Add([]byte(seed), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, count bool) {
		method := geminicli.MethodGenerate
		if count {
			method = geminicli.MethodCountTokens
		}
		if geminiCheckBody(method, body) != nil {
			return
		}
		var err error
		if count {
			_, err = geminicli.WrapCountTokens("gemini-2.5-pro", body)
		} else {
			_, err = geminicli.WrapGenerate("gemini-2.5-pro", "proj", "id", body)
		}
		if err != nil {
			t.Fatalf("the handler accepted %q for %s but the wrapper refused it: %v", body, method, err)
		}
	})
}

// TestCountTokensUnwrappableBodyIs400: a countTokens body whose
// generateContentRequest is not an object is the client's 400, answered
// before any credential is leased or any upstream called.
func TestCountTokensUnwrappableBodyIs400(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addGemini("g-a", "g-b")
	before := len(h.gfake.Requests())
	for _, body := range []string{`{"generateContentRequest": 5}`, `{"generateContentRequest": "x"}`, `{"generateContentRequest": [{}]}`} {
		resp := h.do(http.MethodPost, "/geminicli/v1beta/models/gemini-2.5-pro:countTokens", body, nil)
		got := readAll(t, resp)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(got, "INVALID_ARGUMENT") || !strings.Contains(got, "generateContentRequest") {
			t.Errorf("%s: %d %s, want 400 INVALID_ARGUMENT naming generateContentRequest", body, resp.StatusCode, got)
		}
	}
	if n := len(h.gfake.Requests()) - before; n != 0 {
		t.Errorf("%d upstream calls for bodies refused at the door", n)
	}
}
