package gatewayfaults

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/pollux-gateway/pollux/providers"
	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
)

// TestCodexUsageWindowsReachTheCredential checks that the x-codex-* usage
// headers of every answer end up on the credential (pool snapshot), and that
// a spent window cools the account before any 429 is needed.
func TestCodexUsageWindowsReachTheCredential(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id := h.addCodex("acct-w")[0].CredentialID
	pool := h.sys.Pool(providers.Codex)

	resp := h.do(http.MethodPost, codexPath, codexTestBody("true"), nil)
	readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	untilPool(t, h.tap, providers.Codex, "windows on the credential", func() bool {
		s, err := pool.Snapshot(context.Background())
		if err != nil || len(s.Credentials) != 1 || s.Credentials[0].ID != id {
			return false
		}
		w := s.Credentials[0].Windows
		return len(w) == 2 && w[0].Name == "primary" && w[0].UsedPercent == 12.5 && w[1].UsedPercent == 3
	})

	// The backend now says the primary window is spent for an hour.
	spent := http.Header{}
	spent.Set("X-Codex-Primary-Used-Percent", "100")
	spent.Set("X-Codex-Primary-Reset-After-Seconds", "3600")
	h.cfake.Push(codexfake.Responses, codexfake.Reply{Header: spent, Stream: &codexfake.Stream{}})
	readAll(t, h.do(http.MethodPost, codexPath, codexTestBody("true"), nil))
	calls := len(h.cfake.RequestsTo(codexfake.Responses))

	untilPool(t, h.tap, providers.Codex, "account cooling", func() bool {
		s, err := pool.Snapshot(context.Background())
		return err == nil && s.Credentials[0].Status == "cooling"
	})
	resp = h.do(http.MethodPost, codexPath, codexTestBody("true"), nil)
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d (%s), want 429 while the only account's window is spent", resp.StatusCode, body)
	}
	ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if ra < 3500 || ra > 3601 {
		t.Fatalf("Retry-After = %q, want about an hour", resp.Header.Get("Retry-After"))
	}
	if got := len(h.cfake.RequestsTo(codexfake.Responses)); got != calls {
		t.Fatalf("upstream called %d more time(s) for a spent account", got-calls)
	}
}
