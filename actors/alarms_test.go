package actors

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pollux-gateway/pollux/actors/actorstest"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/storage"
)

// alarmLog records what alarms delivered, in order.
type alarmLog struct {
	mu   sync.Mutex
	sent []string
}

func (l *alarmLog) send(pid *actor.PID, msg any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent = append(l.sent, fmt.Sprintf("%s:%v", pid.Id, msg))
}

func (l *alarmLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.sent
	l.sent = nil
	slices.Sort(out) // alarms due at one instant go together, in no order
	return out
}

// TestAlarms: each alarm is delivered once it is due and not before, under
// one clock timer however many are queued; an earlier alarm re-arms that
// timer; one armed for a time already past goes at the next tick; close
// drops every alarm and takes no more.
func TestAlarms(t *testing.T) {
	clock := actorstest.NewFakeClock(t0)
	log := &alarmLog{}
	a := newAlarms(clock, log.send)
	pid := func(id string) *actor.PID { return actor.NewPID("test", id) }
	steps := []struct {
		name    string
		arm     func()
		advance time.Duration
		want    []string
		pending int // clock timers armed after the step
		queued  int
	}{
		{name: "three queued, one timer", arm: func() {
			a.after(10*time.Second, pid("a"), 1)
			a.after(5*time.Second, pid("b"), 2)
			a.after(10*time.Second, pid("c"), 3)
		}, advance: 4 * time.Second, pending: 1, queued: 3},
		{name: "the first due", advance: time.Second, want: []string{"b:2"}, pending: 1, queued: 2},
		{name: "two due together", advance: 5 * time.Second, want: []string{"a:1", "c:3"}, queued: 0},
		{name: "an earlier alarm re-arms", arm: func() {
			a.after(time.Hour, pid("late"), 4)
			a.after(time.Minute, pid("early"), 5)
		}, advance: time.Minute, want: []string{"early:5"}, pending: 1, queued: 1},
		{name: "one already due goes at the next tick", arm: func() {
			a.after(-time.Second, pid("past"), 6)
		}, want: []string{"past:6"}, pending: 1, queued: 1},
		{name: "the late one", advance: time.Hour, want: []string{"late:4"}, queued: 0},
		{name: "close drops what is queued", arm: func() {
			a.after(time.Second, pid("dropped"), 7)
			a.close()
			a.after(time.Second, pid("after-close"), 8)
		}, advance: time.Hour, queued: 0},
	}
	for _, s := range steps {
		if s.arm != nil {
			s.arm()
		}
		clock.Advance(s.advance)
		if got := log.take(); !slices.Equal(got, s.want) {
			t.Fatalf("%s: delivered %v, want %v", s.name, got, s.want)
		}
		if got := clock.Pending(); got != s.pending {
			t.Errorf("%s: %d clock timers armed, want %d", s.name, got, s.pending)
		}
		if got := a.len(); got != s.queued {
			t.Errorf("%s: %d alarms queued, want %d", s.name, got, s.queued)
		}
	}
}

// TestIdleCredentialsArmNoTimers: idle credentials wait for their refresh
// and their next quota read on the pool's alarms, not on a clock timer each
// (issue 15: ~340 bytes per credential), and every one of those waits still
// ends when due: each credential reads its quota and, before its token
// expires, refreshes.
func TestIdleCredentialsArmNoTimers(t *testing.T) {
	const n = 50
	e := newEnv(t)
	e.cfg.QuotaPollSecs = 300
	e.auth.quota = func(context.Context, providers.Grant) ([]providers.QuotaBucket, error) {
		return []providers.QuotaBucket{{Model: testModel, Remaining: 0.5, ResetAt: t0.Add(24 * time.Hour)}}, nil
	}
	ids := e.seed(n, nil)
	e.start()
	alarms := e.pool.d.alarms
	for _, id := range ids {
		// Once Started is handled, the credential has armed its waits.
		e.tap.Next(t, credentialActorID(id), "its start", actorstest.Is[*actor.Started])
	}
	// Each credential: its refresh and its first quota read (due now).
	if got := alarms.len(); got != 2*n {
		t.Fatalf("at start: %d alarms queued, want %d", got, 2*n)
	}
	if got := e.clock.Pending(); got != 1 {
		t.Errorf("%d clock timers armed for %d idle credentials, want 1", got, n)
	}
	sched := SchedulerID(providers.GeminiCLI)
	e.clock.Advance(0)
	for _, id := range ids {
		e.tap.Next(t, credentialActorID(id), "its quota read", actorstest.Is[*quotaResult])
	}
	if got := e.auth.quotaReads.Load(); got != n {
		t.Fatalf("%d quota reads, want %d", got, n)
	}
	// Each re-armed its next read as it began this one; none reads early.
	if got := alarms.len(); got != 2*n {
		t.Fatalf("after the first reads: %d alarms queued, want %d", got, 2*n)
	}
	e.clock.Advance(299 * time.Second)
	if got := e.auth.quotaReads.Load(); got != n {
		t.Fatalf("%d quota reads before the poll interval passed, want %d", got, n)
	}
	if got := e.auth.refreshes.Load(); got != 0 {
		t.Fatalf("%d refreshes before any was due", got)
	}
	// Tokens expire at t0+1h and refresh refreshAhead before: all due then.
	e.clock.Set(t0.Add(time.Hour - refreshAhead))
	e.tap.Until(t, sched, "every credential refreshed when due", actorstest.Is[*CredentialChanged],
		func() bool { return e.auth.refreshes.Load() == n })
}

// TestStartPacesRefreshesOfExpiredTokens: a pool started with every token
// expired (a gateway down for a day) does not send every refresh at once:
// each waits for its turn at the provider's token endpoint (oauth_tps, with
// its burst), on the pool's alarms.
func TestStartPacesRefreshesOfExpiredTokens(t *testing.T) {
	const n, tps = 60, 10
	e := newEnv(t)
	e.cfg.OAuthTPS = tps
	ids := e.seed(n, func(i int, c *storage.Credential) { c.Expiry = t0.Add(-time.Hour) })
	e.start()
	for _, id := range ids {
		e.tap.Next(t, credentialActorID(id), "its start", actorstest.Is[*actor.Started])
	}
	// The burst went at once; every other refresh waits for its turn.
	if got := queued[*refreshGo](e.pool.d.alarms); got != n-tps {
		t.Fatalf("%d refreshes wait for their turn, want %d", got, n-tps)
	}
	sched := SchedulerID(providers.GeminiCLI)
	e.tap.Until(t, sched, "the burst refreshed", actorstest.Is[*CredentialChanged],
		func() bool { return e.auth.refreshes.Load() == tps })
	e.clock.Advance(time.Second)
	if got := queued[*refreshGo](e.pool.d.alarms); got != n-2*tps {
		t.Fatalf("%d refreshes still wait, want %d", got, n-2*tps)
	}
	e.tap.Until(t, sched, "a second's worth more refreshed", actorstest.Is[*CredentialChanged],
		func() bool { return e.auth.refreshes.Load() == 2*tps })
	e.clock.Advance(time.Duration(n/tps) * time.Second)
	e.tap.Until(t, sched, "every credential refreshed", actorstest.Is[*CredentialChanged],
		func() bool { return e.auth.refreshes.Load() == n })
}

// queued counts the alarms of message type T waiting in a.
func queued[T any](a *alarms) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, al := range a.queue {
		if _, ok := al.msg.(T); ok {
			n++
		}
	}
	return n
}
