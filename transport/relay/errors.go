package relay

import (
	"net/http"
	"time"

	"github.com/pollux-gateway/pollux/providers"
)

// ErrorKind classifies a failure the way a client should see it. Its
// zero value is KindInternal, so an unset kind fails safe.
type ErrorKind uint8

// The error kinds. Status gives each one's HTTP status.
const (
	KindInternal         ErrorKind = iota // 500: a bug or an unexpected failure
	KindInvalidArgument                   // 400: the request is malformed
	KindUnauthenticated                   // 401: missing or wrong API key
	KindPermissionDenied                  // 403: the key may not do this
	KindNotFound                          // 404: unknown model or resource
	KindTooLarge                          // 413: request body over the limit
	KindRateLimited                       // 429: every credential is cooling; carries RetryAfter
	KindCanceled                          // 499: the client went away (logged, never blamed on upstream)
	KindUpstream                          // 502: the upstream failed and no retry was left
	KindUnavailable                       // 503: no usable credential, or shutting down
	KindTimeout                           // 504: no credential or first byte before the deadline
	KindConflict                          // 409: the change conflicts with existing state (a taken name)
)

// StatusClientClosed is nginx's non-standard status for a request the
// client abandoned; it only ever reaches the access log.
const StatusClientClosed = 499

// Status returns the HTTP status of k. It is the one map from error kinds
// to HTTP statuses.
func (k ErrorKind) Status() int {
	switch k {
	case KindInvalidArgument:
		return http.StatusBadRequest
	case KindUnauthenticated:
		return http.StatusUnauthorized
	case KindPermissionDenied:
		return http.StatusForbidden
	case KindNotFound:
		return http.StatusNotFound
	case KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case KindRateLimited:
		return http.StatusTooManyRequests
	case KindCanceled:
		return StatusClientClosed
	case KindUpstream:
		return http.StatusBadGateway
	case KindUnavailable:
		return http.StatusServiceUnavailable
	case KindTimeout:
		return http.StatusGatewayTimeout
	case KindConflict:
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// String names k; it is also the client message of an Error without one.
func (k ErrorKind) String() string {
	switch k {
	case KindInvalidArgument:
		return "invalid argument"
	case KindUnauthenticated:
		return "unauthenticated"
	case KindPermissionDenied:
		return "permission denied"
	case KindNotFound:
		return "not found"
	case KindTooLarge:
		return "request too large"
	case KindRateLimited:
		return "rate limited"
	case KindCanceled:
		return "client closed request"
	case KindUpstream:
		return "upstream error"
	case KindUnavailable:
		return "service unavailable"
	case KindTimeout:
		return "timeout"
	case KindConflict:
		return "conflict"
	}
	return "internal error"
}

// Error is a failure to report to the client, in the envelope of the
// surface that serves the request. Message is sent to the client as is, so
// it must not hold secrets or upstream bodies; Err is the cause, for logs
// only.
type Error struct {
	Kind    ErrorKind
	Message string
	// RetryAfter, when positive, is sent as Retry-After (RetryAfterSecs).
	// A KindRateLimited error always carries at least 1 s.
	RetryAfter time.Duration
	Err        error
}

// Error implements error.
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Kind.String()
	}
	if e.Err == nil {
		return msg
	}
	return msg + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// RetryAfterSecs is the Retry-After value for a status, 0 (no header) when
// unknown, except on a 429: there whole seconds rounded down, at least 1.
// A 429's wait is an upstream-stated reset, often already rounded up to a
// whole second; rounding up again would tell the client up to two seconds
// too late, while a client back early only waits in the queue for the few
// hundred milliseconds left (issue 9: a Retry-After within +1 s of the
// truth). Other statuses round up. (A member key's own limit is rounded up
// to whole seconds before it gets here: a client back early at a key limit
// is refused again.)
func RetryAfterSecs(status int, d time.Duration) int {
	if status == http.StatusTooManyRequests {
		return max(1, int(d/time.Second))
	}
	return max(0, int((d+time.Second-1)/time.Second))
}

// FailureKind is the one map from the outcome of a final upstream failure
// (and the upstream's status, 0 inside a stream) to the client's error kind.
func FailureKind(o providers.Outcome, upstreamStatus int) ErrorKind {
	switch o.Kind {
	case providers.KindRateLimited, providers.KindQuotaExhausted:
		return KindRateLimited
	case providers.KindBadRequest:
		switch upstreamStatus {
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
		// is briefly unavailable (503 + Retry-After), not a broken upstream.
		return KindUnavailable
	case providers.KindTransient, providers.KindAuthExpired, providers.KindAuthRevoked,
		providers.KindBanned, providers.KindIneligible, providers.KindOK, providers.KindAbandoned:
	}
	return KindUpstream
}

// PassThroughStatus is FailureKind's status for surfaces that hand the
// upstream's own client errors through: a failure that is the client's
// (a bad request, an unsupported model) keeps the upstream's 4xx, or is a
// 400 when it came inside a stream.
func PassThroughStatus(o providers.Outcome, upstreamStatus int) int {
	switch o.Kind {
	case providers.KindBadRequest, providers.KindModelUnsupported:
		if upstreamStatus >= 400 && upstreamStatus < 500 {
			return upstreamStatus
		}
		return http.StatusBadRequest
	case providers.KindOK, providers.KindAuthExpired, providers.KindAuthRevoked, providers.KindBanned,
		providers.KindIneligible, providers.KindTransient, providers.KindAbandoned,
		providers.KindRateLimited, providers.KindQuotaExhausted, providers.KindOverloaded:
	}
	return FailureKind(o, upstreamStatus).Status()
}

// overloadRetryAfter is the Retry-After of an overload the upstream gave no
// reset time for (the pool's own overload cooldown is a few seconds).
const overloadRetryAfter = 5 * time.Second

// RetryAfter is how long a client should wait after a final failure with
// outcome o.
func RetryAfter(o providers.Outcome) time.Duration {
	if o.RetryAt.IsZero() {
		if o.Kind == providers.KindOverloaded {
			return overloadRetryAfter
		}
		return 0
	}
	return time.Until(o.RetryAt)
}
