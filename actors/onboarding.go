package actors

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/storage"
)

// VerdictKind is the result of onboarding one token.
type VerdictKind string

// Verdict kinds.
const (
	VerdictAdded      VerdictKind = "added"
	VerdictUpdated    VerdictKind = "updated" // a known account got new tokens
	VerdictDuplicate  VerdictKind = "duplicate"
	VerdictIneligible VerdictKind = "ineligible"
	VerdictBanned     VerdictKind = "banned"
	VerdictInvalid    VerdictKind = "invalid" // the refresh token does not work
	VerdictFailed     VerdictKind = "failed"  // transient trouble; try again later
	VerdictPending    VerdictKind = "pending"
)

// Verdict is the outcome for one submitted token, in submission order.
// It never carries the token.
type Verdict struct {
	Index        int         `json:"index"`
	Result       VerdictKind `json:"result"`
	CredentialID int64       `json:"credential_id,omitempty"`
	Email        string      `json:"email,omitempty"`
	Account      string      `json:"account,omitempty"`
	Tier         string      `json:"tier,omitempty"`
	Reason       string      `json:"reason,omitempty"`
	URL          string      `json:"url,omitempty"`
}

// Onboarding-internal messages.
type (
	jobProgress struct {
		jobID   string
		verdict Verdict
	}
	// jobSaved says whether a new job is durable; the submitter waits.
	jobSaved struct {
		jobID     string
		submitter *actor.PID
		reply     *IngestStarted
		work      []indexedSeed
		err       error
	}
	// jobsLoaded brings the stored jobs at start.
	jobsLoaded struct {
		jobs []storage.IngestJob
		err  error
	}
)

// keepJobs bounds how many finished jobs stay queryable.
const keepJobs = 200

// onboardConcurrency bounds simultaneous onboardings of one job; the token
// endpoint rate (oauth_tps) paces them further.
const onboardConcurrency = 4

// onboardTimeout bounds one token's onboarding (refresh, discovery and any
// operation polling).
const onboardTimeout = 3 * time.Minute

type job struct {
	status  JobStatus
	waiters []*actor.PID
}

// onboardingActor registers ingestion jobs and runs each on a worker
// goroutine that reports verdicts back as messages.
type onboardingActor struct {
	d     *poolDeps
	log   *zap.Logger
	jobs  map[string]*job
	order []string
	// loaded is set once the stored jobs are back; queries wait for it.
	loaded  bool
	waiting []queuedQuery
	// signIns are the device-code sign-ins (signin.go); signInsStopped
	// refuses new ones once the server stops.
	signIns        map[string]*signIn
	signInsStopped bool
}

type queuedQuery struct {
	sender *actor.PID
	query  *JobQuery
}

func newOnboarding(d *poolDeps) actor.Actor {
	return &onboardingActor{d: d, log: d.log.Named("onboarding"), jobs: make(map[string]*job), signIns: make(map[string]*signIn)}
}

func (o *onboardingActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *Ingest:
		o.onIngest(ctx, msg)
	case *jobProgress:
		o.onProgress(ctx, msg)
	case *JobQuery:
		o.onQuery(ctx, ctx.Sender(), msg)
	case *jobSaved:
		o.onJobSaved(ctx, msg)
	case *jobsLoaded:
		o.onJobsLoaded(ctx, msg)
	case *PollSignIn:
		o.onPollSignIn(ctx, msg)
	case *signInStepped:
		o.onSignInStepped(ctx, msg)
	case *signInDue:
		o.onSignInDue(ctx, msg)
	case *SignInQuery:
		o.onSignInQuery(ctx, msg)
	case *CancelSignIns:
		o.onCancelSignIns(ctx)
	case *actor.Started:
		o.loadJobs(ctx)
	case *actor.Stopping, *actor.Restarting:
		o.dropSignIns(ctx)
	case *actor.Stopped:
	default:
		o.log.Warn("onboarding: unknown message", zap.String("type", typeName(msg)))
	}
}

func (o *onboardingActor) onIngest(ctx actor.Context, m *Ingest) {
	o.startJob(ctx, m.Seeds, ctx.Sender())
}

