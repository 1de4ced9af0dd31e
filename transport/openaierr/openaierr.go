package openaierr

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// Object is the envelope's error object.
type Object struct {
	Message         string  `json:"message"`
	Type            string  `json:"type"`
	Code            *string `json:"code"`
	Param           *string `json:"param"`
	PlanType        string  `json:"plan_type,omitempty"`
	ResetsAt        *int64  `json:"resets_at,omitempty"`
	ResetsInSeconds *int64  `json:"resets_in_seconds,omitempty"`
}

// envelope is the whole error body.
type envelope struct {
	Error Object `json:"error"`
}

// New is the error object for an HTTP status: an empty message is the
// status text, an empty code or param is null.
func New(status int, message, code, param string) Object {
	if message == "" {
		message = strings.ToLower(http.StatusText(status))
	}
	return Object{Message: message, Type: Type(status), Code: Nullable(code), Param: Nullable(param)}
}

// Nullable is s, or nil (JSON null) when s is empty.
func Nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Type returns the OpenAI error type for an HTTP status.
func Type(status int) string {
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

// Code returns the machine-readable error code Pollux sends with an HTTP
// status when it has no more specific one.
func Code(status int) string {
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

// Encode is the envelope holding o.
func Encode(o Object) []byte {
	b, err := json.Marshal(envelope{Error: o})
	if err != nil {
		// Only strings and integers are encoded; this cannot happen.
		panic("openaierr: encode error envelope: " + err.Error())
	}
	return b
}

// Write answers with an encoded envelope and status. A positive
// retryAfterSecs also sets Retry-After, which the OpenAI SDKs honour when
// they retry.
func Write(w http.ResponseWriter, status int, body []byte, retryAfterSecs int) error {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	if retryAfterSecs > 0 {
		h.Set("Retry-After", strconv.Itoa(retryAfterSecs))
	}
	w.WriteHeader(status)
	_, err := w.Write(body)
	return err
}
