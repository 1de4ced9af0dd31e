package actors

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// ErrStopped means the actor that should answer is not running (the system
// is shutting down, or the actor died); transport answers 503.
var ErrStopped = errors.New("actors: not running")

// errUnexpectedReply means an actor answered a request with a message the
// request does not take: a programming error between sender and receiver.
var errUnexpectedReply = errors.New("actors: unexpected reply")

// replyProcess is a one-shot mailbox registered in the process registry. It
// replaces actor.Future because a Future cannot be waited on together with a
// context, and because a reply that arrives after the caller gave up must be
// handled (a late Lease must still be closed), not dropped.
type replyProcess struct {
	// state: 0 waiting, 1 delivered, 2 abandoned by the caller.
	state atomic.Int32
	ch    chan any
	late  func(msg any)
	sys   *actor.ActorSystem
	pid   *actor.PID
	// timer is the reused mailbox's (replyPool); nil otherwise.
	timer *time.Timer
}

func (r *replyProcess) SendUserMessage(_ *actor.PID, msg any) {
	if env, ok := msg.(*actor.MessageEnvelope); ok {
		msg = env.Message
	}
	if r.state.CompareAndSwap(0, 1) {
		r.ch <- msg
		return
	}
	if r.state.Load() == 2 {
		r.sys.ProcessRegistry.Remove(r.pid)
		if r.late != nil {
			r.late(msg)
		}
	}
}

func (r *replyProcess) SendSystemMessage(*actor.PID, any) {}
func (r *replyProcess) Stop(*actor.PID)                   {}

// askGrace is how long past its own deadline a request waits for an actor
// that should have answered, before concluding it is gone.
const askGrace = 5 * time.Second

// ask sends msg to target and waits for one reply, for ctx, or for timeout
// (after which the target is presumed dead: ErrStopped). When the caller
// gives up first and a reply still arrives, late is called with it.
func ask(ctx context.Context, sys *actor.ActorSystem, target *actor.PID, msg any, timeout time.Duration, late func(any)) (any, error) {
	r := &replyProcess{ch: make(chan any, 1), sys: sys}
	pid, ok := sys.ProcessRegistry.Add(r, "ask$"+sys.ProcessRegistry.NextId())
	if !ok {
		return nil, ErrStopped
	}
	r.pid = pid
	m, delivered, err := r.await(ctx, target, msg, timeout, late, time.NewTimer(timeout))
	if delivered {
		sys.ProcessRegistry.Remove(pid)
	}
	return m, err
}

// await sends msg to target from r and waits for the reply, for ctx or for
// timer (armed for timeout). It reports whether r may take another request:
// only once it has delivered its one reply. Otherwise r has been
// unregistered, or stays registered a while to see a late reply.
func (r *replyProcess) await(ctx context.Context, target *actor.PID, msg any, timeout time.Duration, late func(any), timer *time.Timer) (any, bool, error) {
	sys, pid := r.sys, r.pid
	r.late = late
	sys.Root.RequestWithCustomSender(target, msg, pid)
	defer timer.Stop()
	var err error
	select {
	case m := <-r.ch:
		return m, true, nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-timer.C:
		err = ErrStopped
	}
	if !r.state.CompareAndSwap(0, 2) {
		// The reply raced with giving up: hand it to late.
		sys.ProcessRegistry.Remove(pid)
		if m := <-r.ch; late != nil {
			late(m)
		}
		return nil, false, err
	}
	// Keep the mailbox registered a while so a late reply is still seen,
	// then let it go.
	time.AfterFunc(timeout+askGrace, func() { sys.ProcessRegistry.Remove(pid) })
	return nil, false, err
}

// replyPool keeps the reply mailboxes of one hot request (a pool's Acquire)
// registered for reuse. A mailbox registered per request cost a name, a
// registry insert and delete and, for the answer, a registry look-up, in
// shards that hold every actor: with 10,000 credential actors those are
// cold, and they were a fifth of what an Acquire cost more in a pool of
// 10,000 than in one of 10. A reused mailbox's PID caches its process, so
// the answer goes straight to it. A mailbox is reused only after it has
// delivered its one reply (every request gets exactly one, STYLE 2.5), so
// no reply meant for one request reaches another; one whose caller gave up
// is never reused.
type replyPool struct {
	sys  *actor.ActorSystem
	free chan *replyProcess
}

// replyPoolSize bounds the idle reply mailboxes kept per pool: about the
// requests that wait on the scheduler at once; more are made, and
// unregistered, on demand.
const replyPoolSize = 256

func newReplyPool(sys *actor.ActorSystem) *replyPool {
	return &replyPool{sys: sys, free: make(chan *replyProcess, replyPoolSize)}
}

