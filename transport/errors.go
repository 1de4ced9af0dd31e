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
	"github.com/pollux-gateway/pollux/transport/messages"
	"github.com/pollux-gateway/pollux/transport/relay"
	"github.com/pollux-gateway/pollux/transport/responses"
)

// ErrorKind, Error and the kinds are the relay's (relay.ErrorKind: the one
// map from error kinds to HTTP statuses); the names here keep the root's
// handlers short.
type (
	ErrorKind = relay.ErrorKind
	Error     = relay.Error
)

// The error kinds.
const (
	KindInternal         = relay.KindInternal
	KindInvalidArgument  = relay.KindInvalidArgument
	KindUnauthenticated  = relay.KindUnauthenticated
	KindPermissionDenied = relay.KindPermissionDenied
	KindNotFound         = relay.KindNotFound
	KindTooLarge         = relay.KindTooLarge
	KindRateLimited      = relay.KindRateLimited
	KindCanceled         = relay.KindCanceled
	KindUpstream         = relay.KindUpstream
	KindUnavailable      = relay.KindUnavailable
	KindTimeout          = relay.KindTimeout
	KindConflict         = relay.KindConflict
)

// statusClientClosed is nginx's non-standard status for a request the client
// abandoned; it only ever reaches the access log.
const statusClientClosed = relay.StatusClientClosed

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

// retryAfterSecs is the Retry-After value of a wait for a status
// (relay.RetryAfterSecs: a 429 rounds down, at least 1 s; others round up).
func retryAfterSecs(status int, d time.Duration) int { return relay.RetryAfterSecs(status, d) }

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

// envelopeOf returns the surface whose error envelope a path answers in:
// its own, except that the OpenAI-compatible routes beside the Gemini
// surface (models, chat/completions) answer in the OpenAI envelope their
// clients read. (They still belong to the Gemini CLI provider for keys,
// metrics and usage.)
func envelopeOf(path string) surface {
	if isGeminiOpenAI(path) {
		return surfaceOpenAI
	}
	return surfaceOf(path)
}

// isGeminiOpenAI reports whether path lies under a Gemini version
// prefix's /openai.
func isGeminiOpenAI(path string) bool {
	return hasPathPrefix(path, geminiV1Beta+"/openai") || hasPathPrefix(path, geminiV1+"/openai")
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
	path := echo.GetPath(c.Request())
	if isRootAPI(path) {
		return writeRootError(w, rootFormatOf(c.Request()), p.status, p.message, secs, "")
	}
	if messages.IsPath(path) {
		return messages.WriteError(w, p.status, p.message, secs)
	}
	switch envelopeOf(path) {
	case surfaceGemini:
		return gemini.WriteError(w, p.status, p.message, secs)
	case surfaceOpenAI:
		return responses.WriteError(w, p.status, p.message, secs)
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
