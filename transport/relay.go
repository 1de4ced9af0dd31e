package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/providers"
)

// Pool is what the HTTP surfaces need of one provider's credential pool;
// *actors.Pool implements it.
type Pool interface {
	Acquire(ctx context.Context, model string, o actors.AcquireOptions) (*actors.Lease, error)
	Report(l *actors.Lease, o providers.Outcome)
	RetryMax() int
	QueueTimeout() time.Duration
	Ingest(ctx context.Context, seeds []providers.Credential) (*actors.IngestStarted, error)
	Job(ctx context.Context, id string, wait bool) (*actors.JobStatus, error)
}

// limitRetries is how many times one request may go back to a credential
// that answered with a limit (429) once its cooldown has ended; after that
// the credential is excluded for the request. Together with the exclusion
// of every other failed credential and the retry budget for failures that
// are not the credential's own, it bounds the attempts of one request by
// the pool's size, not by a constant (issue 9: a request gave up after 32
// 429s while 41 accounts still had quota).
const limitRetries = 1

// maxAuthRetries is how many times one request goes back to a credential
// that answered 401, waiting for its refresh; counted per credential, and
// not against retry_max_times: after a mass expiry every credential answers
// 401 once, and the request must outlast the refreshes, not give up.
const maxAuthRetries = 2

// errBodyLimit caps how much of an upstream error body is read.
const errBodyLimit = 1 << 20

// relayCall is one client request for the attempt loop.
type relayCall struct {
	pool     Pool
	upstream providers.Upstream
	call     *providers.Call
	affinity string
	reqID    string
	// accept, when set, inspects a 2xx response before anything reaches the
	// client. It returns the response to use (it may wrap the body to replay
	// what it peeked) or a retryable Outcome that rejects this attempt (an
	// overload event at the head of a stream).
	accept func(resp *http.Response) (*http.Response, *providers.Outcome, error)
	// info and pm, when set, receive the request's attempts, outcome and
	// timings (access log, metrics).
	info *requestInfo
	pm   *providerMetrics
}

// upstreamReply is a successful upstream response on a leased credential.
// The handler must call finish exactly once.
type upstreamReply struct {
	resp     *http.Response
	lease    *actors.Lease
	pool     Pool
	cancel   context.CancelCauseFunc
	attempts int
	done     bool
	// windows are the account's usage windows read from the response
	// headers; finish hands them to the credential.
	windows []providers.QuotaWindow

	info *requestInfo
	pm   *providerMetrics
	// sent is when the serving attempt's upstream call began.
	sent      time.Time
	seenEvent bool
	// input and output are the reply's usage tokens (setUsage).
	input, output int64
}

// usageRecorder is the optional pool capability of keeping usage rows;
// *actors.Pool implements it.
type usageRecorder interface {
	RecordUsage(credentialID int64, model string, input, output int64)
}

var _ usageRecorder = (*actors.Pool)(nil)

// firstEvent notes the reply's first streamed event: the upstream's time to
// first byte, and the client's.
func (r *upstreamReply) firstEvent() {
	if r == nil || r.seenEvent {
		return
	}
	r.seenEvent = true
	now := time.Now()
	r.pm.firstEvent(now.Sub(r.sent))
	r.info.firstByte(now)
}

// setUsage notes the reply's token usage, counted by finish.
func (r *upstreamReply) setUsage(input, output int64) {
	r.input, r.output = input, output
}

// finish closes the response and reports the lease's outcome.
func (r *upstreamReply) finish(o providers.Outcome) {
	if r.done {
		return
	}
	r.done = true
	_ = r.resp.Body.Close()
	r.cancel(nil)
	if o.Windows == nil {
		o.Windows = r.windows
	}
	r.pool.Report(r.lease, o)
	r.info.setOutcome(o.Kind)
	if o.Kind == providers.KindOK || r.input+r.output > 0 {
		r.pm.addTokens(r.info.keyName(), r.lease.Model, r.input, r.output)
		if ur, ok := r.pool.(usageRecorder); ok {
			ur.RecordUsage(r.lease.Grant.CredentialID, r.lease.Model, r.input, r.output)
		}
	}
}

