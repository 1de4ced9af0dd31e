package actors

import (
	"context"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pollux-gateway/pollux/actors/actorstest"
	"github.com/pollux-gateway/pollux/providers"
)

func TestLimitMayRead(t *testing.T) {
	last := t0.UnixNano()
	for _, tc := range []struct {
		name string
		last int64
		now  time.Time
		want bool
	}{
		{"never asked", 0, t0, true},
		{"just asked", last, t0, false},
		{"within the gap", last, t0.Add(quotaReadGap - time.Nanosecond), false},
		{"at the gap", last, t0.Add(quotaReadGap), true},
		{"long after", last, t0.Add(time.Hour), true},
	} {
		if got := limitMayRead(tc.last, tc.now); got != tc.want {
			t.Errorf("%s: limitMayRead = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestLimitAnswersReadQuotaAtMostOncePerGap: a 429 asks for a quota read,
// and one after quotaReadGap asks again (TestLimitMayRead has the gap's
// arithmetic; the actor keeps when it last asked as Unix nanoseconds of its
// clock).
func TestLimitAnswersReadQuotaAtMostOncePerGap(t *testing.T) {
	e := newEnv(t)
	e.cfg.QuotaPollSecs = 3600
	e.auth.quota = func(ctx context.Context, g providers.Grant) ([]providers.QuotaBucket, error) {
		return []providers.QuotaBucket{{Model: testModel, Remaining: 0.9, ResetAt: t0.Add(time.Hour)}}, nil
	}
	id := e.seed(1, nil)[0]
	e.start()
	who := credentialActorID(id)
	e.tap.Next(t, who, "its start", actorstest.Is[*actor.Started])
	e.clock.Advance(0)
	e.tap.Next(t, who, "the first periodic read", actorstest.Is[*quotaResult])
	outcomeOrRead := func(msg any) bool {
		switch msg.(type) {
		case *Outcome, *quotaResult:
			return true
		}
		return false
	}
	limited := func(what string) {
		t.Helper()
		l := e.mustAcquire(AcquireOptions{})
		e.pool.Report(l, providers.Outcome{Kind: providers.KindRateLimited, Status: 429, RetryAt: e.clock.Now().Add(time.Second)})
		if msg := e.tap.Next(t, who, what, outcomeOrRead); !actorstest.Is[*Outcome](msg) {
			t.Fatalf("%s: handled %T, want the outcome", what, msg)
		}
	}
	limited("the first 429")
	if msg := e.tap.Next(t, who, "the read it asks for", outcomeOrRead); !actorstest.Is[*quotaResult](msg) {
		t.Fatalf("after the first 429: handled %T, want a quota read's result", msg)
	}
	e.clock.Advance(2 * time.Second) // past the 429's retry time, within the gap
	limited("a 429 within the gap")
	e.clock.Advance(quotaReadGap - 2*time.Second + time.Second/2) // past the gap and the second retry time
	limited("a 429 after the gap")
	if msg := e.tap.Next(t, who, "the read it asks for", outcomeOrRead); !actorstest.Is[*quotaResult](msg) {
		t.Fatalf("after the gap: handled %T, want a quota read's result", msg)
	}
	if got := e.auth.quotaReads.Load(); got != 3 {
		t.Fatalf("%d quota reads, want 3: the periodic one and one per 429 a gap apart", got)
	}
}
