package transport

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/pollux-gateway/pollux/providers"
)

// TestCodexCLIUsageEndpoints: the Codex CLI's usage request, in both of its
// path layouts, gets the pool's windows in the backend's shape (integer
// percentages the CLI's decoder accepts), with the client key; the admin
// view sums the pool per model.
func TestCodexCLIUsageEndpoints(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addCodex("u-a", "u-b")
	reported := func() bool {
		s, err := h.sys.Pool(providers.Codex).Snapshot(context.Background())
		return err == nil && len(s.Credentials) == 2 && len(s.Credentials[0].Windows)+len(s.Credentials[1].Windows) > 0
	}
	for range 2 {
		resp := h.do(http.MethodPost, codexPath, codexTestBody("true"), nil)
		readAll(t, resp)
		// Quota routing keeps both requests on the account whose headroom
		// the first answer reported (once the scheduler has the report);
		// the other has no report yet.
		untilPool(t, h.tap, providers.Codex, "windows reported", reported)
	}
	for _, path := range []string{"/codex/backend-api/wham/usage", "/codex/api/codex/usage"} {
		resp := h.do(http.MethodGet, path, "", nil)
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		var p struct {
			PlanType  string `json:"plan_type"`
			RateLimit struct {
				Allowed bool `json:"allowed"`
				Primary struct {
					UsedPercent        int `json:"used_percent"`
					LimitWindowSeconds int `json:"limit_window_seconds"`
					ResetAfterSeconds  int `json:"reset_after_seconds"`
				} `json:"primary_window"`
			} `json:"rate_limit"`
		}
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatalf("%s: %v in %s (integer fields expected)", path, err, body)
		}
		// The fake reports 12.5 % used with an hour to go on every account.
		if !p.RateLimit.Allowed || p.RateLimit.Primary.UsedPercent != 13 || p.RateLimit.Primary.LimitWindowSeconds != 18000 ||
			p.RateLimit.Primary.ResetAfterSeconds < 3590 {
			t.Errorf("%s: %s", path, body)
		}
	}
	if resp := h.do(http.MethodGet, "/codex/backend-api/wham/usage", "", map[string]string{"Authorization": "Bearer wrong"}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong key: status %d, want 401", resp.StatusCode)
	}
	resp := h.do(http.MethodGet, "/admin/v1/pool/usage", "", nil)
	body := readAll(t, resp)
	var u poolUsage
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &u) != nil || len(u.Providers) != 2 {
		t.Fatalf("pool usage: %d %s", resp.StatusCode, body)
	}
	cx := u.Providers[1]
	if cx.Provider != providers.Codex || len(cx.Models) == 0 || cx.Models[0].Credentials != 2 || cx.Models[0].Reported != 1 ||
		cx.Models[0].Remaining < 0.8 || len(cx.Models[0].PerCred) != 2 {
		t.Errorf("codex usage: %+v", cx)
	}
}
