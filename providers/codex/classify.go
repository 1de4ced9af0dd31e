package codex

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pollux-gateway/pollux/providers"
)

// Error codes and types the backend uses, in error.code or error.type.
const (
	codeUsageLimitReached    = "usage_limit_reached"
	codeUsageNotIncluded     = "usage_not_included"
	codeRateLimitExceeded    = "rate_limit_exceeded"
	codeAccountDeactivated   = "account_deactivated"
	codeDeactivatedWorkspace = "deactivated_workspace"
	codeNoOrganization       = "no_organization"
	codeServerOverloaded     = "server_is_overloaded"
	codeSlowDown             = "slow_down"
	codeContextLength        = "context_length_exceeded"
	codeInvalidPrompt        = "invalid_prompt"
	codeModelNotSupported    = "model_not_supported"
)

// maxReason bounds Outcome.Reason so an odd upstream cannot put a whole body
// into logs.
const maxReason = 64

// APIError is an upstream error in the fields of the OpenAI client envelope
// ({"error":{"message","type","code","param"}}), plus the usage-limit fields
// the Codex CLI shows to its user. Transport wraps it in the envelope and
// picks the HTTP status.
type APIError struct {
	Message         string `json:"message"`
	Type            string `json:"type"`
	Code            string `json:"code,omitempty"`
	Param           string `json:"param,omitempty"`
	PlanType        string `json:"plan_type,omitempty"`
	ResetsAt        *int64 `json:"resets_at,omitempty"`
	ResetsInSeconds *int64 `json:"resets_in_seconds,omitempty"`
}

// ClientError converts an upstream error body (any of the shapes the backend
// uses: {"error":{...}}, {"error":"code","error_description":...},
// {"detail":"..."} or {"detail":{...}}) into the client envelope's fields.
// resets_at and resets_in_seconds are kept. A body that is not JSON gives a
// generic message: raw upstream bodies (HTML from an edge proxy, say) are
// never passed on.
func ClientError(body []byte) APIError {
	return parseAPIError(body).withDefaults()
}

// withDefaults fills the envelope fields a client expects to be set.
func (e APIError) withDefaults() APIError {
	if e.Message == "" {
		e.Message = "upstream error"
		if e.Code != "" {
			e.Message = "upstream error: " + e.Code
		}
	}
	if e.Type == "" {
		e.Type = "upstream_error"
	}
	return e
}

// rawError holds every field an error object may carry, as raw JSON so that
// an unexpected type in one field does not lose the others.
type rawError struct {
	Type             json.RawMessage `json:"type"`
	Code             json.RawMessage `json:"code"`
	Message          json.RawMessage `json:"message"`
	Param            json.RawMessage `json:"param"`
	PlanType         json.RawMessage `json:"plan_type"`
	ResetsAt         json.RawMessage `json:"resets_at"`
	ResetsInSeconds  json.RawMessage `json:"resets_in_seconds"`
	ErrorDescription json.RawMessage `json:"error_description"`
}

func (r rawError) apiError() APIError {
	e := APIError{
		Type:     jsonString(r.Type),
		Code:     jsonString(r.Code),
		Message:  firstNonEmpty(jsonString(r.Message), jsonString(r.ErrorDescription)),
		Param:    jsonString(r.Param),
		PlanType: jsonString(r.PlanType),
	}
	if v, ok := jsonInt(r.ResetsAt); ok {
		e.ResetsAt = &v
	}
	if v, ok := jsonInt(r.ResetsInSeconds); ok {
		e.ResetsInSeconds = &v
	}
	return e
}

// parseAPIError reads an error body without defaults; fields the body does
// not have stay empty.
func parseAPIError(body []byte) APIError {
	var env struct {
		Error  json.RawMessage `json:"error"`
		Detail json.RawMessage `json:"detail"`
		rawError
	}
	if json.Unmarshal(body, &env) != nil {
		return APIError{}
	}
	if e, ok := errorValue(env.Error, env.ErrorDescription, true); ok {
		return e
	}
	if e, ok := errorValue(env.Detail, nil, false); ok {
		return e
	}
	// Top-level fields, as in the stream's error event; there "type" is the
	// event type, not the error's.
	e := env.apiError()
	if e.Type == "error" {
		e.Type = ""
	}
	return e
}

// errorValue reads an "error" or "detail" member: an object with the usual
// fields, or a bare string (a code for "error", a message for "detail").
func errorValue(raw, description json.RawMessage, isCode bool) (APIError, bool) {
	raw = trimJSON(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return APIError{}, false
	}
	switch raw[0] {
	case '{':
		var r rawError
		if json.Unmarshal(raw, &r) != nil {
			return APIError{}, false
		}
		return r.apiError(), true
	case '"':
		s := jsonString(raw)
		if isCode {
			// RFC 6749 style: {"error":"invalid_grant","error_description":...}
			return APIError{Code: s, Message: jsonString(description)}, true
		}
		return APIError{Message: s}, true
	}
	return APIError{}, false
}

func trimJSON(b []byte) []byte { return []byte(strings.TrimSpace(string(b))) }

