package geminicli

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pollux-gateway/pollux/providers"
)

// Google error detail types, as they appear in "@type".
const (
	typeRetryInfo    = "type.googleapis.com/google.rpc.RetryInfo"
	typeErrorInfo    = "type.googleapis.com/google.rpc.ErrorInfo"
	typeQuotaFailure = "type.googleapis.com/google.rpc.QuotaFailure"
	typeHelp         = "type.googleapis.com/google.rpc.Help"
)

// ErrorInfo reasons and markers that decide a class.
const (
	reasonQuotaExhausted     = "QUOTA_EXHAUSTED"
	reasonCapacityExhausted  = "MODEL_CAPACITY_EXHAUSTED"
	reasonSubscription       = "SUBSCRIPTION_REQUIRED"
	reasonValidationRequired = "VALIDATION_REQUIRED"
	reasonTermsOfService     = "TERMS_OF_SERVICE"
	reasonUnsupportedClient  = "UNSUPPORTED_CLIENT"
)

// apiError is the "error" object of a Google API error body.
type apiError struct {
	Code    int           `json:"code"`
	Message string        `json:"message"`
	Status  string        `json:"status"`
	Details []errorDetail `json:"details"`
}

// errorDetail is the union of the detail messages Pollux reads; each @type
// fills its own subset.
type errorDetail struct {
	Type string `json:"@type"`
	// google.rpc.ErrorInfo
	Reason   string            `json:"reason"`
	Domain   string            `json:"domain"`
	Metadata map[string]string `json:"metadata"`
	// google.rpc.RetryInfo
	RetryDelay string `json:"retryDelay"`
	// google.rpc.QuotaFailure
	Violations []struct {
		QuotaID     string `json:"quotaId"`
		QuotaMetric string `json:"quotaMetric"`
	} `json:"violations"`
	// google.rpc.Help
	Links []struct {
		Description string `json:"description"`
		URL         string `json:"url"`
	} `json:"links"`
}

// parseError reads a Google error body: {"error":{...}}, or the same object
// inside a JSON array (the shape some non-SSE stream replies use). It reports
// false when body holds no error object.
func parseError(body []byte) (apiError, bool) {
	var env struct {
		Error *apiError `json:"error"`
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var list []struct {
			Error *apiError `json:"error"`
		}
		if json.Unmarshal(trimmed, &list) != nil || len(list) == 0 || list[0].Error == nil {
			return apiError{}, false
		}
		return *list[0].Error, true
	}
	if json.Unmarshal(trimmed, &env) != nil || env.Error == nil {
		return apiError{}, false
	}
	return *env.Error, true
}

// errorInfo returns the first google.rpc.ErrorInfo detail, or a zero one.
func (e *apiError) errorInfo() errorDetail {
	for _, d := range e.Details {
		if d.Type == typeErrorInfo {
			return d
		}
	}
	return errorDetail{}
}

// validationURL returns the link a human must visit to clear a
// VALIDATION_REQUIRED block: a google.rpc.Help link, else an ErrorInfo
// metadata value that looks like one.
func (e *apiError) validationURL() string {
	for _, d := range e.Details {
		if d.Type == typeHelp {
			for _, l := range d.Links {
				if l.URL != "" {
					return l.URL
				}
			}
		}
	}
	info := e.errorInfo()
	for _, k := range []string{"validation_url", "validationUrl", "validation_link", "validationLink"} {
		if v := info.Metadata[k]; v != "" {
			return v
		}
	}
	return ""
}

// ValidationURL returns the page named by a VALIDATION_REQUIRED error body,
// or "" when there is none. The URL is not a secret; operators need it to
// unblock the account.
func ValidationURL(body []byte) string {
	e, ok := parseError(body)
	if !ok {
		return ""
	}
	return e.validationURL()
}

// Classify maps a non-2xx upstream answer to an Outcome, per the error table
// in doc.go. RetryAt is computed from the client's clock.
func (c *Client) Classify(status int, header http.Header, body []byte) providers.Outcome {
	return classify(c.now(), status, header, body)
}

// classify is Classify with an explicit now.
func classify(now time.Time, status int, header http.Header, body []byte) providers.Outcome {
	if status >= 200 && status < 300 {
		return providers.Outcome{Kind: providers.KindOK, Status: status}
	}
	e, _ := parseError(body)
	return classifyError(now, status, header, &e)
}

