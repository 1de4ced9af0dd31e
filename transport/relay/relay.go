package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/providers"
)

// errBodyLimit caps how much of an upstream error body is read.
const errBodyLimit = 1 << 20

// Defaults of the streaming knobs.
const (
	defaultKeepAlive        = 15 * time.Second
	defaultFirstByteTimeout = 5 * time.Minute
)

// cooldownSyncMax bounds the wait for cooldowns to be durable before a
// limit answer.
const cooldownSyncMax = 2 * time.Second

// Options configure a Relay.
type Options struct {
	// Pool leases the credentials; Upstream calls the provider with them.
	Pool     Pool
	Upstream providers.Upstream
	// QueueTimeout is how long one request waits for credentials in all,
	// however many attempts it takes; 0 means only what is ready now.
	QueueTimeout time.Duration
	// FirstByteTimeout bounds the wait for an upstream's response headers;
	// default 5 min (a non-streamed generation arrives all at once).
	FirstByteTimeout time.Duration
	// KeepAlive is the interval of SSE keep-alive comments while an
	// upstream is silent; default 15 s.
	KeepAlive time.Duration
	// Ending closes when the server's drain deadline is near: open streams
	// end with their codec's terminal bytes. Nil never closes.
	Ending <-chan struct{}
	// Logger receives the relay's warnings; nil discards them.
	Logger *zap.Logger
}

// Relay relays client requests to one provider through its pool. It is
// safe for concurrent use; the only per-request state it keeps is the set
// of open streams the server's Ending must stop.
type Relay struct {
	pool             Pool
	upstream         providers.Upstream
	queueTimeout     time.Duration
	firstByteTimeout time.Duration
	keepAlive        time.Duration
	endings          *endings
	log              *zap.Logger
	// readers and bufs are the stream pump's event reader and output
	// buffer, reused from one stream to the next.
	readers sync.Pool // *sse.Reader
	bufs    sync.Pool // *[]byte
}

// New returns a Relay for o.
func New(o Options) *Relay {
	r := &Relay{pool: o.Pool, upstream: o.Upstream, queueTimeout: o.QueueTimeout,
		firstByteTimeout: o.FirstByteTimeout, keepAlive: o.KeepAlive, endings: newEndings(o.Ending), log: o.Logger}
	if r.firstByteTimeout <= 0 {
		r.firstByteTimeout = defaultFirstByteTimeout
	}
	if r.keepAlive <= 0 {
		r.keepAlive = defaultKeepAlive
	}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	return r
}

// Request is one client request for the attempt loop.
type Request struct {
	Call *providers.Call
	// Affinity keeps a conversation on one credential ("" for none).
	Affinity  string
	RequestID string
	// Record receives the attempts, the outcome and the timings; nil
	// records nothing.
	Record Record
	// Check, when set, inspects a 2xx answer before anything reaches the
	// client (HoldHead is the usual one).
	Check Check
	// Fallbacks are the models that serve the request, in order, while
	// every credential for Call.Model (then for each fallback before) is
	// cooling beyond the request's patience: the pool answers "all
	// cooling" with a reset past the queue deadline. Nil for none.
	Fallbacks []string
	// Retarget builds the call of a fallback model, for surfaces whose
	// upstream body names or depends on the model; nil serves a fallback
	// with a copy of Call whose Model is set.
	Retarget func(model string) (*providers.Call, error)
}

// HeaderServedModel names the model that served a reply: the alias's
// model, or the fallback that took over. Every surface sets it on the
// replies it serves (SetServedModel).
const HeaderServedModel = "X-Pollux-Model"

// HeaderRequestID is the request id's header (echo.HeaderXRequestID) in the
// form net/http stores it, so reading it allocates nothing.
const HeaderRequestID = "X-Request-Id"

// SetServedModel sets HeaderServedModel in h to the model that serves reply.
func SetServedModel(h http.Header, reply *Reply) {
	h.Set(HeaderServedModel, reply.Model())
}