// startJob registers a job for seeds and returns its id; submitter, when
// set, gets the *IngestStarted once the job is stored.
func (o *onboardingActor) startJob(ctx actor.Context, seeds []providers.Credential, submitter *actor.PID) string {
	id := newJobID()
	seen := make(map[string]bool, len(seeds))
	var work []indexedSeed
	j := &job{status: JobStatus{ID: id, Provider: o.d.provider, Total: len(seeds),
		StartedAt: o.d.clock.Now(), Verdicts: make([]Verdict, len(seeds))}}
	dups := 0
	for i, s := range seeds {
		j.status.Verdicts[i] = Verdict{Index: i, Result: VerdictPending}
		if s.RefreshToken.IsZero() {
			// An empty entry in the batch; the others proceed.
			j.status.Verdicts[i] = Verdict{Index: i, Result: VerdictInvalid, Reason: "empty entry: no refresh token"}
			j.status.Done++
			continue
		}
		key := s.RefreshToken.Reveal()
		if seen[key] {
			j.status.Verdicts[i] = Verdict{Index: i, Result: VerdictDuplicate, Reason: "repeated in this batch"}
			j.status.Done++
			dups++
			continue
		}
		seen[key] = true
		work = append(work, indexedSeed{index: i, seed: s})
	}
	o.jobs[id] = j
	o.order = append(o.order, id)
	o.prune()
	o.log.Info("onboarding: job started", zap.String("job", id), zap.Int("tokens", len(seeds)), zap.Int("duplicates", dups))
	// The job and its tokens are stored before the submitter hears of it:
	// a 202 means nothing is lost to a crash.
	stored := storage.IngestJob{ID: id, Provider: o.d.provider, Total: j.status.Total, Started: j.status.StartedAt}
	for i, s := range seeds {
		it := storage.IngestItem{Index: i}
		if v := j.status.Verdicts[i]; v.Result == VerdictPending {
			it.RefreshToken, it.AccessToken, it.Account = s.RefreshToken, s.AccessToken, s.Account
		} else {
			it.Verdict = verdictJSON(v)
		}
		stored.Items = append(stored.Items, it)
	}
	saved := &jobSaved{jobID: id, submitter: submitter, work: work,
		reply: &IngestStarted{JobID: id, Accepted: len(work), Duplicates: dups}}
	self, d := ctx.Self(), o.d
	go func() {
		p, err := persist(d.lifetime, d.sys, d.persistence, &SaveIngestJob{Job: stored})
		if err == nil {
			err = p.Err
		}
		saved.err = err
		d.send(self, saved)
	}()
	return id
}

// onJobSaved answers the submitter once its job is durable, and starts it.
func (o *onboardingActor) onJobSaved(ctx actor.Context, m *jobSaved) {
	j := o.jobs[m.jobID]
	if m.err != nil {
		o.log.Error("onboarding: job not stored; refused", zap.String("job", m.jobID), zap.Error(m.err))
		delete(o.jobs, m.jobID)
		err := fmt.Errorf("actors: the tokens could not be stored: %w", m.err)
		if m.submitter != nil {
			ctx.Send(m.submitter, &IngestStarted{Err: err})
		}
		o.signInJobEnded(ctx, m.jobID, nil, err)
		return
	}
	if m.submitter != nil {
		ctx.Send(m.submitter, m.reply)
	}
	if j == nil {
		return
	}
	o.finishIfDone(ctx, j)
	if len(m.work) > 0 {
		go o.d.runJob(ctx.Self(), ctx.Parent(), m.jobID, m.work)
	}
}

// loadJobs reads the stored jobs off the actor's goroutine.
func (o *onboardingActor) loadJobs(ctx actor.Context) {
	self, d := ctx.Self(), o.d
	go func() {
		jobs, err := d.db.IngestJobs(d.lifetime, d.provider)
		d.send(self, &jobsLoaded{jobs: jobs, err: err})
	}()
}

