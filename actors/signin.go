package actors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/providers"
)

// Why a device-code sign-in ended without a credential (SignInStatus.Err),
// besides the step's own error.
var (
	// ErrSignInPending is what a SignInStep returns while the sign-in is
	// not approved yet.
	ErrSignInPending = errors.New("actors: sign-in not approved yet")
	// ErrSignInExpired: nobody approved it before it expired.
	ErrSignInExpired = errors.New("actors: sign-in expired before it was approved")
	// ErrSignInStopped: the server stopped while it waited.
	ErrSignInStopped = errors.New("actors: sign-in stopped with the server")
	// ErrSignInNotOnboarded: the signed-in credential's onboarding job
	// could not be stored.
	ErrSignInNotOnboarded = errors.New("actors: the signed-in credential could not be onboarded")
)

// signInKeep is how long an ended sign-in stays queryable.
const signInKeep = 10 * time.Minute

// signIn is one device-code sign-in the onboarding actor polls.
type signIn struct {
	id       string
	step     SignInStep
	interval time.Duration
	expires  time.Time
	// ctx ends the step in flight: cancelled at expiry, by CancelSignIns
	// and when the pool stops.
	ctx    context.Context
	cancel context.CancelFunc
	// stopTimers stops the pending poll timer and the expiry timer.
	stopPoll, stopExpiry func() bool
	// gen numbers the polls; a stale signInDue is ignored.
	gen uint64
	// jobID is the onboarding job of the credential, once there is one.
	jobID   string
	done    bool
	err     error
	job     *JobStatus
	endedAt time.Time
	waiters []*actor.PID
}

// Sign-in messages the onboarding actor sends itself.
type (
	// signInDue: time for the sign-in's next poll.
	signInDue struct {
		id  string
		gen uint64
	}
	// signInStepped brings a poll's answer.
	signInStepped struct {
		id   string
		gen  uint64
		cred providers.Credential
		err  error
	}
)

func (o *onboardingActor) onPollSignIn(ctx actor.Context, m *PollSignIn) {
	o.pruneSignIns()
	switch {
	case o.signInsStopped:
		ctx.Respond(&SignInStarted{Err: ErrSignInStopped})
		return
	case o.signIns[m.ID] != nil:
		ctx.Respond(&SignInStarted{Err: fmt.Errorf("actors: sign-in %q already exists", m.ID)})
		return
	case m.Step == nil:
		ctx.Respond(&SignInStarted{Err: errors.New("actors: sign-in without a step")})
		return
	}
	s := &signIn{id: m.ID, step: m.Step, interval: m.Interval, expires: m.Expires}
	s.ctx, s.cancel = context.WithCancel(o.d.lifetime)
	// The expiry runs on the pool's clock, so tests drive it.
	s.stopExpiry = o.d.clock.AfterFunc(max(0, m.Expires.Sub(o.d.clock.Now())), s.cancel)
	o.signIns[m.ID] = s
	o.log.Info("onboarding: device sign-in waiting", zap.String("sign_in", s.id), zap.Time("expires", s.expires))
	ctx.Respond(&SignInStarted{})
	o.pollSignIn(ctx, s)
}

// pollSignIn runs one step on its own goroutine.
func (o *onboardingActor) pollSignIn(ctx actor.Context, s *signIn) {
	s.gen++
	self, d, id, gen, step, sctx := ctx.Self(), o.d, s.id, s.gen, s.step, s.ctx
	go func() {
		var (
			cred providers.Credential
			err  error
		)
		func() {
			defer func() {
				if v := recover(); v != nil {
					err = fmt.Errorf("actors: sign-in step panicked: %v", v)
				}
			}()
			cred, err = step(sctx)
		}()
		d.send(self, &signInStepped{id: id, gen: gen, cred: cred, err: err})
	}()
}

func (o *onboardingActor) onSignInStepped(ctx actor.Context, m *signInStepped) {
	s := o.signIns[m.id]
	if s == nil || s.done || s.jobID != "" || m.gen != s.gen {
		return
	}
	now := o.d.clock.Now()
	switch {
	case m.err == nil:
		o.log.Info("onboarding: device sign-in approved", zap.String("sign_in", s.id))
		s.stopExpiry()
		s.jobID = o.startJob(ctx, []providers.Credential{m.cred}, nil)
	case o.signInsStopped || (s.ctx.Err() != nil && now.Before(s.expires)):
		o.endSignIn(ctx, s, ErrSignInStopped)
	case !now.Before(s.expires):
		o.endSignIn(ctx, s, ErrSignInExpired)
	case errors.Is(m.err, ErrSignInPending):
		self, d, id, gen := ctx.Self(), o.d, s.id, s.gen
		wait := min(max(s.interval, time.Millisecond), s.expires.Sub(now))
		s.stopPoll = o.d.clock.AfterFunc(wait, func() { d.send(self, &signInDue{id: id, gen: gen}) })
	default:
		o.endSignIn(ctx, s, m.err)
	}
}