// ask is the package's ask through a reused reply mailbox.
func (p *replyPool) ask(ctx context.Context, target *actor.PID, msg any, timeout time.Duration, late func(any)) (any, error) {
	var r *replyProcess
	select {
	case r = <-p.free:
		r.timer.Reset(timeout)
	default:
		r = &replyProcess{ch: make(chan any, 1), sys: p.sys}
		pid, ok := p.sys.ProcessRegistry.Add(r, "ask$"+p.sys.ProcessRegistry.NextId())
		if !ok {
			return nil, ErrStopped
		}
		r.pid, r.timer = pid, time.NewTimer(timeout)
	}
	m, reusable, err := r.await(ctx, target, msg, timeout, late, r.timer)
	if !reusable {
		return m, err
	}
	r.late = nil
	r.state.Store(0)
	select {
	case p.free <- r:
	default:
		p.sys.ProcessRegistry.Remove(r.pid)
	}
	return m, err
}

// askAs is ask for the usual request: one reply of type Reply, nothing to
// do with a reply that comes after the caller gave up. Any other reply is
// an error wrapping errUnexpectedReply.
func askAs[Reply any](ctx context.Context, sys *actor.ActorSystem, target *actor.PID, msg any, timeout time.Duration) (Reply, error) {
	return replyAs[Reply](ask(ctx, sys, target, msg, timeout, nil))
}

// replyAs takes ask's result as a Reply: the error when there is one, the
// reply when it has that type, ErrStopped when the target was not there to
// take the request (protoactor answers a dead letter), errUnexpectedReply
// otherwise.
func replyAs[Reply any](res any, err error) (Reply, error) {
	var zero Reply
	if err != nil {
		return zero, err
	}
	r, ok := res.(Reply)
	if _, dead := res.(*actor.DeadLetterResponse); dead && !ok {
		// The target is not registered: it stopped, or never ran.
		return zero, ErrStopped
	}
	if !ok {
		return zero, fmt.Errorf("%w %T, want %v", errUnexpectedReply, res, reflect.TypeFor[Reply]())
	}
	return r, nil
}

// persist sends a write to the persistence actor and waits until it is
// committed or failed (the reply's Err says which).
func persist(ctx context.Context, sys *actor.ActorSystem, persistence *actor.PID, msg persistenceMsg) (*Persisted, error) {
	return askAs[*Persisted](ctx, sys, persistence, msg, writeTimeout+askGrace)
}

// The typed helpers below send each actor only its own messages (the
// sealed interfaces in messages.go) and, for a request, expect the reply
// type the message names.

// askScheduler asks the pool's scheduler; late takes a reply that comes
// after the caller gave up (nil: dropped).
func askScheduler[R any](ctx context.Context, d *poolDeps, msg schedulerRequest[R], timeout time.Duration, late func(any)) (R, error) {
	if d.replies != nil {
		return replyAs[R](d.replies.ask(ctx, d.scheduler, msg, timeout, late))
	}
	return replyAs[R](ask(ctx, d.sys, d.scheduler, msg, timeout, late))
}

// forwardToScheduler hands a request to the scheduler, which answers the
// current message's sender.
func forwardToScheduler[R any](ctx actor.Context, scheduler *actor.PID, msg schedulerRequest[R]) {
	ctx.RequestWithCustomSender(scheduler, msg, ctx.Sender())
}

// sender is what sends a one-way message: an actor's context, or the
// system's root context from outside the actors.
type sender interface {
	Send(pid *actor.PID, msg any)
}

// tellScheduler sends the scheduler a one-way message.
func tellScheduler(from sender, scheduler *actor.PID, msg schedulerNotice) { from.Send(scheduler, msg) }

// askPool asks a pool actor.
func askPool[R any](ctx context.Context, sys *actor.ActorSystem, pool *actor.PID, msg poolRequest[R], timeout time.Duration) (R, error) {
	return askAs[R](ctx, sys, pool, msg, timeout)
}

// askOnboarding asks the pool's onboarding actor.
func askOnboarding[R any](ctx context.Context, d *poolDeps, msg onboardingRequest[R], timeout time.Duration) (R, error) {
	return askAs[R](ctx, d.sys, d.onboarding, msg, timeout)
}

// tellOnboarding sends the pool's onboarding actor a one-way message.
func tellOnboarding(d *poolDeps, msg onboardingNotice) { d.send(d.onboarding, msg) }

// tellCredential sends a credential actor a one-way message from an actor.
func tellCredential(ctx actor.Context, pid *actor.PID, msg credentialNotice) { ctx.Send(pid, msg) }

// forwardToCredential hands a request to a credential actor, which answers
// the current message's sender.
func forwardToCredential[R any](ctx actor.Context, pid *actor.PID, msg credentialRequest[R]) {
	ctx.RequestWithCustomSender(pid, msg, ctx.Sender())
}
