package responses

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pollux-gateway/pollux/providers/codex"
	"github.com/pollux-gateway/pollux/transport/relay"
)

// errorEnvelope is the OpenAI error envelope, with the usage-limit fields
// the Codex CLI shows when the upstream stated them:
//
//	{"error":{"message","type","code","param","plan_type","resets_at","resets_in_seconds"}}
//
// code and param are null when unknown, as OpenAI writes them.
type errorEnvelope struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Message         string  `json:"message"`
	Type            string  `json:"type"`
	Code            *string `json:"code"`
	Param           *string `json:"param"`
	PlanType        string  `json:"plan_type,omitempty"`
	ResetsAt        *int64  `json:"resets_at,omitempty"`
	ResetsInSeconds *int64  `json:"resets_in_seconds,omitempty"`
}

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// ErrorType returns the OpenAI error type for an HTTP status.
func ErrorType(status int) string {
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

// ErrorCode returns the machine-readable error code Pollux sends with an HTTP
// status.
func ErrorCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid_request"
	case http.StatusUnauthorized:
		return "invalid_api_key"
	case http.StatusForbidden:
		return "permission_denied"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_exceeded"
	case 499:
		return "client_closed_request"
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
	return "invalid_request"
}

// ErrorBody encodes the OpenAI error envelope for an HTTP status and a
// client-safe message.
func ErrorBody(status int, message string) []byte {
	return apiErrorBody(status, codex.APIError{Message: message, Code: ErrorCode(status)})
}

// apiErrorBody encodes e in the OpenAI envelope; an empty type or message
// is derived from status.
func apiErrorBody(status int, e codex.APIError) []byte {
	typ := e.Type
	if typ == "" {
		typ = ErrorType(status)
	}
	msg := e.Message
	if msg == "" {
		msg = strings.ToLower(http.StatusText(status))
	}
	b, err := json.Marshal(errorEnvelope{Error: errorBody{
		Message:         msg,
		Type:            typ,
		Code:            nilIfEmpty(e.Code),
		Param:           nilIfEmpty(e.Param),
		PlanType:        e.PlanType,
		ResetsAt:        e.ResetsAt,
		ResetsInSeconds: e.ResetsInSeconds,
	}})
	if err != nil {
		// Only strings and integers are encoded; this cannot happen.
		panic("responses: encode error envelope: " + err.Error())
	}
	return b
}

// WriteError writes the OpenAI error envelope with the given HTTP status. A
// positive retryAfterSecs also sets the Retry-After header, which the OpenAI
// SDKs honour when they retry.
func WriteError(w http.ResponseWriter, status int, message string, retryAfterSecs int) error {
	return writeBody(w, status, ErrorBody(status, message), retryAfterSecs)
}

// writeAPIError writes e in the OpenAI envelope with status, and a
// Retry-After header for a 429 (at least 1 s) or a known wait.
func writeAPIError(w http.ResponseWriter, status int, e codex.APIError, retryAfter time.Duration) error {
	return writeBody(w, status, apiErrorBody(status, e), relay.RetryAfterSecs(status, retryAfter))
}

func writeBody(w http.ResponseWriter, status int, body []byte, retryAfterSecs int) error {
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

// contentTypeJSON is the Content-Type of the JSON bodies this surface writes.
const contentTypeJSON = "application/json; charset=utf-8"
