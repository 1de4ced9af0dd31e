package actors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unique"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/storage"
)

// Log field names shared by the actors.
const (
	fieldProvider     = "provider"
	fieldCredentialID = "credential_id"
	fieldStatus       = "status"
)

// Supervision: a credential or scheduler actor that panics is restarted
// from persisted state, at most maxRestarts times within restartWindow;
// after that it is stopped and the credential is disabled with the reason.
const (
	maxRestarts   = 5
	restartWindow = time.Minute
)

// poolDeps is what every actor of one provider's pool shares. It is built
// before the pool starts and only read afterwards.
type poolDeps struct {
	provider       string
	authority      providers.Authority
	db             *storage.DB
	clock          Clock
	limiter        *rate.Limiter
	log            *zap.Logger
	root           *actor.RootContext
	sys            *actor.ActorSystem
	persistence    *actor.PID
	scheduler      *actor.PID // fixed: <pool>/scheduler
	onboarding     *actor.PID // fixed: <pool>/onboarding
	lifetime       context.Context
	jitter         func() time.Duration
	maxInflight    int
	refreshTimeout time.Duration
	// routing is the scheduler's pick policy; quota reads what is left of
	// each credential's quotas every quotaPoll (0: never) and after every
	// limit answer, when the provider can (nil otherwise).
	routing   routing
	quota     providers.QuotaReader
	quotaPoll time.Duration
	observer  observerSlot
	// tap is Deps.Tap (tests only).
	tap func(who string, msg any)
	// started is set by the pool actor's first start; a second start is a
	// supervisor restart.
	started atomic.Bool
	// startRows hands credential actors the rows read for them at start.
	startRows *startRows
	// alarms holds the credentials' long waits (refresh, quota reads).
	alarms *alarms
	// models pins the canonical copies of the configured model names
	// (internModel).
	models []unique.Handle[string]
	// replies are the reply mailboxes askScheduler reuses.
	replies *replyPool
	// workers run the scheduler's and the credentials' mailboxes.
	workers *workers
}

// startRows hands each credential actor spawned from a page of rows
// (spawnCredentials) its row and refresh mark, so starting 10,000
// credentials costs two queries per page instead of two point reads per
// credential. An actor takes its row once, on its first start; one that
// restarts, or was spawned otherwise, finds none and reads storage.
type startRows struct {
	mu   sync.Mutex
	rows map[int64]startRow
}

type startRow struct {
	row  *storage.Credential
	mark time.Time
}

func newStartRows() *startRows { return &startRows{rows: make(map[int64]startRow)} }

func (s *startRows) put(id int64, row *storage.Credential, mark time.Time) {
	s.mu.Lock()
	s.rows[id] = startRow{row: row, mark: mark}
	s.mu.Unlock()
}

// take returns and forgets credential id's row, if one was put.
func (s *startRows) take(id int64) (startRow, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rows[id]
	if ok {
		delete(s.rows, id)
		if len(s.rows) == 0 {
			s.rows = make(map[int64]startRow) // Go maps do not shrink
		}
	}
	return r, ok
}

func (d *poolDeps) send(pid *actor.PID, msg any) { d.root.Send(pid, msg) }

// saveTokensDurably persists refreshed tokens and returns once committed.
func (d *poolDeps) saveTokensDurably(ctx context.Context, c providers.Credential) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var p *Persisted
		p, err = persist(ctx, d.sys, d.persistence, &SaveTokens{ID: c.ID, AccessToken: c.AccessToken,
			RefreshToken: c.RefreshToken, Expiry: c.Expiry})
		if err == nil {
			err = p.Err
		}
		if err == nil || errors.Is(err, storage.ErrNotFound) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// disabledAfterCrash reports that a crashed credential's disabled state is
// durable (or failed to be).
type disabledAfterCrash struct {
	id  int64
	err error
}

