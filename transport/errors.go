package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pollux-gateway/pollux/transport/gemini"
	"github.com/pollux-gateway/pollux/transport/openai"
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

// Status returns the HTTP status of k. It is the one map from internal error
// kinds to HTTP statuses.
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
		return statusClientClosed
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

// statusClientClosed is nginx's non-standard status for a request the client
// abandoned; it only ever reaches the access log.
const statusClientClosed = 499

// Error is a failure to report to the client. Message is sent to the client
// as is, so it must not hold secrets or upstream bodies; Err is the cause, for
// logs only.
type Error struct {
	Kind    ErrorKind
	Message string
	// RetryAfter, when positive, is sent as Retry-After (whole seconds,
	// rounded up). A KindRateLimited error always carries at least 1 s.
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

// problem is what a client is told about an error.
type problem struct {
	status     int
	message    string
	retryAfter time.Duration
}

// problemOf turns any handler error into what the client sees. Only *Error
// messages and *echo.HTTPError messages (written by our handlers and Echo's
// router) reach the client; any other error becomes a bare 500.
func problemOf(err error) problem {
	var (
		te  *Error
		mbe *http.MaxBytesError
		he  *echo.HTTPError
	)
	switch {
	case errors.As(err, &te):
		msg := te.Message
		if msg == "" {
			msg = te.Kind.String()
		}
		return problem{status: te.Kind.Status(), message: msg, retryAfter: te.RetryAfter}
	case errors.As(err, &mbe):
		return problem{
			status:  KindTooLarge.Status(),
			message: fmt.Sprintf("request body is larger than %d bytes", mbe.Limit),
		}
	case errors.Is(err, context.Canceled):
		return problem{status: KindCanceled.Status(), message: KindCanceled.String()}
	case errors.Is(err, context.DeadlineExceeded):
		return problem{status: KindTimeout.Status(), message: KindTimeout.String()}
	case errors.As(err, &he):
		msg, _ := he.Message.(string)
		if msg == "" || msg == http.StatusText(he.Code) {
			// Echo's own errors (unknown route, wrong method) carry the
			// capitalised status text; keep the house lower case.
			msg = strings.ToLower(http.StatusText(he.Code))
		}
		return problem{status: he.Code, message: msg}
	}
	return problem{status: KindInternal.Status(), message: KindInternal.String()}
}

// retryAfterSecs is the Retry-After value for a status, 0 (no header) when
// unknown, except on a 429: there whole seconds rounded down, at least 1.
// A 429's wait is an upstream-stated reset, often already rounded up to a
// whole second; rounding up again would tell the client up to two seconds
// too late, while a client back early only waits in the queue for the few
// hundred milliseconds left (issue 9: a Retry-After within +1 s of the
// truth). Other statuses round up.
func retryAfterSecs(status int, d time.Duration) int {
	if status == http.StatusTooManyRequests {
		return max(1, int(d/time.Second))
	}
	return max(0, int((d+time.Second-1)/time.Second))
}

// surface is the client protocol a path belongs to; it picks the error
// envelope and whether the key is required.
type surface uint8

const (
	surfacePlain  surface = iota // everything else: /healthz, /readyz, ...
	surfaceGemini                // /geminicli/...
	surfaceOpenAI                // /codex/...
)

// Path prefixes of the surfaces.
const (
	geminiRoot = "/geminicli"
	openAIRoot = "/codex"
)

// surfaceOf returns the surface of a request path (as routed: escaped).
func surfaceOf(path string) surface {
	switch {
	case hasPathPrefix(path, geminiRoot):
		return surfaceGemini
	case hasPathPrefix(path, openAIRoot):
		return surfaceOpenAI
	}
	return surfacePlain
}

// hasPathPrefix reports whether path is prefix or lies below it.
func hasPathPrefix(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// writeError answers the request with err in the envelope of the request's
// surface. The response must not be committed yet.
func writeError(c echo.Context, err error) error {
	p := problemOf(err)
	w := c.Response()
	secs := retryAfterSecs(p.status, p.retryAfter)
	switch surfaceOf(echo.GetPath(c.Request())) {
	case surfaceGemini:
		return gemini.WriteError(w, p.status, p.message, secs)
	case surfaceOpenAI:
		return openai.WriteError(w, p.status, p.message, secs)
	}
	return writePlainError(w, p.status, p.message, secs)
}

// plainError is the envelope of paths outside the API surfaces:
//
//	{"error":{"status":404,"message":"not found"}}
type plainError struct {
	Error plainErrorBody `json:"error"`
}

type plainErrorBody struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
}

func writePlainError(w http.ResponseWriter, status int, message string, retryAfterSecs int) error {
	body, err := json.Marshal(plainError{Error: plainErrorBody{Status: status, Message: message}})
	if err != nil {
		return fmt.Errorf("transport: encode error: %w", err)
	}
	h := w.Header()
	h.Set(echo.HeaderContentType, contentTypeJSON)
	h.Set(echo.HeaderXContentTypeOptions, "nosniff")
	if retryAfterSecs > 0 {
		h.Set(echo.HeaderRetryAfter, strconv.Itoa(retryAfterSecs))
	}
	w.WriteHeader(status)
	_, err = w.Write(body)
	return err
}

// contentTypeJSON is the Content-Type of every JSON body Pollux writes itself.
const contentTypeJSON = "application/json; charset=utf-8"
