package actors

import (
	"container/list"
	"sort"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
)

// Scheduler-internal messages (its own timers).
type (
	// waiterExpired fires when a parked Acquire's deadline passes.
	waiterExpired struct{ id uint64 }
	// wakeDue fires when the earliest cooldown ends; gen drops stale timers.
	wakeDue struct{ gen uint64 }
)

type waiter struct {
	id     uint64
	acq    *Acquire
	sender *actor.PID
	parked time.Time
	stop   func() bool
	el     *list.Element
}

// resetSlack is how much earlier than a cooldown's end the upstream's quota
// may in truth reset: resets stated in whole seconds (Codex's
// resets_in_seconds and reset-after-seconds) are rounded up, by up to a
// second, and the cooldown adds resetGrace. A request whose queue deadline
// falls within it, before the cooldown ends, is not refused while the
// quota may already be back: it is held to the cooldown's end and served
// there (issue 9: client 429s while an account had quota, right after its
// reset); holdUntil holds it longer while another reset may have passed.
const resetSlack = time.Second + resetGrace

// resetBeyond reports whether a reset (a cooldown's end) is too late for a
// request with deadline: even the earliest the quota may truly come back is
// after it.
func resetBeyond(earliest, deadline time.Time) bool {
	return earliest.After(deadline.Add(resetSlack))
}

type leaseRecord struct {
	// entry is the credential's read model when the lease was granted: the
	// outcome finds it without a lookup in the pool's map, a cold probe per
	// outcome in a pool of 10,000. One that was removed since is looked up
	// by credID (it may have come back as a new entry).
	entry  *schedEntry
	credID int64
	model  string
	// token is the access token the lease carried: a 401 for a token the
	// credential has already replaced says nothing about the new one.
	token config.Secret
	// probe: the lease was the first request after a cooldown.
	probe bool
}

// schedulerActor answers Acquire from its read model of the pool's
// credentials, parks requests that must wait, and forwards each lease's
// Outcome to its credential.
type schedulerActor struct {
	d      *poolDeps
	log    *zap.Logger
	policy *schedPolicy

	waiters   *list.List // of *waiter, FIFO
	waiterIdx map[uint64]*waiter
	// waitingFor counts the parked requests per model: a new request for a
	// model others already wait for queues behind them.
	waitingFor map[string]int
	waiterSeq  uint64

	leases    map[uint64]leaseRecord
	leaseSeq  uint64
	outcomeSq uint64

	wakeStop func() bool
	wakeAt   time.Time
	wakeGen  uint64

	loadWaiters []loadWaiter
}

type loadWaiter struct {
	n      int
	sender *actor.PID
}

func newScheduler(d *poolDeps) actor.Actor {
	return &schedulerActor{
		d:          d,
		log:        d.log.Named("scheduler"),
		policy:     newSchedPolicyRouting(d.maxInflight, d.routing),
		waiters:    list.New(),
		waiterIdx:  make(map[uint64]*waiter),
		waitingFor: make(map[string]int),
		leases:     make(map[uint64]leaseRecord),
	}
}

// schedulerProps are the scheduler's props: its mailbox runs on the
// system's long-lived workers (dispatch.go), like the credentials'.
//
// protoactor's synchronized dispatcher (the mailbox runs on the goroutine
// that posts to it, so a handler's Acquire would be answered on its own
// goroutine and wake no other) was measured and not kept: the round trip
// was a little cheaper (C=1 3.0–3.6 µs against 3.2–4.7, 16 callers per core
// 4.4–6.1 against 6.1–7.7) and a real process's added p50 at C=1 within the
// noise (+0.37 ms against +0.44, base +0.40), but every post would run the
// scheduler, timers' included: under the fake clock each timer's message
// is handled inside FakeClock.Set at that timer's time instead of after it,
// which changes what the scheduler tests see (TestRefusalTakesACooldown-
// InItsGrace), and a poster that finds the mailbox idle handles what others
// post meanwhile (fairness under load).
func schedulerProps(d *poolDeps) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return newScheduler(d) }, actor.WithDispatcher(d.workers))
}