// poolActor supervises one provider's scheduler, onboarding and credential
// actors.
type poolActor struct {
	d          *poolDeps
	log        *zap.Logger
	credProps  *actor.Props
	children   map[int64]*actor.PID
	removing   map[int64]bool
	schedStart int
	stopping   bool
}

func newPoolActor(d *poolDeps) actor.Actor {
	return &poolActor{d: d, log: d.log, children: make(map[int64]*actor.PID), removing: make(map[int64]bool)}
}

func (p *poolActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *credentialAdded:
		p.onAdded(ctx, msg)
	case *SetDisabled:
		p.onSetDisabled(ctx, msg)
	case *Remove:
		p.onRemove(ctx, msg)
	case *refreshRequest:
		p.onRefreshRequest(ctx, msg)
	case *spawnCredentials:
		p.onSpawnCredentials(ctx, msg)
	case *awaitLoaded:
		forwardToScheduler[*loaded](ctx, p.d.scheduler, msg)
	case *schedulerStarted:
		p.onSchedulerStarted(ctx)
	case *disabledAfterCrash:
		p.onDisabledAfterCrash(ctx, msg)
	case *crash:
		panic(fmt.Sprintf("pool %s: injected crash", p.d.provider))
	case *actor.Terminated:
		p.onTerminated(ctx, msg)
	case *actor.Started:
		p.onStarted(ctx)
	case *actor.Stopping, *actor.Restarting:
		// Its children stop with this incarnation: their Terminated are
		// no crashes (a restart read them as such and disabled every
		// credential).
		p.stopping = true
	case *actor.Stopped:
	default:
		p.log.Warn("pool: unknown message", zap.String("type", typeName(msg)))
	}
}

func (p *poolActor) onStarted(ctx actor.Context) {
	// The scheduler's PID is fixed by its name and known to everyone
	// before it exists; a respawned scheduler keeps it.
	if _, err := ctx.SpawnNamed(tapped(schedulerProps(p.d), p.d.tap), schedulerName); err != nil {
		panic(fmt.Sprintf("pool %s: spawn scheduler: %v", p.d.provider, err))
	}
	if _, err := ctx.SpawnNamed(tapped(actor.PropsFromProducer(func() actor.Actor { return newOnboarding(p.d) }), p.d.tap), onboardingName); err != nil {
		panic(fmt.Sprintf("pool %s: spawn onboarding: %v", p.d.provider, err))
	}
	p.credProps = tapped(credentialProps(p.d), p.d.tap)
	if p.d.started.Swap(true) {
		// A restart of the pool actor: its children stopped with the old
		// incarnation; bring every credential back from storage.
		p.log.Error("pool: supervisor restarted; restarting its credentials")
		self, d := ctx.Self(), p.d
		go func() {
			if _, err := startCredentials(d.lifetime, d.sys, self, d.db, d.provider); err != nil {
				d.log.Error("pool: restart credentials", zap.Error(err))
			}
		}()
	}
}

func (p *poolActor) onSpawnCredentials(ctx actor.Context, m *spawnCredentials) {
	for i := range m.rows {
		id := m.rows[i].ID
		if _, ok := p.children[id]; !ok {
			p.d.startRows.put(id, &m.rows[i], m.marks[id])
			p.spawnCredential(ctx, id)
			if _, ok := p.children[id]; !ok {
				p.d.startRows.take(id) // not spawned: nobody will take it
			}
		}
	}
	forwardToScheduler[*loaded](ctx, p.d.scheduler, &awaitLoaded{n: m.total})
}

func (p *poolActor) spawnCredential(ctx actor.Context, id int64) {
	pid, err := ctx.SpawnNamed(p.credProps, credentialName(id))
	if err != nil {
		p.log.Error("pool: spawn credential", zap.Int64(fieldCredentialID, id), zap.Error(err))
		return
	}
	p.children[id] = pid
}