// retarget returns the call of req for the fallback model.
func (req *Request) retarget(model string) (*providers.Call, error) {
	if req.Retarget != nil {
		c, err := req.Retarget(model)
		if err != nil {
			return nil, fmt.Errorf("relay: build the call for fallback model %q: %w", model, err)
		}
		return c, nil
	}
	c := *req.Call
	c.Model = model
	return &c, nil
}

// Check inspects a 2xx answer before anything reaches the client. It
// returns the response to serve (its body may replay what Check read), or a
// *Rejection: the attempt fails and, while a retry is left, another
// credential is tried. Any other error fails the attempt as a transient
// upstream failure.
type Check func(resp *http.Response) (*http.Response, error)

// Rejection is a Check's verdict against an attempt: the outcome reported
// for its credential and what the client is told if no other credential
// serves (the surface's own error; the surface finds it again with
// errors.As on the *Failure).
type Rejection struct {
	Outcome providers.Outcome
	Err     error
}

func (r *Rejection) Error() string {
	return fmt.Sprintf("attempt rejected (%s %s): %v", r.Outcome.Kind, r.Outcome.Reason, r.Err)
}

// Unwrap returns the client's error.
func (r *Rejection) Unwrap() error { return r.Err }

// Failure is the upstream answer a request ended on: a client error
// (returned as the upstream sent it), the last of the retryable failures,
// or a rejection by the request's Check.
type Failure struct {
	// Status, Header and Body are the upstream's answer (Body capped at
	// 1 MiB); Status is 502 and Body empty when the upstream was
	// unreachable or Check rejected the answer.
	Status int
	Header http.Header
	Body   []byte
	// Outcome is the verdict on the last attempt, its RetryAt moved to the
	// earliest reset this request met.
	Outcome  providers.Outcome
	Attempts int
	// Err is the Rejection's client error when Check rejected the last
	// attempt; nil otherwise.
	Err error
}

func (f *Failure) Error() string {
	return fmt.Sprintf("upstream answered %d (%s %s) after %d attempt(s)", f.Status, f.Outcome.Kind, f.Outcome.Reason, f.Attempts)
}

// Unwrap returns the rejection's client error, if any.
func (f *Failure) Unwrap() error { return f.Err }

// Kind is the client's error kind of f (FailureKind).
func (f *Failure) Kind() ErrorKind { return FailureKind(f.Outcome, f.Status) }

// RetryAfter is how long the client should wait after f.
func (f *Failure) RetryAfter() time.Duration { return RetryAfter(f.Outcome) }