func (s *schedulerActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *Acquire:
		s.onAcquire(ctx, msg)
	case *Outcome:
		s.onOutcome(ctx, msg)
	case *CredentialChanged:
		s.onChanged(ctx, msg)
	case *waiterExpired:
		s.onWaiterExpired(ctx, msg)
	case *wakeDue:
		s.onWake(ctx, msg)
	case *SnapshotRequest:
		ctx.Respond(s.snapshot())
	case *ReadinessRequest:
		ctx.Respond(s.readiness(msg.Model))
	case *SyncCooldowns:
		s.onSyncCooldowns(ctx, msg)
	case *awaitLoaded:
		s.onAwaitLoaded(ctx, msg)
	case *actor.Started:
		ctx.Send(ctx.Parent(), &schedulerStarted{})
	case *actor.Stopping, *actor.Restarting:
		s.shutdown(ctx)
	case *actor.Stopped:
	default:
		s.log.Warn("scheduler: unknown message", zap.String("type", typeName(msg)))
	}
}

func (s *schedulerActor) onAcquire(ctx actor.Context, a *Acquire) {
	now := s.d.clock.Now()
	var refresh []*schedEntry
	defer func() { s.askRefresh(ctx, refresh) }()
	if s.waitingFor[a.Model] > 0 && !a.Deadline.IsZero() && a.Deadline.After(now) {
		// Others wait for this model: first come, first served. A request
		// that jumped the queue would leave an older one to run out of
		// time (issue 9: under overload the newest were served and the
		// oldest refused).
		w := s.park(ctx, a, now)
		s.serveWaiters(ctx, now)
		if _, parked := s.waiterIdx[w.id]; parked {
			s.answerIfHopeless(ctx, w, now)
		}
		return
	}
	if e := s.policy.pick(a, now, &refresh); e != nil {
		s.d.observer.queueWait(s.d.provider, 0)
		ctx.Respond(s.lease(e, a.Model))
		return
	}
	av := s.policy.unavailable(a, now, &refresh)
	switch {
	case !av.candidates:
		s.d.observer.queueWait(s.d.provider, 0)
		s.logRefusal(a, RefusedNoCreds, now, av, now)
		ctx.Respond(&Unavailable{Reason: NoCredentials})
		return
	case !av.soon && (a.Deadline.IsZero() || resetBeyond(av.earliest, a.Deadline)):
		// Waiting cannot help: answer now with the earliest reset.
		s.d.observer.queueWait(s.d.provider, 0)
		s.logRefusal(a, RefusedAtOnce, now, av, now)
		ctx.Respond(&Unavailable{Reason: AllCooling, RetryAt: clientRetryAt(av.earliest, now)})
		return
	}
	s.park(ctx, a, now)
}

func (s *schedulerActor) park(ctx actor.Context, a *Acquire, now time.Time) *waiter {
	s.waiterSeq++
	w := &waiter{id: s.waiterSeq, acq: a, sender: ctx.Sender(), parked: now}
	w.el = s.waiters.PushBack(w)
	s.waiterIdx[w.id] = w
	s.waitingFor[a.Model]++
	self, root, id := ctx.Self(), ctx.ActorSystem().Root, w.id
	w.stop = s.d.clock.AfterFunc(a.Deadline.Sub(now), func() { root.Send(self, &waiterExpired{id: id}) })
	return w
}

func (s *schedulerActor) lease(e *schedEntry, model string) *Lease {
	s.leaseSeq++
	s.leases[s.leaseSeq] = leaseRecord{entry: e, credID: e.id, model: model, token: e.token, probe: e.grantedProbe}
	return &Lease{
		ID:    s.leaseSeq,
		Model: model,
		Pick:  e.pickReason,
		Grant: providers.Grant{CredentialID: e.id, AccessToken: e.token, Account: e.account, Extra: e.extra,
			Email: e.facts.email, LeaseID: s.leaseSeq},
	}
}

func (s *schedulerActor) onOutcome(ctx actor.Context, o *Outcome) {
	rec, ok := s.leases[o.LeaseID]
	if !ok {
		// A lease is closed exactly once; a second Outcome is a caller bug.
		s.log.Warn("scheduler: outcome for unknown lease", zap.Uint64("lease_id", o.LeaseID))
		return
	}
	delete(s.leases, o.LeaseID)
	now := s.d.clock.Now()
	e := rec.entry
	if e.removed {
		e = s.policy.entries[rec.credID]
	}
	if e == nil {
		return
	}
	s.outcomeSq++
	result := o.Result
	if result.Kind == providers.KindAuthExpired && rec.token != e.token {
		// The credential replaced (or is replacing) that token since this
		// lease was granted: the rejection is stale, not a new failure.
		result = providers.Outcome{Kind: providers.KindAbandoned, Status: result.Status}
	}
	s.policy.release(e, rec.model, result, s.outcomeSq, rec.probe, now)
	if result.Kind != providers.KindAbandoned && e.pid != nil {
		fwd := *o
		fwd.CredentialID, fwd.Model, fwd.Seq = rec.credID, rec.model, s.outcomeSq
		ctx.Send(e.pid, &fwd)
	}
	if result.Kind == providers.KindOK && e.pid != nil && s.policy.quotaRecheck(e, rec.model, now) {
		ctx.Send(e.pid, &QuotaRecheck{})
	}
	s.serveWaiters(ctx, now)
}

