package transport

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestIngestOriginalShapes: resource:add accepts what the original Pollux
// accepted (issue 11): "[]" (202, nothing to do), "refreshToken" as well as
// "refresh_token", and batches where some entries are empty: those get an
// "invalid" verdict and the rest proceed.
func TestIngestOriginalShapes(t *testing.T) {
	h := newHarness(t, harnessOptions{})

	t.Run("empty list", func(t *testing.T) {
		for _, path := range []string{geminiAddPath, geminiAddPath + "?wait=true", codexAddPath} {
			resp := h.do(http.MethodPost, path, ` [ ] `, nil)
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("%s: status %d, want 202; body %s", path, resp.StatusCode, body)
			}
			var got ingestAccepted
			if err := json.Unmarshal([]byte(body), &got); err != nil || got.Accepted != 0 || got.Job != "" || got.Note == "" {
				t.Errorf("%s: body %s, want accepted 0, no job and a note", path, body)
			}
		}
	})

	t.Run("camel-case refreshToken and empty entries", func(t *testing.T) {
		addGeminiAccount(h, "o-camel")
		addGeminiAccount(h, "o-snake")
		body := `[{"refreshToken":"` + geminiRT("o-camel") + `"}, "", {"refresh_token":"  "}, null, {},` +
			` {"refresh_token":"` + geminiRT("o-snake") + `"}]`
		resp := h.do(http.MethodPost, geminiAddPath+"?wait=true", body, nil)
		got := readAll(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d, want 200; body %s", resp.StatusCode, got)
		}
		assertNoIngestToken(t, got, geminiRT("o-camel"), geminiRT("o-snake"))
		j := decodeIngestJob(t, got)
		var results []string
		for _, v := range j.Verdicts {
			results = append(results, v.Result)
		}
		want := []string{"added", "invalid", "invalid", "invalid", "invalid", "added"}
		if diff := cmp.Diff(want, results); diff != "" {
			t.Fatalf("verdicts (-want +got):\n%s\n%s", diff, got)
		}
		if j.Verdicts[1].Reason == "" {
			t.Error("an empty entry's verdict has no reason")
		}
	})

	t.Run("codex camel case", func(t *testing.T) {
		addCodexAccount(h, "o-codex")
		resp := h.do(http.MethodPost, codexAddPath+"?wait=true", `[{"refreshToken":"`+codexRT("o-codex")+`"}]`, nil)
		got := readAll(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d; body %s", resp.StatusCode, got)
		}
		if j := decodeIngestJob(t, got); len(j.Verdicts) != 1 || j.Verdicts[0].Result != "added" {
			t.Fatalf("verdicts: %s", got)
		}
	})
}
