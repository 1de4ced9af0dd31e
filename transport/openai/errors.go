package openai

import (
	"encoding/json"
	"net/http"
	"strconv"
)

type errorEnvelope struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Code    string  `json:"code"`
	Param   *string `json:"param"`
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
	b, err := json.Marshal(errorEnvelope{Error: errorBody{
		Message: message,
		Type:    ErrorType(status),
		Code:    ErrorCode(status),
	}})
	if err != nil {
		// Only strings are encoded; this cannot happen.
		panic("openai: encode error envelope: " + err.Error())
	}
	return b
}

// WriteError writes the OpenAI error envelope with the given HTTP status. A
// positive retryAfterSecs also sets the Retry-After header, which the OpenAI
// SDKs honour when they retry.
func WriteError(w http.ResponseWriter, status int, message string, retryAfterSecs int) error {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	if retryAfterSecs > 0 {
		h.Set("Retry-After", strconv.Itoa(retryAfterSecs))
	}
	w.WriteHeader(status)
	_, err := w.Write(ErrorBody(status, message))
	return err
}