// onSyncCooldowns forwards the request to the credential, behind the
// Outcomes already forwarded to it; a credential that is gone has nothing
// to save.
func (s *schedulerActor) onSyncCooldowns(ctx actor.Context, m *SyncCooldowns) {
	if e := s.policy.entries[m.CredentialID]; e != nil && e.pid != nil {
		ctx.Forward(e.pid)
		return
	}
	ctx.Respond(&Persisted{ID: m.CredentialID})
}

func (s *schedulerActor) onChanged(ctx actor.Context, c *CredentialChanged) {
	now := s.d.clock.Now()
	prev, known := s.policy.entries[c.ID]
	wasAlive := known && prev.alive()
	e, cleared := s.policy.upsert(c, now)
	s.serveWaiters(ctx, now)
	if cleared || (wasAlive && (e == nil || !e.alive())) {
		// A credential left service (re-auth needed, banned, deleted, ...),
		// or reported the outcome it was held back for (a new cooldown,
		// say): a parked request nothing will now serve before its
		// deadline is answered at once with the earliest reset, not at
		// its deadline.
		s.answerHopeless(ctx, now)
	}
	s.armWake(ctx, now)
	s.checkLoaded(ctx)
}

func (s *schedulerActor) onWake(ctx actor.Context, m *wakeDue) {
	if m.gen != s.wakeGen {
		return
	}
	s.wakeStop = nil
	now := s.d.clock.Now()
	for _, id := range s.policy.dueWakes(now) {
		if e := s.policy.entries[id]; e != nil {
			s.policy.reindex(e, now)
		}
	}
	s.serveWaiters(ctx, now)
	s.armWake(ctx, now)
}

// armWake keeps one timer armed for the earliest cooldown end.
func (s *schedulerActor) armWake(ctx actor.Context, now time.Time) {
	next, ok := s.policy.nextWake()
	if s.wakeStop != nil && ok && next.Equal(s.wakeAt) {
		return
	}
	if s.wakeStop != nil {
		s.wakeStop()
		s.wakeStop = nil
	}
	if !ok {
		return
	}
	s.wakeGen++
	s.wakeAt = next
	self, root, gen := ctx.Self(), ctx.ActorSystem().Root, s.wakeGen
	s.wakeStop = s.d.clock.AfterFunc(next.Sub(now), func() { root.Send(self, &wakeDue{gen: gen}) })
}

// serveWaiters grants parked requests in FIFO order while credentials are
// ready for them.
func (s *schedulerActor) serveWaiters(ctx actor.Context, now time.Time) {
	if s.waiters.Len() == 0 {
		return
	}
	var refresh []*schedEntry
	for el := s.waiters.Front(); el != nil; {
		next := el.Next()
		w := el.Value.(*waiter)
		if e := s.policy.pick(w.acq, now, &refresh); e != nil {
			s.dropWaiter(w)
			s.d.observer.queueWait(s.d.provider, now.Sub(w.parked))
			ctx.Send(w.sender, s.lease(e, w.acq.Model))
		}
		el = next
	}
	s.askRefresh(ctx, refresh)
}

// answerHopeless answers every parked request that no credential can serve
// any more, or that nothing will serve before its deadline.
func (s *schedulerActor) answerHopeless(ctx actor.Context, now time.Time) {
	var refresh []*schedEntry
	for el := s.waiters.Front(); el != nil; {
		next := el.Next()
		w := el.Value.(*waiter)
		av := s.policy.unavailable(w.acq, now, &refresh)
		switch {
		case !av.candidates:
			s.dropWaiter(w)
			s.d.observer.queueWait(s.d.provider, now.Sub(w.parked))
			s.logRefusal(w.acq, RefusedNoCreds, w.parked, av, now)
			ctx.Send(w.sender, &Unavailable{Reason: NoCredentials})
		case refusable(av, w.acq.Deadline, now):
			s.dropWaiter(w)
			s.d.observer.queueWait(s.d.provider, now.Sub(w.parked))
			s.logRefusal(w.acq, RefusedHopeless, w.parked, av, now)
			ctx.Send(w.sender, &Unavailable{Reason: AllCooling, RetryAt: clientRetryAt(av.earliest, now)})
		}
		el = next
	}
	s.askRefresh(ctx, refresh)
}