func (o *onboardingActor) onSignInDue(ctx actor.Context, m *signInDue) {
	s := o.signIns[m.id]
	if s == nil || s.done || s.jobID != "" || m.gen != s.gen {
		return
	}
	s.stopPoll = nil
	o.pollSignIn(ctx, s)
}

// onCancelSignIns ends every sign-in still waiting for approval; one
// already onboarding finishes its job.
func (o *onboardingActor) onCancelSignIns(ctx actor.Context) {
	o.signInsStopped = true
	for _, s := range o.signIns {
		if !s.done && s.jobID == "" {
			o.endSignIn(ctx, s, ErrSignInStopped)
		}
	}
}

func (o *onboardingActor) onSignInQuery(ctx actor.Context, m *SignInQuery) {
	s := o.signIns[m.ID]
	switch {
	case s == nil:
		ctx.Respond(&SignInStatus{ID: m.ID})
	case m.Wait && !s.done:
		s.waiters = append(s.waiters, ctx.Sender())
	default:
		ctx.Respond(s.status())
	}
}

func (s *signIn) status() *SignInStatus {
	st := &SignInStatus{ID: s.id, Found: true, Done: s.done, Err: s.err}
	if s.job != nil {
		j := *s.job
		j.Verdicts = append([]Verdict(nil), s.job.Verdicts...)
		st.Job = &j
	}
	return st
}

// endSignIn records how s ended and answers its waiters.
func (o *onboardingActor) endSignIn(ctx actor.Context, s *signIn, err error) {
	if s.done {
		return
	}
	s.done, s.err, s.endedAt = true, err, o.d.clock.Now()
	s.cancel()
	s.stopExpiry()
	if s.stopPoll != nil {
		s.stopPoll()
	}
	if err != nil {
		o.log.Info("onboarding: device sign-in ended", zap.String("sign_in", s.id), zap.Error(err))
	}
	for _, w := range s.waiters {
		ctx.Send(w, s.status())
	}
	s.waiters = nil
}

// signInJobEnded ends the sign-ins whose credential job j is (err: the job
// was not stored).
func (o *onboardingActor) signInJobEnded(ctx actor.Context, jobID string, j *job, err error) {
	for _, s := range o.signIns {
		if s.jobID != jobID || s.done {
			continue
		}
		if j != nil {
			s.job = copyStatus(j)
		}
		if err != nil {
			err = fmt.Errorf("%w: %w", ErrSignInNotOnboarded, err)
		}
		o.endSignIn(ctx, s, err)
	}
}

// dropSignIns ends every sign-in (its waiters hear ErrSignInStopped) and
// forgets them when the actor stops or restarts: a restarted actor starts
// without them, and the HTTP layer reads a forgotten sign-in as stopped.
func (o *onboardingActor) dropSignIns(ctx actor.Context) {
	for id, s := range o.signIns {
		o.endSignIn(ctx, s, ErrSignInStopped)
		delete(o.signIns, id)
	}
}

// pruneSignIns forgets the sign-ins that ended more than signInKeep ago.
func (o *onboardingActor) pruneSignIns() {
	now := o.d.clock.Now()
	for id, s := range o.signIns {
		if s.done && now.Sub(s.endedAt) >= signInKeep {
			delete(o.signIns, id)
		}
	}
}

// PollSignIn hands a device-code sign-in to the pool's onboarding actor,
// which polls it (see PollSignIn the message) and onboards its credential.
func (p *Pool) PollSignIn(ctx context.Context, id string, step SignInStep, interval time.Duration, expires time.Time) error {
	s, err := askOnboarding[*SignInStarted](ctx, p.d, &PollSignIn{ID: id, Step: step, Interval: interval, Expires: expires}, 10*time.Second)
	if err != nil {
		return err
	}
	return s.Err
}

// SignIn returns a device-code sign-in's state; with wait, once it has
// ended (or ctx ends).
func (p *Pool) SignIn(ctx context.Context, id string, wait bool) (*SignInStatus, error) {
	timeout := 10 * time.Second
	if wait {
		timeout = time.Hour
		if dl, ok := ctx.Deadline(); ok {
			timeout = time.Until(dl) + askGrace
		}
	}
	return askOnboarding[*SignInStatus](ctx, p.d, &SignInQuery{ID: id, Wait: wait}, timeout)
}

// CancelSignIns ends the device-code sign-ins still waiting and refuses
// new ones (the server is stopping).
func (p *Pool) CancelSignIns() { tellOnboarding(p.d, &CancelSignIns{}) }