// Do is the attempt loop: acquire a credential, call upstream, classify,
// report, and try another credential while the retry decision allows and
// nothing has reached the client. When the pool answers that every
// credential for the model is cooling beyond the request's patience, the
// request moves on to its next fallback model (Request.Fallbacks) with what
// is left of its queue deadline and its retry budget. It returns the first
// accepted 2xx answer, or the error to answer: *Failure, *Error, or the
// context's error when the client went away.
func (r *Relay) Do(ctx context.Context, req Request) (_ *Reply, err error) {
	if req.Record == nil {
		req.Record = Discard
	}
	// cooled are the credentials whose limits this request met: when the
	// answer is a failure, their cooldowns are made durable first.
	var cooled []int64
	defer func() {
		if err != nil && len(cooled) > 0 {
			r.syncCooldowns(ctx, req.RequestID, cooled)
		}
	}()
	var (
		last  *Failure
		retry = retries{budget: r.pool.RetryMax()}
		// earliest is the soonest reset among this request's rate-limit
		// failures: when every credential was tried, the client is told to
		// come back then, not at the reset of whichever failed last.
		earliest time.Time
	)
	// chain are the fallback models not yet tried; chainReset is the
	// earliest reset of the models left behind for them.
	chain := req.Fallbacks
	var chainReset time.Time
	queueDeadline := time.Now().Add(r.queueTimeout)
	for n := 1; ; n++ {
		wait := time.Until(queueDeadline)
		if wait <= 0 {
			wait = time.Nanosecond // only what is ready now
		}
		lease, err := r.pool.Acquire(ctx, req.Call.Model, actors.AcquireOptions{
			Exclude: retry.exclude, Affinity: req.Affinity, Prefer: retry.prefer, RequestID: req.RequestID, Wait: wait,
		})
		if err != nil {
			var ue *actors.UnavailableError
			isUnavailable := errors.As(err, &ue)
			if isUnavailable && ue.Reason == actors.AllCooling && len(chain) > 0 && ctx.Err() == nil {
				// Every credential for this model cools beyond the
				// request's patience: the next model of the chain serves.
				chainReset = earlier(chainReset, ue.RetryAt)
				call, berr := req.retarget(chain[0])
				if berr != nil {
					return nil, &Error{Kind: KindInternal, Err: berr}
				}
				req.Record.FellBack(req.Call.Model, call.Model)
				r.log.Debug("relay: falling back to the next model",
					zap.String("request_id", req.RequestID), zap.String("model", req.Call.Model),
					zap.String("fallback", call.Model), zap.Time("reset", ue.RetryAt))
				req.Call, chain = call, chain[1:]
				n-- // no attempt was made
				continue
			}
			if isUnavailable && !chainReset.IsZero() {
				// The whole chain is out: the client comes back at the
				// earliest reset of any of its models.
				at := chainReset
				if ue.Reason == actors.AllCooling {
					at = earlier(at, ue.RetryAt)
				}
				err = &actors.UnavailableError{Reason: actors.AllCooling, RetryAt: at}
			}
			return nil, acquireError(ctx, err, withEarliestReset(last, earliest))
		}
		reply, failure, err := r.attempt(ctx, req, lease)
		pick := ""
		if r.log.Core().Enabled(zap.DebugLevel) {
			pick = lease.Pick
		}
		req.Record.Attempted(lease.Grant.CredentialID, n, pick)
		switch {
		case err != nil:
			req.Record.Outcome(providers.KindAbandoned)
			return nil, err
		case reply != nil:
			reply.Attempts = n
			req.Record.Served(lease.Model)
			return reply, nil
		}
		failure.Attempts = n
		last = failure
		kind := failure.Outcome.Kind
		if limitKind(kind) {
			cooled = append(cooled, lease.Grant.CredentialID)
			if at := failure.Outcome.RetryAt; !at.IsZero() && (earliest.IsZero() || at.Before(earliest)) {
				earliest = at
			}
		}
		req.Record.Outcome(kind)
		if !retry.again(lease.Grant.CredentialID, kind) {
			return nil, failure
		}
		req.Record.Failover(kind)
		r.log.Debug("relay: retrying on another credential",
			zap.String("request_id", req.RequestID), zap.Int("attempt", n),
			zap.Int64("credential_id", lease.Grant.CredentialID), zap.String("outcome", kind.String()),
			zap.Int("upstream_status", failure.Status), zap.String("pick", lease.Pick))
	}
}

var errFirstByteTimeout = errors.New("no response from upstream before the first-byte deadline")

