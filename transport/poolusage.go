package transport

import (
	"math"
	"net/http"
	"sort"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/providers"
)

// Pool usage, from the quotas the upstreams report (issue 9):
//
//	GET /admin/v1/pool/usage                 → per provider and model: the sum of
//	                                           remaining quota, per-credential
//	                                           remaining and resets, the next reset
//	GET /codex/backend-api/wham/usage        → the Codex pool's aggregate usage
//	GET /codex/api/codex/usage                 windows in the backend's own shape,
//	                                           for the Codex CLI's /status

// poolUsage is the answer of GET /admin/v1/pool/usage.
type poolUsage struct {
	Providers []providerUsage `json:"providers"`
}

type providerUsage struct {
	Provider string       `json:"provider"`
	Models   []modelUsage `json:"models"`
}

// modelUsage sums one model's quota over the pool. Remaining is in units of
// one credential's whole quota: 37.5 means what 37.5 fresh credentials hold.
type modelUsage struct {
	Model string `json:"model"`
	// Credentials serve the model; Reported of them have a quota report.
	Credentials int `json:"credentials"`
	Reported    int `json:"reported"`
	// Remaining is the quota left over the reporting credentials, and
	// RemainingFraction the same over their whole quota: the share of the
	// pool's capacity that can be spent before NextReset.
	Remaining         float64 `json:"remaining"`
	RemainingFraction float64 `json:"remaining_fraction"`
	// NextReset is the earliest time a spent or partly spent quota refills.
	NextReset time.Time         `json:"next_reset,omitzero"`
	PerCred   []credentialUsage `json:"per_credential"`
}

type credentialUsage struct {
	ID        int64   `json:"id"`
	Remaining float64 `json:"remaining"`
	// Known is false when the upstream reported nothing for this model.
	Known   bool      `json:"known"`
	ResetAt time.Time `json:"reset_at,omitzero"`
	// CoolingUntil is set while the credential is kept off the model.
	CoolingUntil time.Time `json:"cooling_until,omitzero"`
}

// summarizePoolUsage sums a snapshot's quota reports for each model. A quota
// whose reset has passed counts as refilled; a credential cooling on the
// model has nothing left until its cooldown ends.
func summarizePoolUsage(name string, snap *actors.Snapshot, models []string, now time.Time) providerUsage {
	out := providerUsage{Provider: name, Models: make([]modelUsage, len(models))}
	for i, m := range models {
		mu := modelUsage{Model: m, PerCred: []credentialUsage{}}
		for j := range snap.Credentials {
			v := &snap.Credentials[j]
			if v.Status != actors.StatusActive && v.Status != actors.StatusCooling {
				continue
			}
			mu.Credentials++
			cu := credentialUsage{ID: v.ID}
			for _, b := range v.Quota {
				if b.Model != m && b.Model != actors.AllModels {
					continue
				}
				left, reset := b.Remaining, b.ResetAt
				if !reset.IsZero() && !reset.After(now) {
					left, reset = 1, time.Time{}
				}
				if !cu.Known || left < cu.Remaining {
					cu.Remaining, cu.ResetAt, cu.Known = left, reset, true
				}
			}
			for _, cd := range v.Cooldowns {
				if (cd.Model == m || cd.Model == actors.AllModels) && cd.Until.After(now) && cd.Until.After(cu.CoolingUntil) {
					cu.CoolingUntil = cd.Until
				}
			}
			if !cu.CoolingUntil.IsZero() {
				cu.Remaining = 0
			}
			if cu.Known {
				mu.Reported++
				mu.Remaining += cu.Remaining
				if !cu.ResetAt.IsZero() && cu.Remaining < 1 && (mu.NextReset.IsZero() || cu.ResetAt.Before(mu.NextReset)) {
					mu.NextReset = cu.ResetAt
				}
			}
			if !cu.CoolingUntil.IsZero() && (mu.NextReset.IsZero() || cu.CoolingUntil.Before(mu.NextReset)) {
				mu.NextReset = cu.CoolingUntil
			}
			mu.PerCred = append(mu.PerCred, cu)
		}
		if mu.Reported > 0 {
			mu.RemainingFraction = mu.Remaining / float64(mu.Reported)
		}
		out.Models[i] = mu
	}
	return out
}

func (a *adminAPI) poolUsage(c echo.Context) error {
	now := time.Now()
	out := poolUsage{Providers: []providerUsage{}}
	err := a.s.eachPoolSnapshot(c.Request().Context(), func(p poolRef, snap *actors.Snapshot) {
		out.Providers = append(out.Providers, summarizePoolUsage(p.name, snap, p.models, now))
	})
	if err != nil {
		return err
	}
	return ingestWriteJSON(c, http.StatusOK, out)
}

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

// codexUsage answers the Codex CLI's usage request with the pool's windows.
func (s *Server) codexUsage(c echo.Context) error {
	var ap adminPool
	for _, p := range s.poolList() {
		if p.name == providers.Codex {
			ap = p.admin
		}
	}
	if ap == nil {
		return &Error{Kind: KindUnavailable, Message: "no Codex pool is configured"}
	}
	ctx := c.Request().Context()
	snap, err := ap.Snapshot(ctx)
	if err != nil {
		return ingestPoolError(ctx, err)
	}
	sort.Slice(snap.Credentials, func(i, j int) bool { return snap.Credentials[i].ID < snap.Credentials[j].ID })
	return c.JSON(http.StatusOK, aggregateCodexUsage(snap, time.Now()))
}

// poolUsageRoutes returns the admin view of the pool's usage (full paths);
// it is an operator route.
func (s *Server) poolUsageRoutes() []route {
	a := &adminAPI{s: s}
	return []route{
		{http.MethodGet, adminRoot + "/pool/usage", a.poolUsage},
	}
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
