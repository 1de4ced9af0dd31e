package actors

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/storage"
)

// TestHoldUntil: a request past its queue deadline is held while some
// credential may serve it at any moment, each reset judged by its own
// uncertainty from now (not from the deadline), and never past
// maxHoldOverrun; otherwise it is refused (issue 9: a request held for one
// reset was refused when that hold ended while another account's reset had
// possibly passed).
func TestHoldUntil(t *testing.T) {
	deadline := t0.Add(10 * time.Second)
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	for _, tc := range []struct {
		name     string
		av       availability
		now      time.Time
		wantHold bool
		want     time.Time
	}{
		{"no candidates: refused", availability{}, deadline, false, time.Time{}},
		{"at the deadline, reset within the slack: held to its end and heldSlack",
			availability{candidates: true, earliest: deadline.Add(ms(800))}, deadline, true, deadline.Add(ms(800) + heldSlack)},
		{"at the deadline, reset beyond the slack: refused",
			availability{candidates: true, earliest: deadline.Add(resetSlack + ms(1))}, deadline, false, time.Time{}},
		{"a hold ended, the next reset is beyond deadline+slack but may have passed: held again",
			availability{candidates: true, earliest: deadline.Add(ms(1800))}, deadline.Add(ms(1300)), true, deadline.Add(ms(1800) + heldSlack)},
		{"a hold ended, the next reset cannot have passed yet: refused",
			availability{candidates: true, earliest: deadline.Add(ms(1300) + resetSlack + ms(1))}, deadline.Add(ms(1300)), false, time.Time{}},
		{"a credential about to report: held heldSlack",
			availability{candidates: true, soon: true}, deadline.Add(ms(100)), true, deadline.Add(ms(100) + heldSlack)},
		{"a hold is cut at the cap",
			availability{candidates: true, earliest: deadline.Add(maxHoldOverrun + ms(200))}, deadline.Add(maxHoldOverrun - ms(300)), true, deadline.Add(maxHoldOverrun)},
		{"at the cap, a cooldown ending within capSlack: held to its end and heldSlack, not past capSlack",
			availability{candidates: true, soon: true, earliest: deadline.Add(maxHoldOverrun + ms(200))}, deadline.Add(maxHoldOverrun), true, deadline.Add(maxHoldOverrun + capSlack)},
		{"at the cap, only something about to report: refused",
			availability{candidates: true, soon: true}, deadline.Add(maxHoldOverrun), false, time.Time{}},
		{"at the cap, the next cooldown ends beyond capSlack: refused although quota may be back",
			availability{candidates: true, earliest: deadline.Add(maxHoldOverrun + capSlack + ms(1))}, deadline.Add(maxHoldOverrun), false, time.Time{}},
		{"past the cap and capSlack: refused",
			availability{candidates: true, earliest: deadline.Add(maxHoldOverrun + capSlack + ms(10))}, deadline.Add(maxHoldOverrun + capSlack), false, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, hold := holdUntil(tc.av, deadline, tc.now)
			if hold != tc.wantHold || (hold && !got.Equal(tc.want)) {
				t.Fatalf("holdUntil = %v, %v; want %v, %v", got.Sub(t0), hold, tc.want.Sub(t0), tc.wantHold)
			}
		})
	}
}