// onJobsLoaded restores the stored jobs, resumes the unfinished ones and
// answers the queries that waited.
func (o *onboardingActor) onJobsLoaded(ctx actor.Context, m *jobsLoaded) {
	o.loaded = true
	if m.err != nil {
		o.log.Error("onboarding: stored jobs not loaded", zap.Error(m.err))
	}
	for _, sj := range m.jobs {
		if _, ok := o.jobs[sj.ID]; ok {
			continue
		}
		j := &job{status: JobStatus{ID: sj.ID, Provider: o.d.provider, Total: sj.Total,
			StartedAt: sj.Started, FinishedAt: sj.Finished, Finished: !sj.Finished.IsZero(),
			Verdicts: make([]Verdict, sj.Total)}}
		for i := range j.status.Verdicts {
			j.status.Verdicts[i] = Verdict{Index: i, Result: VerdictPending}
		}
		var work []indexedSeed
		for _, it := range sj.Items {
			if it.Index < 0 || it.Index >= sj.Total {
				continue
			}
			var v Verdict
			if it.Verdict != "" && json.Unmarshal([]byte(it.Verdict), &v) == nil {
				v.Index = it.Index
				j.status.Verdicts[it.Index] = v
				j.status.Done++
				continue
			}
			if it.RefreshToken.IsZero() {
				j.status.Verdicts[it.Index] = Verdict{Index: it.Index, Result: VerdictFailed, Reason: "lost in a restart; submit it again"}
				j.status.Done++
				continue
			}
			work = append(work, indexedSeed{index: it.Index, resumed: true, seed: providers.Credential{
				RefreshToken: it.RefreshToken, AccessToken: it.AccessToken, Account: it.Account}})
		}
		o.jobs[sj.ID] = j
		o.order = append(o.order, sj.ID)
		if j.status.Finished {
			continue
		}
		o.log.Info("onboarding: job resumed after a restart", zap.String("job", sj.ID), zap.Int("pending", len(work)))
		o.finishIfDone(ctx, j)
		if len(work) > 0 {
			go o.d.runJob(ctx.Self(), ctx.Parent(), sj.ID, work)
		}
	}
	o.prune()
	for _, q := range o.waiting {
		o.onQuery(ctx, q.sender, q.query)
	}
	o.waiting = nil
}

// verdictJSON is the stored form of a verdict (it holds no token).
func verdictJSON(v Verdict) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

func (o *onboardingActor) onProgress(ctx actor.Context, m *jobProgress) {
	j, ok := o.jobs[m.jobID]
	if !ok {
		return
	}
	v := m.verdict
	j.status.Verdicts[v.Index] = v
	j.status.Done++
	ctx.Send(o.d.persistence, &SaveIngestVerdict{JobID: m.jobID, Index: v.Index, Verdict: verdictJSON(v)})
	o.log.Info("onboarding: verdict", zap.String("job", m.jobID), zap.Int("index", v.Index),
		zap.String("result", string(v.Result)), zap.Int64(fieldCredentialID, v.CredentialID), zap.String("reason", v.Reason))
	o.finishIfDone(ctx, j)
}

func (o *onboardingActor) finishIfDone(ctx actor.Context, j *job) {
	if j.status.Finished || j.status.Done < j.status.Total {
		return
	}
	j.status.Finished = true
	j.status.FinishedAt = o.d.clock.Now()
	ctx.Send(o.d.persistence, &FinishIngestJob{JobID: j.status.ID, At: j.status.FinishedAt})
	for _, w := range j.waiters {
		ctx.Send(w, copyStatus(j))
	}
	j.waiters = nil
	o.signInJobEnded(ctx, j.status.ID, j, nil)
}

func (o *onboardingActor) onQuery(ctx actor.Context, sender *actor.PID, m *JobQuery) {
	j, ok := o.jobs[m.JobID]
	if !ok && !o.loaded {
		o.waiting = append(o.waiting, queuedQuery{sender: sender, query: m})
		return
	}
	if !ok {
		ctx.Send(sender, &JobStatus{ID: m.JobID})
		return
	}
	if m.Wait && !j.status.Finished {
		j.waiters = append(j.waiters, sender)
		return
	}
	ctx.Send(sender, copyStatus(j))
}

func copyStatus(j *job) *JobStatus {
	s := j.status
	s.Found = true
	s.Verdicts = append([]Verdict(nil), j.status.Verdicts...)
	return &s
}

// prune forgets the oldest finished jobs beyond keepJobs.
func (o *onboardingActor) prune() {
	for len(o.order) > keepJobs {
		oldest := o.order[0]
		if j := o.jobs[oldest]; j != nil && !j.status.Finished {
			return
		}
		delete(o.jobs, oldest)
		o.order = o.order[1:]
		o.d.send(o.d.persistence, &DeleteIngestJob{JobID: oldest})
	}
}

type indexedSeed struct {
	index int
	seed  providers.Credential
	// resumed: submitted before a restart; a token already in the pool
	// was saved by the run the restart cut short.
	resumed bool
}