// upstreamFailure is the upstream answer a request ended on: a client error
// (returned as the upstream sent it) or the last of the retryable failures.
type upstreamFailure struct {
	status   int
	header   http.Header
	body     []byte
	outcome  providers.Outcome
	attempts int
}

func (f *upstreamFailure) Error() string {
	return fmt.Sprintf("upstream answered %d (%s %s) after %d attempt(s)", f.status, f.outcome.Kind, f.outcome.Reason, f.attempts)
}

// budgeted reports whether a failure of this kind uses up the configured
// retry_max_times. Failures that belong to one credential (its limits, its
// account) do not: another credential may well serve, and each credential is
// tried at most once per request.
func budgeted(k providers.Kind) bool {
	switch k {
	case providers.KindTransient, providers.KindOverloaded:
		return true
	case providers.KindOK, providers.KindAuthExpired, providers.KindRateLimited, providers.KindQuotaExhausted, providers.KindAuthRevoked,
		providers.KindBanned, providers.KindIneligible, providers.KindModelUnsupported, providers.KindBadRequest,
		providers.KindAbandoned:
	}
	return false
}

// relay is the attempt loop: acquire a credential, call upstream, classify,
// report, and try another credential while the failure is retryable and
// nothing has reached the client. It returns the first 2xx response, or the
// error to answer: *upstreamFailure, *Error, or the context's error when the
// client went away.
func (s *Server) relay(ctx context.Context, rc relayCall) (_ *upstreamReply, err error) {
	// cooled are the credentials whose limits this request met: when the
	// answer is a failure, their cooldowns are made durable first.
	var cooled []int64
	defer func() {
		if err != nil && len(cooled) > 0 {
			s.syncCooldowns(ctx, rc, cooled)
		}
	}()
	var (
		exclude []int64
		prefer  int64
		last    *upstreamFailure
		retries int
		// refreshes counts, per credential, the 401s this request met.
		refreshes map[int64]int
		// limited counts the limit answers per credential: a credential
		// that answered 429 is not excluded at once (its cooldown keeps
		// it off until its reset; then this request may be served there).
		limited map[int64]int
		// earliest is the soonest reset among this request's rate-limit
		// failures: when every credential was tried, the client is told to
		// come back then, not at the reset of whichever failed last.
		earliest time.Time
	)
	retryMax := rc.pool.RetryMax()
	// The request waits for credentials for the queue timeout in all,
	// however many attempts it takes.
	queueDeadline := time.Now().Add(rc.pool.QueueTimeout())
	for attempt := 1; ; attempt++ {
		wait := time.Until(queueDeadline)
		if wait <= 0 {
			wait = time.Nanosecond // only what is ready now
		}
		lease, err := rc.pool.Acquire(ctx, rc.call.Model, actors.AcquireOptions{
			Exclude: exclude, Affinity: rc.affinity, Prefer: prefer, RequestID: rc.reqID, Wait: wait,
		})
		if err != nil {
			return nil, s.acquireError(ctx, err, withEarliestReset(last, earliest))
		}
		reply, failure, err := s.attempt(ctx, rc, lease)
		rc.info.attempted(lease.Grant.CredentialID, attempt)
		if s.log.Core().Enabled(zap.DebugLevel) {
			rc.info.picked(lease.Pick)
		}
		switch {
		case err != nil:
			rc.info.setOutcome(providers.KindAbandoned)
			return nil, err
		case reply != nil:
			reply.attempts = attempt
			return reply, nil
		}
		failure.attempts = attempt
		last = failure
		if at := failure.outcome.RetryAt; limitKind(failure.outcome.Kind) && !at.IsZero() && (earliest.IsZero() || at.Before(earliest)) {
			earliest = at
		}
		kind := failure.outcome.Kind
		if limitKind(kind) {
			cooled = append(cooled, lease.Grant.CredentialID)
		}
		rc.info.setOutcome(kind)
		if !kind.Retryable() {
			return nil, failure
		}
		prefer = 0
		if kind == providers.KindAuthExpired && refreshes[lease.Grant.CredentialID] < maxAuthRetries {
			// The credential refreshes now. Prefer it: if another credential
			// is ready the scheduler grants that one at once, otherwise this
			// request waits for the refresh instead of failing. A second
			// round is allowed: the token that was just rejected may have
			// been refreshed already before whatever invalidated it.
			if refreshes == nil {
				refreshes = make(map[int64]int, 4)
			}
			refreshes[lease.Grant.CredentialID]++
			prefer = lease.Grant.CredentialID
		} else if id := lease.Grant.CredentialID; limitKind(kind) && kind != providers.KindOverloaded && limited[id] < limitRetries {
			// The credential cools until its reset; the scheduler keeps it
			// off until then and may hand it back to this request after.
			if limited == nil {
				limited = make(map[int64]int)
			}
			limited[id]++
		} else {
			exclude = append(exclude, lease.Grant.CredentialID)
		}
		if budgeted(kind) {
			retries++
			if retries > retryMax {
				return nil, failure
			}
		}
		rc.pm.failover(kind)
		s.log.Debug("relay: retrying on another credential",
			zap.String(keyRequestID, rc.reqID), zap.Int("attempt", attempt),
			zap.Int64("credential_id", lease.Grant.CredentialID), zap.String("outcome", kind.String()),
			zap.Int("upstream_status", failure.status))
	}
}

