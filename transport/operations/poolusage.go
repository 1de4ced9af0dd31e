package operations

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pollux-gateway/pollux/actors"
)

// Pool usage, from the quotas the upstreams report (issue 9):
//
//	GET /admin/v1/pool/usage                 → per provider and model: the sum of
//	                                           remaining quota, per-credential
//	                                           remaining and resets, the next reset

// PoolUsage is the answer of GET /admin/v1/pool/usage.
type PoolUsage struct {
	Providers []ProviderUsage `json:"providers"`
}

// ProviderUsage is one pool's part of PoolUsage.
type ProviderUsage struct {
	Provider string       `json:"provider"`
	Models   []ModelUsage `json:"models"`
}

// ModelUsage sums one model's quota over the pool. Remaining is in units of
// one credential's whole quota: 37.5 means what 37.5 fresh credentials hold.
type ModelUsage struct {
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
	PerCred   []CredentialUsage `json:"per_credential"`
}

// CredentialUsage is one credential's quota for a model.
type CredentialUsage struct {
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
func summarizePoolUsage(name string, snap *actors.Snapshot, models []string, now time.Time) ProviderUsage {
	out := ProviderUsage{Provider: name, Models: make([]ModelUsage, len(models))}
	for i, m := range models {
		mu := ModelUsage{Model: m, PerCred: []CredentialUsage{}}
		for j := range snap.Credentials {
			v := &snap.Credentials[j]
			if v.Status != actors.StatusActive && v.Status != actors.StatusCooling {
				continue
			}
			mu.Credentials++
			cu := CredentialUsage{ID: v.ID}
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

func (a *API) poolUsage(c echo.Context) error {
	now := time.Now()
	out := PoolUsage{Providers: []ProviderUsage{}}
	err := a.eachPoolSnapshot(c.Request().Context(), func(p Pool, snap *actors.Snapshot) {
		out.Providers = append(out.Providers, summarizePoolUsage(p.Name, snap, p.Models, now))
	})
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, out)
}
