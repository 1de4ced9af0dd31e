package gemini

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// retryInfoType is the @type of the google.rpc.RetryInfo error detail.
const retryInfoType = "type.googleapis.com/google.rpc.RetryInfo"

type errorEnvelope struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Code    int           `json:"code"`
	Message string        `json:"message"`
	Status  string        `json:"status"`
	Details []errorDetail `json:"details,omitempty"`
}

type errorDetail struct {
	Type       string `json:"@type"`
	RetryDelay string `json:"retryDelay"`
}

// StatusString returns the google.rpc status name Google's APIs pair with an
// HTTP status code.
func StatusString(code int) string {
	switch code {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusConflict:
		return "ABORTED"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	case http.StatusBadGateway, http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	}
	if code >= 400 && code < 500 {
		return "INVALID_ARGUMENT"
	}
	return "INTERNAL"
}

// ErrorBody encodes the Gemini error envelope for an HTTP status and a
// client-safe message. A positive retryAfterSecs adds a RetryInfo detail.
// Stream code uses it for in-band error events.
func ErrorBody(code int, message string, retryAfterSecs int) []byte {
	env := errorEnvelope{Error: errorBody{Code: code, Message: message, Status: StatusString(code)}}
	if retryAfterSecs > 0 {
		env.Error.Details = []errorDetail{{Type: retryInfoType, RetryDelay: strconv.Itoa(retryAfterSecs) + "s"}}
	}
	b, err := json.Marshal(env)
	if err != nil {
		// Only strings and ints are encoded; this cannot happen.
		panic("gemini: encode error envelope: " + err.Error())
	}
	return b
}

// WriteError writes the Gemini error envelope with the given HTTP status. A
// positive retryAfterSecs also sets the Retry-After header.
func WriteError(w http.ResponseWriter, code int, message string, retryAfterSecs int) error {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	if retryAfterSecs > 0 {
		h.Set("Retry-After", strconv.Itoa(retryAfterSecs))
	}
	w.WriteHeader(code)
	_, err := w.Write(ErrorBody(code, message, retryAfterSecs))
	return err
}
