package operations

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/providers"
)

func TestSummarizeUsage(t *testing.T) {
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return now.Add(d) }
	snap := &actors.Snapshot{Credentials: []actors.CredentialView{
		{ID: 1, Status: actors.StatusActive, Quota: []providers.QuotaBucket{
			{Model: "m", Remaining: 0.25, ResetAt: at(time.Hour)}, {Model: "n", Remaining: 1, ResetAt: at(2 * time.Hour)}}},
		{ID: 2, Status: actors.StatusActive, Quota: []providers.QuotaBucket{
			{Model: "m", Remaining: 0.1, ResetAt: at(-time.Minute)}}}, // reset since: refilled
		{ID: 3, Status: actors.StatusCooling, Quota: []providers.QuotaBucket{{Model: "*", Remaining: 0.5, ResetAt: at(time.Hour)}},
			Cooldowns: []actors.Cooldown{{Model: actors.AllModels, Until: at(10 * time.Minute)}}},
		{ID: 4, Status: actors.StatusActive}, // no report
		{ID: 5, Status: actors.StatusBanned, Quota: []providers.QuotaBucket{{Model: "m", Remaining: 1}}}, // not serving
	}}
	got := summarizePoolUsage("geminicli", snap, []string{"m"}, now)
	want := ProviderUsage{Provider: "geminicli", Models: []ModelUsage{{
		Model: "m", Credentials: 4, Reported: 3, Remaining: 1.25, RemainingFraction: 1.25 / 3, NextReset: at(10 * time.Minute),
		PerCred: []CredentialUsage{
			{ID: 1, Remaining: 0.25, Known: true, ResetAt: at(time.Hour)},
			{ID: 2, Remaining: 1, Known: true},
			{ID: 3, Remaining: 0, Known: true, ResetAt: at(time.Hour), CoolingUntil: at(10 * time.Minute)},
			{ID: 4},
		},
	}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("usage (-want +got):\n%s", diff)
	}
}
