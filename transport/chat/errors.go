package chat

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/pollux-gateway/pollux/transport/relay"
)

// apiError is the OpenAI error envelope's body.
type apiError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Code    *string `json:"code"`
	Param   *string `json:"param"`
}

type errorEnvelope struct {
	Error apiError `json:"error"`
}

func strOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// errorType is the OpenAI error type for an HTTP status.
func errorType(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status == http.StatusForbidden:
		return "permission_error"
	case status == http.StatusNotFound:
		return "not_found_error"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status >= 500:
		return "server_error"
	}
	return "invalid_request_error"
}

// errorCode is the code Pollux sends with an HTTP status.
func errorCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid_request"
	case http.StatusNotFound:
		return "model_not_found"
	case http.StatusTooManyRequests:
		return "rate_limit_exceeded"
	case http.StatusBadGateway:
		return "upstream_error"
	case http.StatusServiceUnavailable:
		return "service_unavailable"
	case http.StatusGatewayTimeout:
		return "timeout"
	}
	if status >= 500 {
		return "internal_error"
	}
	return strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_")
}

func newAPIError(status int, message, param string) apiError {
	if message == "" {
		message = strings.ToLower(http.StatusText(status))
	}
	return apiError{Message: message, Type: errorType(status), Code: strOrNil(errorCode(status)), Param: strOrNil(param)}
}

// writeError writes the OpenAI error envelope; a 429 always carries
// Retry-After (relay.RetryAfterSecs).
func writeError(w http.ResponseWriter, status int, e apiError, retryAfterSecs int) error {
	body, _ := json.Marshal(errorEnvelope{Error: e}) // only strings
	h := w.Header()
	h.Set("Content-Type", contentTypeJSON)
	h.Set("X-Content-Type-Options", "nosniff")
	if retryAfterSecs > 0 {
		h.Set("Retry-After", strconv.Itoa(retryAfterSecs))
	}
	w.WriteHeader(status)
	_, err := w.Write(body)
	return err
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
