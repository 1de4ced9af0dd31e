package transport

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/storage"
)

func TestAggregateCodexUsage(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	win := func(name string, used float64, minutes int, in time.Duration) providers.QuotaWindow {
		return providers.QuotaWindow{Name: name, UsedPercent: used, WindowMinutes: minutes, ResetAt: now.Add(in)}
	}
	snap := &actors.Snapshot{Credentials: []actors.CredentialView{
		{ID: 1, Status: storage.StatusActive, Tier: "pro", Windows: []providers.QuotaWindow{
			win("primary", 40, 300, 2*time.Hour), win("secondary", 10, 10080, 100*time.Hour)}},
		{ID: 2, Status: storage.StatusCooling, Windows: []providers.QuotaWindow{
			win("primary", 100, 300, 30*time.Minute), win("secondary", 50, 10080, 50*time.Hour)},
			Cooldowns: []storage.Cooldown{{Model: storage.AllModels, Until: now.Add(30 * time.Minute)}}},
	}}
	got := aggregateCodexUsage(snap, now)
	want := codexUsagePayload{PlanType: "pro", RateLimit: &codexRateLimit{Allowed: true,
		Primary: &codexUsageWindow{UsedPercent: 70, LimitWindowSeconds: 18000, ResetAfterSeconds: 1800, ResetAt: now.Unix() + 1800},
		// The cooling account holds nothing until its cooldown ends: it
		// counts as spent in both windows, (10+100)/2.
		Secondary: &codexUsageWindow{UsedPercent: 55, LimitWindowSeconds: 604800, ResetAfterSeconds: 180000, ResetAt: now.Unix() + 180000},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
	all := aggregateCodexUsage(&actors.Snapshot{Credentials: snap.Credentials[1:]}, now)
	if all.RateLimit.Allowed || !all.RateLimit.LimitReached {
		t.Errorf("only a spent account: %+v, want limit reached", all.RateLimit)
	}
}

// TestCodexCLIUsageEndpoints: the Codex CLI's usage request, in both of its
// path layouts, gets the pool's windows in the backend's shape (integer
// percentages the CLI's decoder accepts), with the client key; the admin
// view sums the pool per model.
func TestCodexCLIUsageEndpoints(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addCodex("u-a", "u-b")
	for range 2 {
		resp := h.do(http.MethodPost, codexPath, codexTestBody("true"), nil)
		readAll(t, resp)
	}
	// Quota routing keeps both requests on the account whose headroom the
	// first answer reported; the other has no report yet.
	eventually(t, "windows reported", func() bool {
		s, err := h.sys.Pool(providers.Codex).Snapshot(context.Background())
		return err == nil && len(s.Credentials) == 2 && len(s.Credentials[0].Windows)+len(s.Credentials[1].Windows) > 0
	})
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