// answerIfHopeless answers a parked request at once when no credential can
// serve it any more, or none before its deadline.
func (s *schedulerActor) answerIfHopeless(ctx actor.Context, w *waiter, now time.Time) {
	var refresh []*schedEntry
	av := s.policy.unavailable(w.acq, now, &refresh)
	s.askRefresh(ctx, refresh)
	switch {
	case !av.candidates:
		s.dropWaiter(w)
		s.d.observer.queueWait(s.d.provider, 0)
		s.logRefusal(w.acq, RefusedNoCreds, w.parked, av, now)
		ctx.Send(w.sender, &Unavailable{Reason: NoCredentials})
	case refusable(av, w.acq.Deadline, now):
		s.dropWaiter(w)
		s.d.observer.queueWait(s.d.provider, 0)
		s.logRefusal(w.acq, RefusedHopeless, w.parked, av, now)
		ctx.Send(w.sender, &Unavailable{Reason: AllCooling, RetryAt: clientRetryAt(av.earliest, now)})
	}
}

func (s *schedulerActor) dropWaiter(w *waiter) {
	s.waiters.Remove(w.el)
	delete(s.waiterIdx, w.id)
	if s.waitingFor[w.acq.Model]--; s.waitingFor[w.acq.Model] <= 0 {
		delete(s.waitingFor, w.acq.Model)
	}
	if w.stop != nil {
		w.stop()
	}
}

func (s *schedulerActor) onWaiterExpired(ctx actor.Context, m *waiterExpired) {
	w, ok := s.waiterIdx[m.id]
	if !ok {
		return
	}
	now := s.d.clock.Now()
	var refresh []*schedEntry
	av := s.policy.unavailable(w.acq, now, &refresh)
	s.askRefresh(ctx, refresh)
	if until, hold := holdUntil(av, w.acq.Deadline, now); hold {
		// Quota may be back already (a reset whose stated time is only an
		// upper bound has possibly passed), or a credential is about to
		// report: hold the request (the wake-up or the outcome serves it,
		// first in line) rather than refuse it while quota may exist.
		self, root, id := ctx.Self(), ctx.ActorSystem().Root, w.id
		w.stop = s.d.clock.AfterFunc(until.Sub(now), func() { root.Send(self, &waiterExpired{id: id}) })
		return
	}
	if av.candidates {
		if e := s.policy.pickEnding(w.acq, now, resetGrace); e != nil {
			// Not held any longer, but a cooldown's stated reset has
			// passed and only its grace is left: the quota is back, so
			// serve rather than refuse.
			s.dropWaiter(w)
			s.d.observer.queueWait(s.d.provider, now.Sub(w.parked))
			ctx.Send(w.sender, s.lease(e, w.acq.Model))
			return
		}
	}
	s.dropWaiter(w)
	s.d.observer.queueWait(s.d.provider, now.Sub(w.parked))
	path := RefusedDeadline
	if !now.Before(w.acq.Deadline.Add(maxHoldOverrun)) {
		path = RefusedHoldCap
	}
	s.logRefusal(w.acq, path, w.parked, av, now)
	if !av.candidates {
		ctx.Send(w.sender, &Unavailable{Reason: NoCredentials})
		return
	}
	retryAt := clientRetryAt(av.earliest, now)
	if retryAt.IsZero() || av.soon {
		// Something may be ready any moment (refresh, busy): ask the
		// client to come back shortly.
		if soon := now.Add(time.Second); retryAt.IsZero() || soon.Before(retryAt) {
			retryAt = soon
		}
	}
	ctx.Send(w.sender, &Unavailable{Reason: AllCooling, RetryAt: retryAt})
}

