package relay

import (
	"context"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/providers"
)

// Pool is what the relay needs of one provider's credential pool: a lease
// per attempt, the attempt's outcome back, and the request's retry budget.
// *actors.Pool implements it; tests use a fake.
type Pool interface {
	// Acquire leases a credential for model, or says why none is free
	// (*actors.UnavailableError, actors.ErrStopped, the context's error).
	Acquire(ctx context.Context, model string, o actors.AcquireOptions) (*actors.Lease, error)
	// Report closes a lease with the attempt's outcome; every lease is
	// reported exactly once.
	Report(l *actors.Lease, o providers.Outcome)
	// RetryMax is how many failures that are not a credential's own one
	// request may retry (retry_max_times).
	RetryMax() int
}

// UsageRecorder is the optional Pool capability of keeping usage rows;
// *actors.Pool implements it.
type UsageRecorder interface {
	RecordUsage(credentialID int64, model string, input, output int64)
}

// CooldownSyncer is the optional Pool capability of making cooldowns
// durable before a limit is answered; *actors.Pool implements it.
type CooldownSyncer interface {
	SyncCooldowns(ctx context.Context, ids []int64) error
}

var (
	_ Pool           = (*actors.Pool)(nil)
	_ UsageRecorder  = (*actors.Pool)(nil)
	_ CooldownSyncer = (*actors.Pool)(nil)
)
