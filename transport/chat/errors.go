package chat

import (
	"net/http"

	"github.com/pollux-gateway/pollux/transport/openaierr"
	"github.com/pollux-gateway/pollux/transport/relay"
)

// apiError is the OpenAI error object (package openaierr), in error
// answers and in the terminal chunk of a broken stream.
type apiError = openaierr.Object

// newAPIError is the error object for status, with the code Pollux sends
// for it on every OpenAI-shaped surface.
func newAPIError(status int, message, param string) apiError {
	return openaierr.New(status, message, openaierr.Code(status), param)
}

// writeError writes the OpenAI error envelope; a 429 always carries
// Retry-After (relay.RetryAfterSecs).
func writeError(w http.ResponseWriter, status int, e apiError, retryAfterSecs int) error {
	return openaierr.Write(w, status, openaierr.Encode(e), retryAfterSecs)
}

// fieldError is a request the surface cannot translate: a 400 naming the
// field.
type fieldError struct {
	Param, Message string
}

func (e *fieldError) Error() string { return e.Param + ": " + e.Message }

func badField(param, format string, args ...any) *fieldError {
	msg := format
	if len(args) > 0 {
		msg = sprintf(format, args...)
	}
	return &fieldError{Param: param, Message: msg}
}

// answerError writes err in the OpenAI envelope: a *fieldError is a 400, a
// *relay.Error its kind's status.
func answerError(w http.ResponseWriter, err error) error {
	switch e := err.(type) {
	case *fieldError:
		return writeError(w, http.StatusBadRequest, newAPIError(http.StatusBadRequest, e.Param+": "+e.Message, e.Param), 0)
	case *relay.Error:
		status := e.Kind.Status()
		msg := e.Message
		if msg == "" {
			msg = e.Kind.String()
		}
		return writeError(w, status, newAPIError(status, msg, ""), relay.RetryAfterSecs(status, e.RetryAfter))
	}
	return err
}

// contentTypeJSON is the Content-Type of the JSON bodies this surface writes.
const contentTypeJSON = "application/json; charset=utf-8"