// TestRefusable: a parked request is answered before its hold is over only
// when nothing can become ready for it, measured from its deadline while
// that is ahead and from now once it is held past it.
func TestRefusable(t *testing.T) {
	deadline := t0.Add(10 * time.Second)
	for _, tc := range []struct {
		name string
		av   availability
		now  time.Time
		want bool
	}{
		{"something about to report", availability{candidates: true, soon: true, earliest: deadline.Add(time.Hour)}, t0, false},
		{"before the deadline, reset within its slack", availability{candidates: true, earliest: deadline.Add(time.Second)}, t0, false},
		{"before the deadline, reset beyond its slack", availability{candidates: true, earliest: deadline.Add(2 * time.Second)}, t0, true},
		{"held past the deadline, reset possibly passed by now", availability{candidates: true, earliest: deadline.Add(2 * time.Second)}, deadline.Add(1500 * time.Millisecond), false},
		{"held past the deadline, reset not yet possible", availability{candidates: true, earliest: deadline.Add(3 * time.Second)}, deadline.Add(1500 * time.Millisecond), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := refusable(tc.av, deadline, tc.now); got != tc.want {
				t.Fatalf("refusable = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestHeldWhileAnotherResetMayHavePassed: two requests held at their
// deadline for one credential's imminent reset; the first takes it (the
// probe) and meets a new limit. The second is not refused then, although
// the other credential's cooldown ends more than resetSlack after its
// deadline: that reset is stated in whole seconds and may have passed
// already. It is held and served when that cooldown ends (issue 9: Codex
// client 429s while another account had in truth already reset).
func TestHeldWhileAnotherResetMayHavePassed(t *testing.T) {
	e := newEnv(t)
	ids := e.seed(2, func(i int, c *storage.Credential) {
		c.Cooldowns = []storage.Cooldown{{Model: testModel, Until: t0.Add(time.Duration(5300+i*900) * time.Millisecond)}}
	})
	e.start()
	first := e.asyncAcquire(AcquireOptions{Wait: 5 * time.Second})
	e.waitersParked(1)
	second := e.asyncAcquire(AcquireOptions{Wait: 5 * time.Second})
	e.waitersParked(2)
	e.clock.Advance(5 * time.Second) // both deadlines: held for the first reset
	e.waitersParked(2)
	e.clock.Set(t0.Add(5300 * time.Millisecond)) // the first credential wakes: its probe
	r := <-first
	if r.err != nil || r.lease.Grant.CredentialID != ids[0] {
		t.Fatalf("first: %+v, %v; want a lease on %d", r.lease, r.err, ids[0])
	}
	// The probe finds a new limit; the second credential's cooldown (6.2 s)
	// ends 1.2 s after the deadline, but may already have in truth.
	e.pool.Report(r.lease, providers.Outcome{Kind: providers.KindRateLimited, RetryAt: t0.Add(time.Hour)})
	e.untilPublished(ids[0], "the probe's new limit", func() bool {
		for _, c := range e.snapshot()[ids[0]].Cooldowns {
			if c.Until.After(t0.Add(time.Minute)) {
				return true
			}
		}
		return false
	})
	select {
	case r2 := <-second:
		t.Fatalf("second refused while the other reset may have passed: %+v, %v", r2.lease, r2.err)
	default:
	}
	e.clock.Set(t0.Add(5800 * time.Millisecond)) // the first hold's end: held again
	e.waitersParked(1)
	e.clock.Set(t0.Add(6200 * time.Millisecond)) // the second credential wakes
	r2 := <-second
	if r2.err != nil || r2.lease.Grant.CredentialID != ids[1] {
		t.Fatalf("second: %+v, %v; want a lease on %d", r2.lease, r2.err, ids[1])
	}
	e.pool.Report(r2.lease, providers.Outcome{Kind: providers.KindOK})
}

// TestUnchangedWindowReportKeepsTheCredential: an answer whose usage window
// did not move is still a report. It covers the successes the scheduler
// counted since the last one, so a window whose percentage stays put is never
// estimated spent while it has quota (issue 9: a Codex pool whose windows
// did not move answered 429 with Retry-After 3595 under steady load).
func TestUnchangedWindowReportKeepsTheCredential(t *testing.T) {
	e := newEnv(t)
	id := e.seed(1, nil)[0]
	e.start()
	reset := t0.Add(time.Hour)
	var seen uint64 // the newest outcome the scheduler has heard the credential fold in
	answer := func(n int, pct float64) {
		t.Helper()
		before := seen
		l := e.mustAcquire(AcquireOptions{})
		e.pool.Report(l, providers.Outcome{Kind: providers.KindOK,
			Windows: []providers.QuotaWindow{{Name: "primary", UsedPercent: pct, WindowMinutes: 300, ResetAt: reset}}})
		// The scheduler has the answer's report before the next request.
		e.tap.Until(t, schedulerID, fmt.Sprintf("answer %d's window report", n), func(msg any) bool {
			cc, ok := msg.(*CredentialChanged)
			if ok && cc.ID == id && cc.OutcomeSeq > seen {
				seen = cc.OutcomeSeq
			}
			return ok && cc.ID == id
		}, func() bool { return seen > before })
	}
	// Each request costs 5 %: the scheduler learns it from these reports.
	for n, pct := range []float64{10, 15, 20, 25} {
		answer(n, pct)
	}
	// 75 % left is 15 more at that cost, but the window does not move:
	// every answer says 75 % is left, so the credential stays in rotation.
	for n := 4; n < 44; n++ {
		answer(n, 25)
	}
}

// TestRefusalTakesACooldownInItsGrace: a request at the end of its hold is
// not refused while a credential's cooldown has only its grace left (the
// reset it stands for has passed: the quota is back); it takes that
// credential instead, as its probe. A cooldown whose reset is still ahead
// does not count (issue 9: Gemini client 429s at the hold's cap 5–14 ms
// before a cooldown's end, the quota reset 17–24 ms before).
func TestRefusalTakesACooldownInItsGrace(t *testing.T) {
	capAt := t0.Add(5*time.Second + maxHoldOverrun + capSlack) // the last look
	for _, tc := range []struct {
		name      string
		coolUntil time.Time
		wantLease bool
	}{
		{"stated reset passed, grace left", capAt.Add(resetGrace - 10*time.Millisecond), true},
		{"stated reset still ahead", capAt.Add(resetGrace + 10*time.Millisecond), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.cfg.MaxConcurrentPerCredential = 1
			ids := e.seed(2, func(i int, c *storage.Credential) {
				if i == 0 {
					c.Cooldowns = []storage.Cooldown{{Model: testModel, Until: tc.coolUntil, Reason: "quota_spent"}}
				}
			})
			e.start()
			// The other credential is busy (at its in-flight cap) throughout:
			// something may be ready any moment, so the request is held to
			// the cap.
			busy := e.mustAcquire(AcquireOptions{})
			if busy.Grant.CredentialID != ids[1] {
				t.Fatalf("first lease on %d, want %d", busy.Grant.CredentialID, ids[1])
			}
			req := e.asyncAcquire(AcquireOptions{Wait: 5 * time.Second, RequestID: "req-at-cap"})
			e.waitersParked(1)
			e.clock.Set(capAt)
			r := <-req
			// A refusal says, at debug level, which rule refused (the
			// diagnosis poolbench -explain prints).
			refusals := e.logs.FilterMessage("scheduler: refused").FilterField(zap.String("request_id", "req-at-cap"))
			wantRecords := 1
			if tc.wantLease {
				wantRecords = 0
			}
			if n := refusals.Len(); n != wantRecords {
				t.Errorf("%d refusal records, want one per refusal", n)
			} else if n == 1 && refusals.All()[0].ContextMap()["path"] != RefusedHoldCap {
				t.Errorf("refusal record %v, want path %q", refusals.All()[0].ContextMap(), RefusedHoldCap)
			}
			switch {
			case tc.wantLease && (r.err != nil || r.lease.Grant.CredentialID != ids[0]):
				t.Fatalf("at the cap: %+v, %v; want a lease on %d", r.lease, r.err, ids[0])
			case tc.wantLease && r.lease.Pick != PickCooldownEnding:
				t.Errorf("pick reason %q, want %q", r.lease.Pick, PickCooldownEnding)
			case !tc.wantLease && r.err == nil:
				t.Fatalf("at the cap: a lease on %d before the stated reset, want a refusal", r.lease.Grant.CredentialID)
			case !tc.wantLease:
				unavailable(t, r.err)
			}
			if r.lease != nil {
				e.pool.Report(r.lease, providers.Outcome{Kind: providers.KindOK})
			}
			e.pool.Report(busy, providers.Outcome{Kind: providers.KindOK})
		})
	}
}