// runJob onboards every seed of one job, a few at a time, and reports each
// verdict to the onboarding actor. It runs on its own goroutine.
func (d *poolDeps) runJob(onboarding, pool *actor.PID, jobID string, work []indexedSeed) {
	sem := make(chan struct{}, onboardConcurrency)
	var wg sync.WaitGroup
	for _, w := range work {
		select {
		case sem <- struct{}{}:
		case <-d.lifetime.Done():
			return
		}
		if err := d.waitTokenSlot(d.lifetime); err != nil {
			<-sem
			return
		}
		wg.Add(1)
		go func(w indexedSeed) {
			defer wg.Done()
			defer func() { <-sem }()
			v := d.onboardOne(pool, w)
			d.send(onboarding, &jobProgress{jobID: jobID, verdict: v})
		}(w)
	}
	wg.Wait()
}

// waitTokenSlot waits for this provider's token-endpoint rate to allow one
// more call, on the injected clock.
func (d *poolDeps) waitTokenSlot(ctx context.Context) error {
	now := d.clock.Now()
	delay := d.limiter.ReserveN(now, 1).DelayFrom(now)
	if delay <= 0 {
		return nil
	}
	ch := make(chan struct{})
	stop := d.clock.AfterFunc(delay, func() { close(ch) })
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		stop()
		return ctx.Err()
	}
}

func (d *poolDeps) onboardOne(pool *actor.PID, w indexedSeed) (v Verdict) {
	v = Verdict{Index: w.index}
	defer func() {
		if r := recover(); r != nil {
			v = Verdict{Index: w.index, Result: VerdictFailed, Reason: fmt.Sprintf("internal error: %v", r)}
		}
	}()
	ctx, cancel := context.WithTimeout(d.lifetime, onboardTimeout)
	defer cancel()
	if id, dup, err := d.db.FindByRefreshToken(ctx, d.provider, w.seed.RefreshToken); err != nil {
		v.Result, v.Reason = VerdictFailed, "database: "+err.Error()
		return v
	} else if dup && w.resumed {
		v.Result, v.CredentialID, v.Reason = VerdictAdded, id, "saved before a restart"
		return v
	} else if dup && !benched(ctx, d.db, id) {
		v.Result, v.Reason = VerdictDuplicate, "this refresh token is already in the pool"
		return v
	}
	// A new token, or a known one of a benched (needs_reauth) credential:
	// onboarding re-validates it, and the upsert revives the credential.
	seed := w.seed
	seed.Provider = d.provider
	cred, err := d.authority.Onboard(ctx, seed)
	if err != nil {
		if verdict, ok := VerdictOf(err); ok {
			v.Result, v.Reason, v.URL = verdict.Result, verdict.Reason, verdict.URL
			return v
		}
		v.Result, v.Reason = VerdictFailed, err.Error()
		return v
	}
	row := storage.Credential{
		Provider: d.provider, Sub: cred.Sub, Email: cred.Email, Account: cred.Account, Tier: cred.Tier,
		AccessToken: cred.AccessToken, RefreshToken: cred.RefreshToken, Expiry: cred.Expiry,
		Extra: cred.Extra, Status: storage.StatusActive,
	}
	p, err := persist(ctx, d.sys, d.persistence, &UpsertCredential{Credential: row})
	if err == nil {
		err = p.Err
	}
	if err != nil {
		v.Result, v.Reason = VerdictFailed, "saving the credential failed: "+err.Error()
		return v
	}
	if _, err := askPool[*pong](ctx, d.sys, pool, &credentialAdded{id: p.ID, inserted: p.Inserted}, writeTimeout+askGrace); err != nil {
		v.Result, v.Reason = VerdictFailed, "saved, but the pool did not confirm: "+err.Error()
		return v
	}
	v.CredentialID, v.Email, v.Account, v.Tier = p.ID, cred.Email, cred.Account, cred.Tier
	v.Result = VerdictAdded
	if !p.Inserted {
		v.Result = VerdictUpdated
	}
	return v
}

// benched reports whether credential id is in needs_reauth: re-adding its
// token is then a request to check the grant again, not a duplicate.
func benched(ctx context.Context, db *storage.DB, id int64) bool {
	c, err := db.Credential(ctx, id)
	return err == nil && c.Status == storage.StatusNeedsReauth
}

func newJobID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "job_" + hex.EncodeToString(b[:])
}
