package responses

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/transport/relay"
)

func TestAggregateCodexUsage(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	win := func(name string, used float64, minutes int, in time.Duration) providers.QuotaWindow {
		return providers.QuotaWindow{Name: name, UsedPercent: used, WindowMinutes: minutes, ResetAt: now.Add(in)}
	}
	snap := &actors.Snapshot{Credentials: []actors.CredentialView{
		{ID: 1, Status: actors.StatusActive, Tier: "pro", Windows: []providers.QuotaWindow{
			win("primary", 40, 300, 2*time.Hour), win("secondary", 10, 10080, 100*time.Hour)}},
		{ID: 2, Status: actors.StatusCooling, Windows: []providers.QuotaWindow{
			win("primary", 100, 300, 30*time.Minute), win("secondary", 50, 10080, 50*time.Hour)},
			Cooldowns: []actors.Cooldown{{Model: actors.AllModels, Until: now.Add(30 * time.Minute)}}},
	}}
	got := aggregateUsage(snap, now)
	want := usagePayload{PlanType: "pro", RateLimit: &usageRateLimit{Allowed: true,
		Primary: &usageWindow{UsedPercent: 70, LimitWindowSeconds: 18000, ResetAfterSeconds: 1800, ResetAt: now.Unix() + 1800},
		// The cooling account holds nothing until its cooldown ends: it
		// counts as spent in both windows, (10+100)/2.
		Secondary: &usageWindow{UsedPercent: 55, LimitWindowSeconds: 604800, ResetAfterSeconds: 180000, ResetAt: now.Unix() + 180000},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
	all := aggregateUsage(&actors.Snapshot{Credentials: snap.Credentials[1:]}, now)
	if all.RateLimit.Allowed || !all.RateLimit.LimitReached {
		t.Errorf("only a spent account: %+v, want limit reached", all.RateLimit)
	}
}

// TestUsageRoutes: both of the Codex CLI's usage paths answer the pool's
// windows from Deps.Snapshot; a missing pool, a stopped one and a failed
// read answer with the kinds the server renders (503, 503, 500).
func TestUsageRoutes(t *testing.T) {
	reset := time.Now().Add(time.Hour)
	snap := func() *actors.Snapshot {
		return &actors.Snapshot{Credentials: []actors.CredentialView{{ID: 1, Status: actors.StatusActive, Tier: "plus",
			Windows: []providers.QuotaWindow{{Name: "primary", UsedPercent: 12.5, WindowMinutes: 300, ResetAt: reset}}}}}
	}
	tests := []struct {
		name     string
		snapshot func(context.Context) (*actors.Snapshot, error)
		wantOK   bool
		wantKind relay.ErrorKind
	}{
		{"the pool's windows", func(context.Context) (*actors.Snapshot, error) { return snap(), nil }, true, 0},
		{"no pool configured", nil, false, relay.KindUnavailable},
		{"no pool at this moment", func(context.Context) (*actors.Snapshot, error) { return nil, ErrNoPool }, false, relay.KindUnavailable},
		{"the pool stopped", func(context.Context) (*actors.Snapshot, error) {
			return nil, fmt.Errorf("snapshot: %w", actors.ErrStopped)
		}, false, relay.KindUnavailable},
		{"the read failed", func(context.Context) (*actors.Snapshot, error) { return nil, errors.New("boom") }, false, relay.KindInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			routes := UsageRoutes(Deps{Snapshot: tt.snapshot})
			if len(routes) != 2 || routes[0].Path != "/backend-api/wham/usage" || routes[1].Path != "/api/codex/usage" {
				t.Fatalf("routes = %+v", routes)
			}
			for _, rt := range routes {
				rec := httptest.NewRecorder()
				c := echo.New().NewContext(httptest.NewRequest(rt.Method, "/codex"+rt.Path, nil), rec)
				err := rt.Handler(c)
				if !tt.wantOK {
					var re *relay.Error
					if !errors.As(err, &re) || re.Kind != tt.wantKind {
						t.Fatalf("%s: error %v, want kind %v", rt.Path, err, tt.wantKind)
					}
					continue
				}
				var p usagePayload
				if err != nil || rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &p) != nil {
					t.Fatalf("%s: %v %d %s", rt.Path, err, rec.Code, rec.Body)
				}
				if p.PlanType != "plus" || !p.RateLimit.Allowed || p.RateLimit.Primary == nil || p.RateLimit.Primary.UsedPercent != 13 ||
					p.RateLimit.Primary.LimitWindowSeconds != 18000 || p.RateLimit.Primary.ResetAt != reset.Unix() {
					t.Errorf("%s: %s", rt.Path, rec.Body)
				}
			}
		})
	}
}
