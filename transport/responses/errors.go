package responses

import (
	"net/http"
	"strings"
	"time"

	"github.com/pollux-gateway/pollux/providers/codex"
	"github.com/pollux-gateway/pollux/transport/openaierr"
	"github.com/pollux-gateway/pollux/transport/relay"
)

// ErrorBody encodes the OpenAI error envelope for an HTTP status and a
// client-safe message.
func ErrorBody(status int, message string) []byte {
	return apiErrorBody(status, codex.APIError{Message: message, Code: openaierr.Code(status)})
}

// apiErrorBody encodes e in the OpenAI envelope; an empty type or message
// is derived from status.
func apiErrorBody(status int, e codex.APIError) []byte {
	typ := e.Type
	if typ == "" {
		typ = openaierr.Type(status)
	}
	msg := e.Message
	if msg == "" {
		msg = strings.ToLower(http.StatusText(status))
	}
	return openaierr.Encode(openaierr.Object{
		Message:         msg,
		Type:            typ,
		Code:            openaierr.Nullable(e.Code),
		Param:           openaierr.Nullable(e.Param),
		PlanType:        e.PlanType,
		ResetsAt:        e.ResetsAt,
		ResetsInSeconds: e.ResetsInSeconds,
	})
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
	return openaierr.Write(w, status, body, retryAfterSecs)
}