// jsonString returns a JSON string's value, a number's text, or "".
func jsonString(raw json.RawMessage) string {
	raw = trimJSON(raw)
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// jsonInt reads a JSON number (or numeric string) as whole seconds.
func jsonInt(raw json.RawMessage) (int64, bool) {
	s := jsonString(raw)
	if s == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return int64(f), true
}

// is reports whether the error's code or type is one of names.
func (e APIError) is(names ...string) bool {
	for _, n := range names {
		if e.Code == n || e.Type == n {
			return true
		}
	}
	return false
}

// reason is the short cause kept in an Outcome.
func (e APIError) reason(fallback string) string {
	r := firstNonEmpty(e.Code, e.Type, fallback)
	if len(r) > maxReason {
		r = r[:maxReason]
	}
	return r
}

// resetTime is when a usage limit lifts: resets_in_seconds when the body has
// it (relative, so immune to clock offset), else resets_at corrected by the
// offset the answer's Date header shows. It may be in the past; the caller
// must not treat that as a long cooldown.
func (e APIError) resetTime(header http.Header, now time.Time) time.Time {
	if e.ResetsInSeconds != nil && *e.ResetsInSeconds >= 0 {
		return now.Add(time.Duration(*e.ResetsInSeconds) * time.Second)
	}
	if e.ResetsAt != nil && *e.ResetsAt > 0 {
		return providers.LocalResetTime(time.Unix(*e.ResetsAt, 0), header, now)
	}
	return time.Time{}
}

// modelUnsupported reports whether the error says this account cannot use
// the requested model, e.g. {"detail":"The 'x' model is not supported when
// using Codex with a ChatGPT account."}.
func (e APIError) modelUnsupported() bool {
	if e.is("model_not_found", "unsupported_model", codeModelNotSupported) {
		return true
	}
	m := strings.ToLower(e.Message)
	if !strings.Contains(m, "model") {
		return false
	}
	for _, s := range [...]string{"not supported", "unsupported", "not found", "does not exist", "not available"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// retryAfter reads a Retry-After header (seconds or an HTTP date).
func retryAfter(h http.Header, now time.Time) time.Time {
	return providers.RetryAfterTime(h, now)
}

func orTime(a, b time.Time) time.Time {
	if a.IsZero() {
		return b
	}
	return a
}

// classify is Client.Classify with the clock passed in. Non-2xx is never
// KindOK.
func classify(status int, header http.Header, body []byte, now time.Time) providers.Outcome {
	if status >= 200 && status <= 299 {
		return providers.Outcome{Kind: providers.KindOK, Status: status}
	}
	e := parseAPIError(body)
	cred := func(k providers.Kind, fallback string) providers.Outcome {
		return providers.Outcome{Kind: k, Scope: providers.ScopeCredential, Status: status, Reason: e.reason(fallback)}
	}
	model := func(k providers.Kind, fallback string) providers.Outcome {
		return providers.Outcome{Kind: k, Scope: providers.ScopeModel, Status: status, Reason: e.reason(fallback)}
	}
	if e.is(codeServerOverloaded, codeSlowDown) {
		out := model(providers.KindOverloaded, codeServerOverloaded)
		out.RetryAt = retryAfter(header, now)
		return out
	}
	switch {
	case status == http.StatusTooManyRequests:
		switch {
		case e.is(codeUsageLimitReached):
			out := cred(providers.KindQuotaExhausted, codeUsageLimitReached)
			out.RetryAt = orTime(e.resetTime(header, now), retryAfter(header, now))
			return out
		case e.is(codeUsageNotIncluded):
			return cred(providers.KindIneligible, codeUsageNotIncluded)
		default:
			// Codex limits are account-wide, so every 429 cools the account.
			out := cred(providers.KindRateLimited, codeRateLimitExceeded)
			out.RetryAt = orTime(retryAfter(header, now), e.resetTime(header, now))
			return out
		}
	case status == http.StatusUnauthorized, status == http.StatusPaymentRequired, status == http.StatusForbidden:
		switch {
		case e.is(codeAccountDeactivated, codeDeactivatedWorkspace):
			return cred(providers.KindBanned, codeAccountDeactivated)
		case e.is(codeNoOrganization):
			return cred(providers.KindAuthRevoked, codeNoOrganization)
		case e.is(codeUsageNotIncluded):
			return cred(providers.KindIneligible, codeUsageNotIncluded)
		case status == http.StatusUnauthorized:
			// token_expired, token_invalidated or a bare 401: refresh and
			// retry; the pool turns repeated failure into needs_reauth.
			return cred(providers.KindAuthExpired, "unauthorized")
		case status == http.StatusPaymentRequired:
			return cred(providers.KindIneligible, "payment_required")
		default:
			// A 403 without a known code is usually an edge block in front
			// of the backend, not a verdict on this account.
			return model(providers.KindTransient, "forbidden")
		}
	case status == http.StatusBadRequest, status == http.StatusNotFound, status == http.StatusUnprocessableEntity:
		if e.modelUnsupported() {
			return model(providers.KindModelUnsupported, codeModelNotSupported)
		}
		return model(providers.KindBadRequest, fmt.Sprintf("http_%d", status))
	case status == http.StatusRequestTimeout, status >= 500:
		return model(providers.KindTransient, fmt.Sprintf("http_%d", status))
	case status >= 400:
		return model(providers.KindBadRequest, fmt.Sprintf("http_%d", status))
	default:
		// 0 (no answer), 1xx or 3xx: nothing usable came back.
		return model(providers.KindTransient, fmt.Sprintf("http_%d", status))
	}
}