// classifyError decides on a parsed error object; e may be the zero value
// when the body was not a Google error.
func classifyError(now time.Time, status int, header http.Header, e *apiError) providers.Outcome {
	info := e.errorInfo()
	out := providers.Outcome{Status: status, Scope: providers.ScopeModel, Reason: reasonOf(e, info, status)}
	msg := strings.ToLower(e.Message)
	switch {
	case status == http.StatusUnauthorized:
		out.Kind, out.Scope = providers.KindAuthExpired, providers.ScopeCredential
	case status == http.StatusForbidden:
		out.Scope = providers.ScopeCredential
		switch {
		case info.Reason == reasonValidationRequired || strings.Contains(e.Message, reasonValidationRequired):
			out.Kind, out.Reason = providers.KindAuthRevoked, reasonValidationRequired
			out.URL = e.validationURL()
		case strings.Contains(msg, "terms of service"):
			out.Kind = providers.KindBanned
			if info.Reason == "" {
				out.Reason = reasonTermsOfService
			}
		case info.Reason == reasonSubscription || strings.Contains(e.Message, reasonSubscription) ||
			strings.Contains(e.Message, "#3501"):
			out.Kind, out.Reason = providers.KindIneligible, reasonSubscription
		case strings.Contains(info.Reason, "INELIGIBLE") || info.Reason == reasonUnsupportedClient ||
			strings.Contains(msg, "not eligible") || strings.Contains(msg, "ineligible"):
			out.Kind = providers.KindIneligible
		default:
			out.Kind, out.Scope = providers.KindBadRequest, providers.ScopeModel
		}
	case status == http.StatusNotFound:
		out.Kind = providers.KindModelUnsupported
	case status == http.StatusTooManyRequests:
		out.RetryAt = retryAt(now, header, e)
		switch {
		case isCapacity(e, info):
			out.Kind = providers.KindOverloaded
		case info.Reason == reasonQuotaExhausted || isDailyQuota(e):
			out.Kind = providers.KindQuotaExhausted
		default:
			out.Kind = providers.KindRateLimited
		}
	case status >= 500:
		out.Kind = providers.KindTransient
		if isCapacity(e, info) {
			out.Kind = providers.KindOverloaded
			out.RetryAt = retryAt(now, header, e)
		}
	case status >= 400:
		out.Kind = providers.KindBadRequest
	default:
		// 1xx/3xx from an API that never sends them: treat as a broken
		// upstream, never as success.
		out.Kind = providers.KindTransient
	}
	return out
}

func isCapacity(e *apiError, info errorDetail) bool {
	return info.Reason == reasonCapacityExhausted ||
		strings.Contains(e.Message, reasonCapacityExhausted) ||
		strings.Contains(strings.ToLower(e.Message), "no capacity available")
}

// isDailyQuota reports whether a QuotaFailure names a per-day quota.
func isDailyQuota(e *apiError) bool {
	for _, d := range e.Details {
		if d.Type != typeQuotaFailure {
			continue
		}
		for _, v := range d.Violations {
			if strings.Contains(v.QuotaID, "PerDay") || strings.Contains(v.QuotaID, "Daily") {
				return true
			}
		}
	}
	return false
}

// reasonOf picks the short, log-safe cause: the ErrorInfo reason, else the
// RPC status, else the HTTP status.
func reasonOf(e *apiError, info errorDetail, status int) string {
	for _, r := range []string{info.Reason, e.Status} {
		if r = sanitizeReason(r); r != "" {
			return r
		}
	}
	return "HTTP_" + strconv.Itoa(status)
}

// sanitizeReason keeps a reason code short and free of anything but a
// code's characters, so nothing else of a body can reach a log through it.
func sanitizeReason(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return ""
		}
	}
	return s
}

// retryAgainRe finds the delay in messages like "Please retry in 54.2s."
// or "Your quota will reset after 3s.".
var retryAgainRe = regexp.MustCompile(`(?i)(?:retry in|reset after) ([0-9]+(?:\.[0-9]+)?(?:ms|s|m|h))`)

// retryAt returns when the limit lifts, from the first source that names it:
// RetryInfo.retryDelay, ErrorInfo quotaResetDelay, quotaResetTimeStamp, the
// message text, then a Retry-After header. Relative delays come first: they
// do not depend on the two clocks agreeing; absolute times are moved by the
// clock offset the answer's Date header shows. Zero means nobody said.
func retryAt(now time.Time, header http.Header, e *apiError) time.Time {
	for _, d := range e.Details {
		if d.Type == typeRetryInfo {
			if dur, ok := parseDelay(d.RetryDelay); ok {
				return now.Add(dur)
			}
		}
	}
	info := e.errorInfo()
	if dur, ok := parseDelay(info.Metadata["quotaResetDelay"]); ok {
		return now.Add(dur)
	}
	if ts := info.Metadata["quotaResetTimeStamp"]; ts != "" {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			return providers.LocalResetTime(t, header, now)
		}
	}
	if m := retryAgainRe.FindStringSubmatch(e.Message); m != nil {
		if dur, ok := parseDelay(m[1]); ok {
			return now.Add(dur)
		}
	}
	return providers.RetryAfterTime(header, now)
}

// parseDelay reads a protobuf Duration ("54s", "0.8476s") or a Go duration
// ("1h2m3s", "850ms"), as Google uses both.
func parseDelay(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, false
	}
	return d, true
}

// statusFromRPC maps an RPC status name to an HTTP status for error objects
// that carry no numeric code.
func statusFromRPC(s string) int {
	switch s {
	case "INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE":
		return http.StatusBadRequest
	case "UNAUTHENTICATED":
		return http.StatusUnauthorized
	case "PERMISSION_DENIED":
		return http.StatusForbidden
	case "NOT_FOUND":
		return http.StatusNotFound
	case "RESOURCE_EXHAUSTED":
		return http.StatusTooManyRequests
	case "UNAVAILABLE":
		return http.StatusServiceUnavailable
	case "DEADLINE_EXCEEDED":
		return http.StatusGatewayTimeout
	default:
		return http.StatusInternalServerError
	}
}

// shortMessage trims an upstream message for an operator-facing reason.
func shortMessage(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