// onAdded starts (or reloads) the credential and answers the onboarding
// worker only once the credential has told the scheduler about itself, so
// an "added" verdict means "schedulable now".
func (p *poolActor) onAdded(ctx actor.Context, m *credentialAdded) {
	pid, ok := p.children[m.id]
	if ok {
		tellCredential(ctx, pid, &Reload{})
	} else {
		p.spawnCredential(ctx, m.id)
		if pid, ok = p.children[m.id]; !ok {
			ctx.Respond(&pong{})
			return
		}
	}
	forwardToCredential[*pong](ctx, pid, &ping{})
}

// child is the actor of credential id, unless it is being removed: between
// a Remove and its actor's Terminated the credential is gone for operators.
func (p *poolActor) child(id int64) (*actor.PID, bool) {
	pid, ok := p.children[id]
	return pid, ok && !p.removing[id]
}

func (p *poolActor) onSetDisabled(ctx actor.Context, m *SetDisabled) {
	pid, ok := p.child(m.ID)
	if !ok {
		ctx.Respond(&Done{Err: storage.ErrNotFound})
		return
	}
	forwardToCredential[*Done](ctx, pid, m)
}

func (p *poolActor) onRefreshRequest(ctx actor.Context, m *refreshRequest) {
	pid, ok := p.child(m.id)
	if !ok {
		ctx.Respond(&Done{Err: storage.ErrNotFound})
		return
	}
	tellCredential(ctx, pid, &RefreshNeeded{Reason: "operator asked", Operator: true})
	ctx.Respond(&Done{})
}

func (p *poolActor) onRemove(ctx actor.Context, m *Remove) {
	pid, ok := p.child(m.ID)
	if !ok {
		ctx.Respond(&Done{Err: storage.ErrNotFound})
		return
	}
	// Stop first: its timers die with it, so it never refreshes again.
	p.removing[m.ID] = true
	ctx.Stop(pid)
	tellScheduler(ctx, p.d.scheduler, &CredentialChanged{ID: m.ID, Removed: true})
	sender := ctx.Sender()
	f := ctx.RequestFuture(p.d.persistence, &DeleteCredential{ID: m.ID}, writeTimeout+askGrace)
	ctx.ReenterAfter(f, func(res any, err error) {
		if pr, rerr := replyAs[*Persisted](res, err); rerr != nil {
			err = rerr
		} else {
			err = pr.Err
		}
		if sender != nil {
			ctx.Send(sender, &Done{Err: err})
		}
	})
}

func (p *poolActor) onTerminated(ctx actor.Context, m *actor.Terminated) {
	if p.stopping {
		return
	}
	if m.Who.Id == p.d.scheduler.Id {
		p.log.Error("pool: scheduler stopped after repeated crashes; starting a fresh one")
		if _, err := ctx.SpawnNamed(tapped(schedulerProps(p.d), p.d.tap), schedulerName); err != nil {
			p.log.Error("pool: respawn scheduler", zap.Error(err))
		}
		return
	}
	// A credential's id is in its name: no map from PID to id to keep.
	id, err := credentialID(m.Who)
	if err != nil {
		return
	}
	if pid, ok := p.children[id]; !ok || pid.Id != m.Who.Id {
		return
	}
	delete(p.children, id)
	if p.removing[id] {
		delete(p.removing, id)
		return
	}
	// It crashed more often than supervision allows: disable it, durably,
	// then bring it back as a disabled entry operators can see.
	p.log.Error("pool: credential crashed repeatedly; disabling it", zap.Int64(fieldCredentialID, id))
	f := ctx.RequestFuture(p.d.persistence, &SaveState{ID: id, Status: storage.StatusDisabled,
		Reason: "crashed repeatedly; see logs", Since: p.d.clock.Now()}, writeTimeout+askGrace)
	ctx.ReenterAfter(f, func(res any, err error) {
		if pr, rerr := replyAs[*Persisted](res, err); rerr != nil {
			err = rerr
		} else {
			err = pr.Err // a failed commit is not durable either
		}
		ctx.Send(ctx.Self(), &disabledAfterCrash{id: id, err: err})
	})
}

