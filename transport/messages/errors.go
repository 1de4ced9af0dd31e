package messages

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/pollux-gateway/pollux/providers/sse"
)

// errorEnvelope is Anthropic's error envelope:
//
//	{"type":"error","error":{"type":"rate_limit_error","message":"..."}}
type errorEnvelope struct {
	Type  string    `json:"type"`
	Error errorBody `json:"error"`
}

type errorBody struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// ErrorType is Anthropic's error type for an HTTP status.
func ErrorType(status int) string {
	switch {
	case status == http.StatusBadRequest:
		return "invalid_request_error"
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status == http.StatusForbidden:
		return "permission_error"
	case status == http.StatusNotFound:
		return "not_found_error"
	case status == http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status == http.StatusServiceUnavailable, status == 529:
		return "overloaded_error"
	case status >= 500:
		return "api_error"
	}
	return "invalid_request_error"
}

// ErrorBody encodes the envelope for status and a client-safe message.
func ErrorBody(status int, message string) []byte {
	if message == "" {
		message = strings.ToLower(http.StatusText(status))
	}
	b, err := json.Marshal(errorEnvelope{Type: "error", Error: errorBody{Type: ErrorType(status), Message: message}})
	if err != nil {
		panic("messages: encode error: " + err.Error()) // only strings
	}
	return b
}

// WriteError writes the envelope with status; a positive retryAfterSecs
// sets Retry-After, which the Anthropic SDKs honour.
func WriteError(w http.ResponseWriter, status int, message string, retryAfterSecs int) error {
	h := w.Header()
	h.Set("Content-Type", contentTypeJSON)
	h.Set("X-Content-Type-Options", "nosniff")
	if retryAfterSecs > 0 {
		h.Set("Retry-After", strconv.Itoa(retryAfterSecs))
	}
	w.WriteHeader(status)
	_, err := w.Write(ErrorBody(status, message))
	return err
}

// errorEvent is the stream's terminal error event.
func errorEvent(status int, message string) []byte {
	data, err := json.Marshal(event{Type: evError, Error: &errorBody{Type: ErrorType(status), Message: message}})
	if err != nil {
		panic("messages: encode error event: " + err.Error())
	}
	return sse.AppendEvent(nil, evError, data)
}

// IsPath reports whether a routed path is one of this surface's, whose
// errors take the Anthropic envelope.
func IsPath(path string) bool {
	return strings.HasSuffix(path, "/v1/messages") || strings.HasSuffix(path, "/v1/messages/count_tokens")
}

const contentTypeJSON = "application/json; charset=utf-8"
