package responses

import (
	"context"
	"errors"
	"math"
	"net/http"
	"sort"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/transport/relay"
)

// The Codex CLI's usage request (its /status), answered with the Codex
// pool's aggregate usage windows in the ChatGPT backend's own shape:
//
//	GET /codex/backend-api/wham/usage
//	GET /codex/api/codex/usage

// ErrNoPool is what Deps.Snapshot returns when no Codex pool is configured;
// the usage routes answer it 503.
var ErrNoPool = errors.New("no Codex pool is configured")

// UsageRoutes returns the Codex CLI's usage routes, in both of the CLI's
// path layouts, relative to /codex (not /codex/v1). They are client routes,
// like the rest of the surface.
func UsageRoutes(d Deps) []Route {
	u := &usage{snapshot: d.Snapshot}
	return []Route{
		{http.MethodGet, "/backend-api/wham/usage", u.serve},
		{http.MethodGet, "/api/codex/usage", u.serve},
	}
}

type usage struct {
	snapshot func(ctx context.Context) (*actors.Snapshot, error)
}

// serve answers the Codex CLI's usage request with the pool's windows.
func (u *usage) serve(c echo.Context) error {
	ctx := c.Request().Context()
	var (
		snap *actors.Snapshot
		err  = ErrNoPool
	)
	if u.snapshot != nil {
		snap, err = u.snapshot(ctx)
	}
	switch {
	case errors.Is(err, ErrNoPool):
		return &relay.Error{Kind: relay.KindUnavailable, Message: ErrNoPool.Error()}
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, actors.ErrStopped):
		return &relay.Error{Kind: relay.KindUnavailable, Message: "the gateway is shutting down", Err: err}
	case err != nil:
		return &relay.Error{Kind: relay.KindInternal, Err: err}
	}
	sort.Slice(snap.Credentials, func(i, j int) bool { return snap.Credentials[i].ID < snap.Credentials[j].ID })
	return c.JSON(http.StatusOK, aggregateUsage(snap, time.Now()))
}

// usagePayload is the ChatGPT backend's usage answer (GET
// /backend-api/wham/usage), the shape the Codex CLI decodes: integer
// percentages and seconds.
type usagePayload struct {
	PlanType  string          `json:"plan_type"`
	RateLimit *usageRateLimit `json:"rate_limit"`
}

type usageRateLimit struct {
	Allowed      bool         `json:"allowed"`
	LimitReached bool         `json:"limit_reached"`
	Primary      *usageWindow `json:"primary_window,omitempty"`
	Secondary    *usageWindow `json:"secondary_window,omitempty"`
}

type usageWindow struct {
	UsedPercent        int   `json:"used_percent"`
	LimitWindowSeconds int   `json:"limit_window_seconds"`
	ResetAfterSeconds  int   `json:"reset_after_seconds"`
	ResetAt            int64 `json:"reset_at"`
}

// aggregateUsage turns every serving account's usage windows into the
// pool's: a window's used percentage is the mean over the accounts (an
// account cooling account-wide counts as spent), its reset the earliest
// among the accounts that have used any of it (when headroom comes back
// first). The pool is allowed while any account is.
func aggregateUsage(snap *actors.Snapshot, now time.Time) usagePayload {
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
	out := usagePayload{PlanType: plan, RateLimit: &usageRateLimit{Allowed: allowed, LimitReached: !allowed}}
	for k, a := range wins {
		if a.n == 0 {
			continue
		}
		w := &usageWindow{UsedPercent: int(math.Round(a.used / float64(a.n))), LimitWindowSeconds: a.minutes * 60}
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