func (p *poolActor) onDisabledAfterCrash(ctx actor.Context, m *disabledAfterCrash) {
	if m.err != nil {
		p.log.Error("pool: could not disable crashed credential", zap.Int64(fieldCredentialID, m.id), zap.Error(m.err))
	}
	if _, ok := p.children[m.id]; !ok {
		p.spawnCredential(ctx, m.id)
	}
}

func (p *poolActor) onSchedulerStarted(ctx actor.Context) {
	p.schedStart++
	if p.schedStart == 1 {
		return // first start: credentials publish as they start
	}
	p.log.Warn("pool: scheduler restarted; credentials resync")
	for _, pid := range p.children {
		tellCredential(ctx, pid, &Resync{})
	}
}

func supervisorStrategy(log *zap.Logger) actor.SupervisorStrategy {
	return actor.NewOneForOneStrategy(maxRestarts, restartWindow, func(reason any) actor.Directive {
		log.Error("actor crashed; restarting from persisted state", zap.String("reason", fmt.Sprint(reason)))
		return actor.RestartDirective
	})
}

// Pool is one provider's credential pool as transport and admin code use
// it. Its methods are safe for concurrent use.
type Pool struct {
	d            *poolDeps
	pid          *actor.PID
	queueTimeout time.Duration
	retryMax     int
}

// Name returns the provider name.
func (p *Pool) Name() string { return p.d.provider }

// RetryMax is how many further credentials one request may try.
func (p *Pool) RetryMax() int { return p.retryMax }

// QueueTimeout is how long one request may wait for a credential in all.
func (p *Pool) QueueTimeout() time.Duration { return p.queueTimeout }

// AcquireOptions qualify one Acquire.
type AcquireOptions struct {
	Exclude   []int64
	Affinity  string
	Prefer    int64
	RequestID string
	// Wait overrides the configured queue timeout when positive.
	Wait time.Duration
}

// UnavailableError is returned by Acquire when no credential was granted.
type UnavailableError struct {
	Reason  UnavailableReason
	RetryAt time.Time
}

func (e *UnavailableError) Error() string {
	if e.Reason == AllCooling {
		return fmt.Sprintf("all credentials are cooling down until %s", e.RetryAt.UTC().Format(time.RFC3339))
	}
	return "no credential can serve this request"
}

// Acquire returns a lease on a ready credential for model, waiting up to the
// queue timeout (or ctx) for one. Every returned lease must be closed with
// Report exactly once.
func (p *Pool) Acquire(ctx context.Context, model string, o AcquireOptions) (*Lease, error) {
	wait := p.queueTimeout
	if o.Wait > 0 {
		wait = o.Wait
	}
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < wait {
			wait = max(left, 0)
		}
	}
	affinity := o.Affinity
	if len(affinity) > MaxAffinityKeyLen {
		affinity = AffinityKey(affinity)
	}
	msg := &Acquire{Model: internModel(model), Exclude: o.Exclude, Affinity: affinity, Prefer: o.Prefer,
		Deadline: p.d.clock.Now().Add(wait), RequestID: o.RequestID}
	reply, err := askScheduler[acquireReply](ctx, p.d, msg, wait+askGrace, func(late any) {
		if l, ok := late.(*Lease); ok {
			p.Report(l, providers.Outcome{Kind: providers.KindAbandoned})
		}
	})
	if err != nil {
		return nil, err
	}
	return reply.granted()
}

// Report closes a lease with the upstream's verdict.
func (p *Pool) Report(l *Lease, o providers.Outcome) {
	tellScheduler(p.d.root, p.d.scheduler, &Outcome{LeaseID: l.ID, CredentialID: l.Grant.CredentialID, Model: l.Model, Result: o})
}

