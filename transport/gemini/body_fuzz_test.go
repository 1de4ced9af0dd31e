package gemini

import (
	"testing"

	"github.com/pollux-gateway/pollux/providers/geminicli"
)

// FuzzGeminiCheckedBodyWraps: whatever body the Gemini handler accepts
// (checkBody), the upstream wrapper of that method accepts too, so no
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
		if checkBody(method, body) != nil {
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