// attempt makes one upstream call with one lease. It reports the lease
// itself unless it returns a reply (whose Finish reports it).
func (r *Relay) attempt(ctx context.Context, req Request, lease *actors.Lease) (*Reply, *Failure, error) {
	actx, cancel := context.WithCancelCause(ctx)
	// The first byte must come within firstByteTimeout; a live stream then
	// has no deadline.
	firstByte := time.AfterFunc(r.firstByteTimeout, func() { cancel(errFirstByteTimeout) })
	sent := time.Now()
	resp, err := r.upstream.Send(actx, lease.Grant, req.Call)
	firstByte.Stop()
	if err != nil {
		cause := context.Cause(actx)
		cancel(nil)
		if ctx.Err() != nil {
			r.pool.Report(lease, providers.Outcome{Kind: providers.KindAbandoned})
			return nil, nil, ctx.Err()
		}
		o := providers.Outcome{Kind: providers.KindTransient, Reason: "transport_error"}
		if errors.Is(cause, errFirstByteTimeout) {
			o.Reason = "first_byte_timeout"
		}
		r.pool.Report(lease, o)
		r.log.Warn("relay: upstream unreachable", zap.String("request_id", req.RequestID), zap.Error(err))
		return nil, &Failure{Status: http.StatusBadGateway, Outcome: o}, nil
	}
	headers := time.Now()
	req.Record.Answered(headers.Sub(sent))
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, errBodyLimit))
		_ = resp.Body.Close()
		cancel(nil)
		o := r.upstream.Classify(resp.StatusCode, resp.Header, body)
		r.pool.Report(lease, o)
		return nil, &Failure{Status: resp.StatusCode, Header: resp.Header, Body: body, Outcome: o}, nil
	}
	if req.Check != nil {
		status := resp.StatusCode
		accepted, err := req.Check(resp)
		if err != nil {
			_ = resp.Body.Close()
			cancel(nil)
			if ctx.Err() != nil {
				r.pool.Report(lease, providers.Outcome{Kind: providers.KindAbandoned})
				return nil, nil, ctx.Err()
			}
			f := &Failure{Status: http.StatusBadGateway,
				Outcome: providers.Outcome{Kind: providers.KindTransient, Status: status, Reason: "stream_failed_before_output"}}
			var rej *Rejection
			if errors.As(err, &rej) {
				f.Outcome, f.Err = rej.Outcome, rej.Err
			}
			r.pool.Report(lease, f.Outcome)
			return nil, f, nil
		}
		resp = accepted
	}
	req.Record.FirstByte(headers)
	return &Reply{Resp: resp, Lease: lease, relay: r, cancel: cancel, record: req.Record, reqID: req.RequestID, sent: sent,
		outcome: providers.Outcome{Kind: providers.KindAbandoned}}, nil, nil
}

// syncCooldowns waits (briefly) until the cooldowns that decided the
// client's answer are committed, so a crash right after the answer does not
// forget them.
func (r *Relay) syncCooldowns(ctx context.Context, reqID string, ids []int64) {
	cs, ok := r.pool.(CooldownSyncer)
	if !ok || ctx.Err() != nil {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, cooldownSyncMax)
	defer cancel()
	if err := cs.SyncCooldowns(sctx, ids); err != nil {
		r.log.Warn("relay: cooldowns not yet durable", zap.String("request_id", reqID), zap.Error(err))
	}
}

// earlier returns the earlier of two resets, a zero one counting as none.
func earlier(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// withEarliestReset returns f with its reset moved to earliest when f is a
// limit that resets later.
func withEarliestReset(f *Failure, earliest time.Time) *Failure {
	if f == nil || earliest.IsZero() || !limitKind(f.Outcome.Kind) || !f.Outcome.RetryAt.After(earliest) {
		return f
	}
	g := *f
	g.Outcome.RetryAt = earliest
	return &g
}

// acquireError turns a failed Acquire into the client's answer. When earlier
// attempts failed and no other credential is left, the last upstream failure
// is the more useful answer.
func acquireError(ctx context.Context, err error, last *Failure) error {
	var ue *actors.UnavailableError
	switch {
	case errors.As(err, &ue) && ue.Reason == actors.AllCooling && last != nil && limitKind(last.Outcome.Kind):
		// The upstream's own limit answer says more (the Codex CLI shows its
		// usage-limit fields), told with the pool's earliest reset.
		return withEarliestReset(last, ue.RetryAt)
	case errors.As(err, &ue) && ue.Reason == actors.AllCooling:
		wait := time.Until(ue.RetryAt)
		return &Error{Kind: KindRateLimited, RetryAfter: wait,
			Message: fmt.Sprintf("every credential for this model is rate-limited; the earliest is ready in %s", roundUp(wait)), Err: err}
	case errors.As(err, &ue) && last != nil:
		return last
	case errors.As(err, &ue):
		return &Error{Kind: KindUnavailable, Message: "no usable credential for this model: add credentials or check their status", Err: err}
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, actors.ErrStopped):
		return &Error{Kind: KindUnavailable, Message: "the gateway is shutting down", Err: err}
	}
	return &Error{Kind: KindInternal, Err: err}
}

func roundUp(d time.Duration) time.Duration {
	if d < time.Second {
		return time.Second
	}
	return d.Round(time.Second)
}