// SyncCooldowns returns once the cooldowns of the given credentials, as set
// by every Outcome reported for them before, are committed: a client told
// to wait by them is not told so by a gateway that would forget it in a
// crash.
func (p *Pool) SyncCooldowns(ctx context.Context, ids []int64) error {
	var errs []error
	for _, id := range ids {
		r, err := askScheduler[*Persisted](ctx, p.d, &SyncCooldowns{CredentialID: id}, writeTimeout+askGrace, nil)
		if err == nil && r.Err != nil && !benign(r.Err) {
			err = r.Err
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("actors: cooldowns of credential %d: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// SetObserver makes o receive the pool's refresh results and queue waits
// from now on; nil stops that.
func (p *Pool) SetObserver(o Observer) { p.d.observer.set(o) }

// RecordUsage counts one served request of model on a credential, with its
// input and output tokens, into the usage table (through persistence; no
// reply).
func (p *Pool) RecordUsage(credentialID int64, model string, input, output int64) {
	p.d.send(p.d.persistence, &RecordUsage{Delta: storage.UsageDelta{CredentialID: credentialID,
		Provider: p.d.provider, Model: model, Requests: 1, InputTokens: input, OutputTokens: output}})
}

// Snapshot returns every credential's view (never tokens).
func (p *Pool) Snapshot(ctx context.Context) (*Snapshot, error) {
	return askScheduler[*Snapshot](ctx, p.d, &SnapshotRequest{}, 10*time.Second, nil)
}

// Ingest starts onboarding seeds (each with at least a refresh token) and
// returns the job's id at once.
func (p *Pool) Ingest(ctx context.Context, seeds []providers.Credential) (*IngestStarted, error) {
	s, err := askOnboarding[*IngestStarted](ctx, p.d, &Ingest{Seeds: seeds}, 10*time.Second)
	if err != nil {
		return nil, err
	}
	if s.Err != nil {
		return nil, s.Err
	}
	return s, nil
}

// Job returns a job's status; with wait, once the job has finished (or ctx
// ends). Found is false for an unknown id.
func (p *Pool) Job(ctx context.Context, id string, wait bool) (*JobStatus, error) {
	timeout := 10 * time.Second
	if wait {
		timeout = time.Hour
		if dl, ok := ctx.Deadline(); ok {
			timeout = time.Until(dl) + askGrace
		}
	}
	return askOnboarding[*JobStatus](ctx, p.d, &JobQuery{JobID: id, Wait: wait}, timeout)
}

// Add onboards seeds and waits for every verdict.
func (p *Pool) Add(ctx context.Context, seeds ...providers.Credential) ([]Verdict, error) {
	started, err := p.Ingest(ctx, seeds)
	if err != nil {
		return nil, err
	}
	st, err := p.Job(ctx, started.JobID, true)
	if err != nil {
		return nil, err
	}
	return st.Verdicts, nil
}

// SetDisabled disables or re-enables a credential.
func (p *Pool) SetDisabled(ctx context.Context, id int64, disabled bool, reason string) error {
	return p.command(ctx, &SetDisabled{ID: id, Disabled: disabled, Reason: reason})
}

// Remove stops a credential's actor (no refresh ever again) and deletes it.
func (p *Pool) Remove(ctx context.Context, id int64) error {
	return p.command(ctx, &Remove{ID: id})
}

// Refresh asks a credential to refresh its token now.
func (p *Pool) Refresh(ctx context.Context, id int64) error {
	return p.command(ctx, &refreshRequest{id: id})
}

func (p *Pool) command(ctx context.Context, msg poolRequest[*Done]) error {
	d, err := askPool[*Done](ctx, p.d.sys, p.pid, msg, writeTimeout+askGrace)
	if err != nil {
		return err
	}
	return d.Err
}

// Child names under a pool actor.
const (
	schedulerName  = "scheduler"
	onboardingName = "onboarding"
)

// newLimiter paces one provider's calls to its token endpoint.
func newLimiter(c config.Provider) *rate.Limiter {
	tps := c.OAuthTPS
	if tps <= 0 {
		tps = 5
	}
	burst := int(tps)
	if burst < 1 {
		burst = 1
	}
	return rate.NewLimiter(rate.Limit(tps), burst)
}