// attempt makes one upstream call with one lease. It reports the lease
// itself unless it returns a reply (whose finish reports it).
func (s *Server) attempt(ctx context.Context, rc relayCall, lease *actors.Lease) (*upstreamReply, *upstreamFailure, error) {
	actx, cancel := context.WithCancelCause(ctx)
	// The first byte must come within firstByteTimeout; a live stream then
	// has no deadline.
	firstByte := time.AfterFunc(s.firstByteTimeout, func() { cancel(errFirstByteTimeout) })
	sent := time.Now()
	resp, err := rc.upstream.Send(actx, lease.Grant, rc.call)
	firstByte.Stop()
	if err != nil {
		cause := context.Cause(actx)
		cancel(nil)
		if ctx.Err() != nil {
			rc.pool.Report(lease, providers.Outcome{Kind: providers.KindAbandoned})
			return nil, nil, ctx.Err()
		}
		o := providers.Outcome{Kind: providers.KindTransient, Reason: "transport_error"}
		if errors.Is(cause, errFirstByteTimeout) {
			o.Reason = "first_byte_timeout"
		}
		rc.pool.Report(lease, o)
		s.log.Warn("relay: upstream unreachable", zap.String(keyRequestID, rc.reqID), zap.Error(err))
		return nil, &upstreamFailure{status: http.StatusBadGateway, outcome: o}, nil
	}
	headers := time.Now()
	rc.pm.upstreamAnswered(headers.Sub(sent))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if rc.accept != nil {
			accepted, reject, err := rc.accept(resp)
			if err != nil || reject != nil {
				_ = resp.Body.Close()
				cancel(nil)
				if ctx.Err() != nil {
					rc.pool.Report(lease, providers.Outcome{Kind: providers.KindAbandoned})
					return nil, nil, ctx.Err()
				}
				o := providers.Outcome{Kind: providers.KindTransient, Status: resp.StatusCode, Reason: "stream_failed_before_output"}
				if reject != nil {
					o = *reject
				}
				rc.pool.Report(lease, o)
				return nil, &upstreamFailure{status: http.StatusBadGateway, outcome: o}, nil
			}
			resp = accepted
		}
		rc.info.firstByte(headers)
		return &upstreamReply{resp: resp, lease: lease, pool: rc.pool, cancel: cancel,
			info: rc.info, pm: rc.pm, sent: sent}, nil, nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, errBodyLimit))
	_ = resp.Body.Close()
	cancel(nil)
	o := rc.upstream.Classify(resp.StatusCode, resp.Header, body)
	rc.pool.Report(lease, o)
	return nil, &upstreamFailure{status: resp.StatusCode, header: resp.Header, body: body, outcome: o}, nil
}