// holdUntil decides, for a parked request whose deadline has passed (now is
// at or after it), whether to hold it longer rather than refuse it, and
// until when (its next look). It is held while some credential may serve it
// at any moment: one whose cooldown ends within resetSlack of now (the
// reset it stands for is an upper bound, stated in whole seconds rounded
// up, so the quota may be back already; held to that end plus heldSlack),
// or one that is about to report (a probe or ramp under way, an outcome
// pending, a refresh: held heldSlack at a time; the report re-checks the
// queue at once). The bound is each reset's own uncertainty, looked at
// afresh at every expiry, not the request's deadline: a request held for
// one reset and refused when that hold ended, while another account's reset
// had possibly passed, was refused while quota existed (issue 9). No hold
// runs past maxHoldOverrun after the deadline, except once for a cooldown
// that ends within capSlack after that.
func holdUntil(av availability, deadline, now time.Time) (time.Time, bool) {
	limit := deadline.Add(maxHoldOverrun)
	if !av.candidates {
		return time.Time{}, false
	}
	if !now.Before(limit) {
		// At the cap, a cooldown that ends within capSlack of it is waited
		// for (the quota it stands for may be back already; the wake-up's
		// probe serves the oldest request first), to its end and heldSlack
		// but not past capSlack. Refused at the cap instead, requests met
		// quota that had been back for up to 0.5 s, its cooldown ending
		// 38–340 ms later (issue 9: Codex, whose resets are whole seconds).
		end := limit.Add(capSlack)
		if av.earliest.IsZero() || !now.Before(end) || av.earliest.After(end) {
			return time.Time{}, false
		}
		return minTime(av.earliest.Add(heldSlack), end), true
	}
	var until time.Time
	switch {
	case !av.earliest.IsZero() && !resetBeyond(av.earliest, now):
		until = av.earliest.Add(heldSlack)
	case av.soon:
		until = now.Add(heldSlack)
	default:
		return time.Time{}, false
	}
	if until.After(limit) {
		until = limit
	}
	return until, until.After(now)
}

// maxHoldOverrun is the cap on how long past its queue deadline a request
// is held (holdUntil); capSlack is how much longer a request at the cap is
// held for a cooldown ending by then. Together they stay well inside
// askGrace, after which the caller would take the scheduler for dead.
const (
	maxHoldOverrun = 3 * time.Second
	capSlack       = 500 * time.Millisecond
)

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// refusable reports whether a parked request can be refused before its
// deadline: nothing may become ready for it by then, nor while it would be
// held after it. For a request already held past its deadline the reset is
// measured from now.
func refusable(av availability, deadline, now time.Time) bool {
	if av.soon {
		return false
	}
	if now.After(deadline) {
		deadline = now
	}
	return resetBeyond(av.earliest, deadline)
}

// heldSlack is how long after the cooldown's end a held request waits for
// the wake-up to serve it before it is looked at again. The credential that
// wakes takes one probe first and then ramps up, one round trip at a time,
// and held requests are first in line: at 100 ms, on a loaded machine, some
// were refused while the ramp was still under way and the quota was there.
const heldSlack = 500 * time.Millisecond

// clientRetryAt turns the earliest cooldown end into the time a client is
// told to come back: the upstream's reset, without the grace the cooldown
// adds after it, and never in the past.
func clientRetryAt(earliest, now time.Time) time.Time {
	if earliest.IsZero() {
		return earliest
	}
	if at := earliest.Add(-resetGrace); at.After(now) {
		return at
	}
	return now
}

func (s *schedulerActor) askRefresh(ctx actor.Context, entries []*schedEntry) {
	for _, e := range entries {
		if e.pid != nil {
			ctx.Send(e.pid, &RefreshNeeded{Reason: "token expired while requests wait"})
		}
	}
}

func (s *schedulerActor) onAwaitLoaded(ctx actor.Context, m *awaitLoaded) {
	if len(s.policy.entries) >= m.n {
		ctx.Respond(&loaded{})
		return
	}
	s.loadWaiters = append(s.loadWaiters, loadWaiter{n: m.n, sender: ctx.Sender()})
}

func (s *schedulerActor) checkLoaded(ctx actor.Context) {
	if len(s.loadWaiters) == 0 {
		return
	}
	kept := s.loadWaiters[:0]
	for _, w := range s.loadWaiters {
		if len(s.policy.entries) >= w.n {
			ctx.Send(w.sender, &loaded{})
			continue
		}
		kept = append(kept, w)
	}
	s.loadWaiters = kept
}

func (s *schedulerActor) snapshot() *Snapshot {
	out := &Snapshot{Credentials: make([]CredentialView, 0, len(s.policy.entries)), Waiting: s.waiters.Len()}
	for _, e := range s.policy.entries {
		out.Credentials = append(out.Credentials, e.view(s.d.provider))
	}
	sort.Slice(out.Credentials, func(i, j int) bool { return out.Credentials[i].ID < out.Credentials[j].ID })
	return out
}

// shutdown answers every parked request so no caller waits on a dead actor.
func (s *schedulerActor) shutdown(ctx actor.Context) {
	if s.wakeStop != nil {
		s.wakeStop()
		s.wakeStop = nil
	}
	for el := s.waiters.Front(); el != nil; el = s.waiters.Front() {
		w := el.Value.(*waiter)
		s.dropWaiter(w)
		ctx.Send(w.sender, &Unavailable{Reason: NoCredentials})
	}
}
