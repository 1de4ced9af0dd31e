package transport

import (
	"context"
	"errors"
	"math"
	"net/http"
	"sort"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/transport/operations"
)

// Pool usage, from the quotas the upstreams report (issue 9):
//
//	GET /admin/v1/pool/usage                 → (package operations)
//	GET /codex/backend-api/wham/usage        → the Codex pool's aggregate usage
//	GET /codex/api/codex/usage                 windows in the backend's own shape,
//	                                           for the Codex CLI's /status

// codexUsagePayload is the ChatGPT backend's usage answer (GET
// /backend-api/wham/usage), the shape the Codex CLI decodes: integer
// percentages and seconds.
type codexUsagePayload struct {
	PlanType  string          `json:"plan_type"`
	RateLimit *codexRateLimit `json:"rate_limit"`
}

type codexRateLimit struct {
	Allowed      bool              `json:"allowed"`
	LimitReached bool              `json:"limit_reached"`
	Primary      *codexUsageWindow `json:"primary_window,omitempty"`
	Secondary    *codexUsageWindow `json:"secondary_window,omitempty"`
}

type codexUsageWindow struct {
	UsedPercent        int   `json:"used_percent"`
	LimitWindowSeconds int   `json:"limit_window_seconds"`
	ResetAfterSeconds  int   `json:"reset_after_seconds"`
	ResetAt            int64 `json:"reset_at"`
}

// aggregateCodexUsage turns every serving account's usage windows into the
// pool's: a window's used percentage is the mean over the accounts (an
// account cooling account-wide counts as spent), its reset the earliest
// among the accounts that have used any of it (when headroom comes back
// first). The pool is allowed while any account is.
func aggregateCodexUsage(snap *actors.Snapshot, now time.Time) codexUsagePayload {
	type acc struct {
		n       int
		used    float64
		minutes int
		reset   time.Time
	}
	var wins [2]acc // primary, secondary
	allowed, plan := false, ""
	for i := range snap.Credentials {
		v := &snap.Credentials[i]
		if v.Status != actors.StatusActive && v.Status != actors.StatusCooling {
			continue
		}
		if plan == "" && v.Tier != "" {
			plan = v.Tier
		}
		cooling := false
		for _, cd := range v.Cooldowns {
			if cd.Model == actors.AllModels && cd.Until.After(now) {
				cooling = true
			}
		}
		spent := cooling
		for _, w := range v.Windows {
			k := 0
			if w.Name == "secondary" {
				k = 1
			}
			if w.WindowMinutes == 0 && w.ResetAt.IsZero() && w.UsedPercent == 0 {
				continue
			}
			used := w.UsedPercent
			if !w.ResetAt.IsZero() && !w.ResetAt.After(now) {
				used = 0 // the window reset since the report
			}
			if cooling {
				used = 100
			}
			if used >= 100 {
				spent = true
			}
			a := &wins[k]
			a.n++
			a.used += min(used, 100)
			if a.minutes == 0 {
				a.minutes = w.WindowMinutes
			}
			if used > 0 && w.ResetAt.After(now) && (a.reset.IsZero() || w.ResetAt.Before(a.reset)) {
				a.reset = w.ResetAt
			}
		}
		if !spent {
			allowed = true
		}
	}
	if plan == "" {
		plan = "pro"
	}
	out := codexUsagePayload{PlanType: plan, RateLimit: &codexRateLimit{Allowed: allowed, LimitReached: !allowed}}
	for k, a := range wins {
		if a.n == 0 {
			continue
		}
		w := &codexUsageWindow{UsedPercent: int(math.Round(a.used / float64(a.n))), LimitWindowSeconds: a.minutes * 60}
		if !a.reset.IsZero() {
			w.ResetAfterSeconds = int(a.reset.Sub(now).Round(time.Second) / time.Second)
			w.ResetAt = a.reset.Unix()
		}
		if k == 0 {
			out.RateLimit.Primary = w
		} else {
			out.RateLimit.Secondary = w
		}
	}
	return out
}

// poolError maps a failed pool call to the client's answer.
func poolError(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, actors.ErrStopped):
		return &Error{Kind: KindUnavailable, Message: "the gateway is shutting down", Err: err}
	}
	return &Error{Kind: KindInternal, Err: err}
}

// codexUsage answers the Codex CLI's usage request with the pool's windows.
func (s *Server) codexUsage(c echo.Context) error {
	var ap operations.AdminPool
	for _, p := range s.poolList() {
		if p.Name == providers.Codex {
			ap = p.Admin
		}
	}
	if ap == nil {
		return &Error{Kind: KindUnavailable, Message: "no Codex pool is configured"}
	}
	ctx := c.Request().Context()
	snap, err := ap.Snapshot(ctx)
	if err != nil {
		return poolError(ctx, err)
	}
	sort.Slice(snap.Credentials, func(i, j int) bool { return snap.Credentials[i].ID < snap.Credentials[j].ID })
	return c.JSON(http.StatusOK, aggregateCodexUsage(snap, time.Now()))
}

// codexUsageRoutes answer the Codex CLI's usage request, in both of the
// CLI's path layouts, with the pool's aggregate windows; they are client
// routes, like everything under /codex.
func (s *Server) codexUsageRoutes() []route {
	return []route{
		{http.MethodGet, openAIRoot + "/backend-api/wham/usage", s.codexUsage},
		{http.MethodGet, openAIRoot + "/api/codex/usage", s.codexUsage},
	}
}