// cooldownSyncer is the optional Pool method that makes cooldowns durable.
type cooldownSyncer interface {
	SyncCooldowns(ctx context.Context, ids []int64) error
}

// cooldownSyncMax bounds the wait for cooldowns to be durable before a
// limit answer.
const cooldownSyncMax = 2 * time.Second

// syncCooldowns waits (briefly) until the cooldowns that decided the
// client's answer are committed, so a crash right after the answer does not
// forget them.
func (s *Server) syncCooldowns(ctx context.Context, rc relayCall, ids []int64) {
	cs, ok := rc.pool.(cooldownSyncer)
	if !ok || ctx.Err() != nil {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, cooldownSyncMax)
	defer cancel()
	if err := cs.SyncCooldowns(sctx, ids); err != nil {
		s.log.Warn("relay: cooldowns not yet durable", zap.String(keyRequestID, rc.reqID), zap.Error(err))
	}
}

// limitKind reports whether an outcome is a limit with a reset time.
func limitKind(k providers.Kind) bool {
	return k == providers.KindRateLimited || k == providers.KindQuotaExhausted || k == providers.KindOverloaded
}

// withEarliestReset returns f with its reset moved to earliest when f is a
// limit that resets later.
func withEarliestReset(f *upstreamFailure, earliest time.Time) *upstreamFailure {
	if f == nil || earliest.IsZero() || !limitKind(f.outcome.Kind) || !f.outcome.RetryAt.After(earliest) {
		return f
	}
	g := *f
	g.outcome.RetryAt = earliest
	return &g
}

var errFirstByteTimeout = errors.New("no response from upstream before the first-byte deadline")

// acquireError turns a failed Acquire into the client's answer. When earlier
// attempts failed and no other credential is left, the last upstream failure
// is the more useful answer.
func (s *Server) acquireError(ctx context.Context, err error, last *upstreamFailure) error {
	var ue *actors.UnavailableError
	switch {
	case errors.As(err, &ue) && ue.Reason == actors.AllCooling && last != nil && limitKind(last.outcome.Kind):
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

// failureKind maps the outcome of a final upstream failure to the client's
// error kind, for surfaces that do not pass the upstream body through.
func failureKind(f *upstreamFailure) ErrorKind {
	switch f.outcome.Kind {
	case providers.KindRateLimited, providers.KindQuotaExhausted:
		return KindRateLimited
	case providers.KindBadRequest:
		switch f.status {
		case http.StatusNotFound:
			return KindNotFound
		case http.StatusRequestEntityTooLarge:
			return KindTooLarge
		}
		return KindInvalidArgument
	case providers.KindModelUnsupported:
		return KindNotFound
	case providers.KindOverloaded:
		// Every credential met the upstream's capacity limit: the service
		// is briefly unavailable (503 + Retry-After), as on the OpenAI
		// surface; not a broken upstream.
		return KindUnavailable
	case providers.KindTransient, providers.KindAuthExpired, providers.KindAuthRevoked,
		providers.KindBanned, providers.KindIneligible, providers.KindOK, providers.KindAbandoned:
	}
	return KindUpstream
}

// failureRetryAfter is how long a client should wait after f.
func failureRetryAfter(f *upstreamFailure) time.Duration {
	if f.outcome.RetryAt.IsZero() {
		if f.outcome.Kind == providers.KindOverloaded {
			return overloadRetryAfter
		}
		return 0
	}
	return time.Until(f.outcome.RetryAt)
}

// overloadRetryAfter is the Retry-After of an overload the upstream gave no
// reset time for (the pool's own overload cooldown is a few seconds).
const overloadRetryAfter = 5 * time.Second
