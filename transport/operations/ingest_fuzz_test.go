package operations

import (
	"strings"
	"testing"

	"github.com/pollux-gateway/pollux/providers"
)

// FuzzParseIngest: any resource:add body parses to seeds or a 400, never a
// panic, and a seed never carries a token the body does not hold.
func FuzzParseIngest(f *testing.F) {
	for _, seed := range []string{
		`["1//tok-a","1//tok-b"]`, `"1//single"`, `{"refresh_token":"rt","project_id":"p"}`,
		`[{"refreshToken":"rt2","account_id":"acct"}]`, `{"tokens":{"refresh_token":"rt3","account_id":"a"}}`,
		`[null,"",{}]`, `[]`, `{"refresh_token":5}`, `[[1]]`, `{"type":"authorized_user","refresh_token":"rt4"}`,
	} {
		f.Add([]byte(seed), true)
		f.Add([]byte(seed), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, gemini bool) {
		provider := providers.Codex
		if gemini {
			provider = providers.GeminiCLI
		}
		seeds, err := parseIngest(provider, body)
		if err != nil {
			return
		}
		for _, s := range seeds {
			tok := s.RefreshToken.Reveal()
			if tok == "" {
				continue
			}
			if len(tok) > len(body) {
				t.Fatalf("a seed token of %d bytes from a %d-byte body", len(tok), len(body))
			}
			if !strings.ContainsRune(string(body), '\\') && !strings.Contains(string(body), tok) {
				t.Fatalf("seed token %q is not in the body %q", tok, body)
			}
		}
	})
}
