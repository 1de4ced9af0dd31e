package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
	geminifake "github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
)

// controlPrefix is where the control API is mounted; the fakes never serve
// a path under it.
const controlPrefix = "/_sim/"

// controlBodyLimit caps a script request.
const controlBodyLimit = 1 << 20

// fault is one scripted upstream fault, as posted to the control API.
type fault struct {
	Kind string `json:"kind"`
	// RetryAfterSecs is the delay a Gemini 429 names (RetryInfo,
	// quotaResetDelay or quotaResetTimeStamp).
	RetryAfterSecs int `json:"retry_after_secs,omitempty"`
	// ResetsInSecs is when a Codex usage limit lifts.
	ResetsInSecs int `json:"resets_in_secs,omitempty"`
	// MS is the delay of slow_first_byte.
	MS int `json:"ms,omitempty"`
	// AfterEvents is how many events cut_mid_stream lets through.
	AfterEvents int `json:"after_events,omitempty"`
}

// Defaults of the optional fault parameters.
const (
	defaultRetryAfterSecs = 30
	defaultResetsInSecs   = 3600
	defaultGeminiCut      = 1
	defaultCodexCut       = 5
)

// Fault kinds each fake accepts, for error messages and the docs.
var (
	geminiKinds = []string{
		"429_retryinfo", "429_reset_delay", "429_reset_timestamp", "429_daily", "429_capacity", "429_no_details",
		"401", "403_tos", "403_subscription", "403_validation", "404", "500", "503",
		"reset_before_headers", "cut_mid_stream", "slow_first_byte",
	}
	codexKinds = []string{
		"usage_limit_reached", "usage_not_included", "429_no_details", "token_invalidated", "401",
		"account_deactivated", "deactivated_workspace", "500", "503",
		"overload_in_200", "reset_before_headers", "cut_mid_stream", "slow_first_byte",
	}
)

// control serves the simulator's control API over both fakes.
type control struct {
	gemini *geminifake.Server
	codex  *codexfake.Server
	// geminiAccounts are the Gemini refresh tokens (also the account names);
	// codexAccounts the Codex account ids.
	geminiAccounts []string
	codexAccounts  []string
	quota          int
	now            func() time.Time
}

func (c *control) register(mux *http.ServeMux) {
	mux.HandleFunc("POST "+controlPrefix+"gemini/script", c.scriptGemini)
	mux.HandleFunc("POST "+controlPrefix+"codex/script", c.scriptCodex)
	mux.HandleFunc("GET "+controlPrefix+"stats", c.stats)
	mux.HandleFunc(controlPrefix, func(w http.ResponseWriter, r *http.Request) {
		writeControlError(w, http.StatusNotFound, "unknown control endpoint: use POST /_sim/gemini/script, POST /_sim/codex/script or GET /_sim/stats")
	})
}

// scriptGemini queues faults for the Gemini fake: each answers the next
// generate-family call, in order, except cut_mid_stream, which goes to a
// second queue that only streamGenerateContent calls take from (after the
// first queue is empty).
func (c *control) scriptGemini(w http.ResponseWriter, r *http.Request) {
	faults, err := readFaults(w, r)
	if err != nil {
		writeControlError(w, http.StatusBadRequest, err.Error())
		return
	}
	now := c.now()
	var (
		replies []geminifake.Response
		streams []geminifake.Stream
		errs    []error
	)
	for i, f := range faults {
		resp, stream, err := geminiFault(f, now)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("fault %d: %w", i, err))
		case stream != nil:
			streams = append(streams, *stream)
		default:
			replies = append(replies, *resp)
		}
	}
	if len(errs) > 0 {
		writeControlError(w, http.StatusBadRequest, errors.Join(errs...).Error())
		return
	}
	c.gemini.ScriptGenerate(replies...)
	c.gemini.ScriptStream(streams...)
	writeControlJSON(w, http.StatusOK, map[string]int{"queued": len(faults)})
}

// scriptCodex queues faults for the next calls to the Codex responses
// endpoint.
func (c *control) scriptCodex(w http.ResponseWriter, r *http.Request) {
	faults, err := readFaults(w, r)
	if err != nil {
		writeControlError(w, http.StatusBadRequest, err.Error())
		return
	}
	now := c.now()
	replies := make([]codexfake.Reply, 0, len(faults))
	var errs []error
	for i, f := range faults {
		reply, err := codexFault(f, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("fault %d: %w", i, err))
			continue
		}
		replies = append(replies, reply)
	}
	if len(errs) > 0 {
		writeControlError(w, http.StatusBadRequest, errors.Join(errs...).Error())
		return
	}
	c.codex.Push(codexfake.Responses, replies...)
	writeControlJSON(w, http.StatusOK, map[string]int{"queued": len(faults)})
}

// accountStats is one account's counters.
type accountStats struct {
	// Requests are generate-family calls (Gemini) or responses and compact
	// calls (Codex) that passed the token check.
	Requests int `json:"requests"`
	// Refreshes are successful refresh-token grants.
	Refreshes int `json:"refreshes"`
}

// simStats is the GET /_sim/stats answer.
type simStats struct {
	// Quota is the -quota flag (0: none).
	Quota  int                     `json:"quota"`
	Gemini map[string]accountStats `json:"gemini"`
	Codex  map[string]accountStats `json:"codex"`
}

func (c *control) stats(w http.ResponseWriter, _ *http.Request) {
	out := simStats{Quota: c.quota, Gemini: map[string]accountStats{}, Codex: map[string]accountStats{}}
	for _, rt := range c.geminiAccounts {
		out.Gemini[rt] = accountStats{Requests: c.gemini.AccountCalls(rt), Refreshes: c.gemini.Refreshes(rt)}
	}
	for _, id := range c.codexAccounts {
		out.Codex[id] = accountStats{Requests: c.codex.Calls(id), Refreshes: c.codex.Refreshes(id)}
	}
	writeControlJSON(w, http.StatusOK, out)
}

// readFaults decodes a JSON array of faults (or a single fault object).
func readFaults(w http.ResponseWriter, r *http.Request) ([]fault, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, controlBodyLimit))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	trimmed := strings.TrimSpace(string(body))
	if strings.HasPrefix(trimmed, "{") {
		trimmed = "[" + trimmed + "]"
	}
	dec := json.NewDecoder(strings.NewReader(trimmed))
	dec.DisallowUnknownFields()
	var faults []fault
	if err := dec.Decode(&faults); err != nil {
		return nil, fmt.Errorf(`body must be a JSON array of faults like [{"kind":"429_retryinfo","retry_after_secs":30}]: %w`, err)
	}
	if len(faults) == 0 {
		return nil, errors.New("no faults given")
	}
	for i, f := range faults {
		if f.RetryAfterSecs < 0 || f.ResetsInSecs < 0 || f.MS < 0 || f.AfterEvents < 0 {
			return nil, fmt.Errorf("fault %d: parameters must not be negative", i)
		}
	}
	return faults, nil
}

// orDefault returns v, or def when v is 0.
func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// googleError is a Code Assist error answer.
func googleError(code int, status, message string, details ...string) *geminifake.Response {
	body := fmt.Sprintf(`{"error":{"code":%d,"message":%s,"status":%q,"details":[%s]}}`,
		code, strconv.Quote(message), status, strings.Join(details, ","))
	return &geminifake.Response{Status: code, Body: body}
}

func retryInfo(secs int) string {
	return `{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"` + strconv.Itoa(secs) + `s"}`
}

func errorInfo(reason string, metadata map[string]string) string {
	md, _ := json.Marshal(metadata) // a map of strings always encodes
	return `{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"` + reason +
		`","domain":"cloudcode-pa.googleapis.com","metadata":` + string(md) + `}`
}

const dailyQuotaFailure = `{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"cloudcode-pa.googleapis.com/generate_content_requests","quotaId":"GenerateRequestsPerDayPerProjectPerModel"}]}`

// geminiDailyQuota is what an account over its -quota answers.
func geminiDailyQuota() geminifake.Response {
	return *googleError(http.StatusTooManyRequests, "RESOURCE_EXHAUSTED",
		"Quota exceeded for quota metric 'Generate Content API requests per day' (simulator quota).", dailyQuotaFailure)
}

// geminiFault maps a fault onto the Gemini fake's scripts: a generate
// answer (resp) or, for cut_mid_stream, a stream.
func geminiFault(f fault, now time.Time) (*geminifake.Response, *geminifake.Stream, error) {
	retry := orDefault(f.RetryAfterSecs, defaultRetryAfterSecs)
	const exhausted = "Resource has been exhausted (e.g. check quota)."
	switch f.Kind {
	case "429_retryinfo":
		return googleError(429, "RESOURCE_EXHAUSTED", exhausted, errorInfo("RATE_LIMIT_EXCEEDED", nil), retryInfo(retry)), nil, nil
	case "429_reset_delay":
		return googleError(429, "RESOURCE_EXHAUSTED", "You have exhausted your capacity on this model.",
			errorInfo("RATE_LIMIT_EXCEEDED", map[string]string{"quotaResetDelay": strconv.Itoa(retry) + "s"})), nil, nil
	case "429_reset_timestamp":
		at := now.Add(time.Duration(retry) * time.Second).UTC().Format(time.RFC3339)
		return googleError(429, "RESOURCE_EXHAUSTED", "You have exhausted your capacity on this model.",
			errorInfo("QUOTA_EXHAUSTED", map[string]string{"quotaResetTimeStamp": at})), nil, nil
	case "429_daily":
		r := geminiDailyQuota()
		if f.RetryAfterSecs > 0 {
			r = *googleError(429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Generate Content API requests per day'.",
				dailyQuotaFailure, retryInfo(f.RetryAfterSecs))
		}
		return &r, nil, nil
	case "429_capacity":
		return googleError(429, "RESOURCE_EXHAUSTED", "No capacity available for this model on the server.",
			errorInfo("MODEL_CAPACITY_EXHAUSTED", nil)), nil, nil
	case "429_no_details":
		return googleError(429, "RESOURCE_EXHAUSTED", exhausted), nil, nil
	case "401":
		return googleError(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential."), nil, nil
	case "403_tos":
		return googleError(403, "PERMISSION_DENIED", "This service has been disabled in this account for violation of Terms of Service. Please submit an appeal to continue using this product."), nil, nil
	case "403_subscription":
		return googleError(403, "PERMISSION_DENIED", "The caller does not have permission: a Gemini Code Assist license is required (#3501).",
			errorInfo("SUBSCRIPTION_REQUIRED", nil)), nil, nil
	case "403_validation":
		return googleError(403, "PERMISSION_DENIED", "VALIDATION_REQUIRED: verify your account to continue.",
			errorInfo("VALIDATION_REQUIRED", nil),
			`{"@type":"type.googleapis.com/google.rpc.Help","links":[{"description":"Verify your account","url":"https://accounts.google.com/signin/continue"}]}`), nil, nil
	case "404":
		return googleError(404, "NOT_FOUND", "Requested entity was not found."), nil, nil
	case "500":
		return googleError(500, "INTERNAL", "Internal error encountered."), nil, nil
	case "503":
		return googleError(503, "UNAVAILABLE", "The service is currently unavailable."), nil, nil
	case "reset_before_headers":
		return &geminifake.Response{Reset: true}, nil, nil
	case "cut_mid_stream":
		return nil, &geminifake.Stream{CutAfter: orDefault(f.AfterEvents, defaultGeminiCut)}, nil
	case "slow_first_byte":
		if f.MS <= 0 {
			return nil, nil, errors.New("slow_first_byte needs ms > 0")
		}
		return &geminifake.Response{Delay: time.Duration(f.MS) * time.Millisecond}, nil, nil
	}
	return nil, nil, unknownKind(f.Kind, geminiKinds)
}

// codexError is a Codex backend error answer.
func codexError(status int, body string) codexfake.Reply {
	return codexfake.Reply{Status: status, Body: body}
}

// codexUsageLimit is what an account over its -quota answers: no reset
// time, since the simulator keeps refusing until it restarts.
func codexUsageLimit() codexfake.Reply {
	return codexError(http.StatusTooManyRequests,
		`{"error":{"type":"usage_limit_reached","message":"The usage limit has been reached (simulator quota).","plan_type":"pro"}}`)
}

// codexFault maps a fault onto a reply of the Codex responses endpoint.
func codexFault(f fault, now time.Time) (codexfake.Reply, error) {
	switch f.Kind {
	case "usage_limit_reached":
		in := orDefault(f.ResetsInSecs, defaultResetsInSecs)
		return codexError(http.StatusTooManyRequests, fmt.Sprintf(
			`{"error":{"type":"usage_limit_reached","message":"The usage limit has been reached","plan_type":"pro","resets_at":%d,"resets_in_seconds":%d}}`,
			now.Add(time.Duration(in)*time.Second).Unix(), in)), nil
	case "usage_not_included":
		return codexError(http.StatusTooManyRequests,
			`{"error":{"type":"usage_not_included","message":"Your plan does not include Codex. Upgrade to use it."}}`), nil
	case "429_no_details":
		return codexError(http.StatusTooManyRequests, `{"detail":"Too Many Requests"}`), nil
	case "token_invalidated", "401":
		return codexError(http.StatusUnauthorized,
			`{"error":{"message":"Provided authentication token is expired or invalid.","type":"invalid_request_error","code":"token_invalidated","param":null}}`), nil
	case "account_deactivated":
		return codexError(http.StatusUnauthorized,
			`{"error":{"message":"Your OpenAI account has been deactivated.","type":"invalid_request_error","code":"account_deactivated","param":null}}`), nil
	case "deactivated_workspace":
		return codexError(http.StatusPaymentRequired, `{"detail":{"code":"deactivated_workspace"}}`), nil
	case "500":
		return codexError(http.StatusInternalServerError, `{"detail":"Internal Server Error"}`), nil
	case "503":
		return codexError(http.StatusServiceUnavailable, `{"detail":"Service Unavailable"}`), nil
	case "overload_in_200":
		return codexfake.Reply{Stream: &codexfake.Stream{Overloaded: true}}, nil
	case "reset_before_headers":
		return codexfake.Reply{Reset: true}, nil
	case "cut_mid_stream":
		return codexfake.Reply{Stream: &codexfake.Stream{CutAfter: orDefault(f.AfterEvents, defaultCodexCut)}}, nil
	case "slow_first_byte":
		if f.MS <= 0 {
			return codexfake.Reply{}, errors.New("slow_first_byte needs ms > 0")
		}
		return codexfake.Reply{Delay: time.Duration(f.MS) * time.Millisecond, Stream: &codexfake.Stream{}}, nil
	}
	return codexfake.Reply{}, unknownKind(f.Kind, codexKinds)
}

func unknownKind(kind string, known []string) error {
	if kind == "" {
		return fmt.Errorf("missing kind; one of %s", strings.Join(known, ", "))
	}
	if !slices.Contains(known, kind) {
		return fmt.Errorf("unknown kind %q; one of %s", kind, strings.Join(known, ", "))
	}
	// A listed kind must have a case above.
	return fmt.Errorf("kind %q is not implemented", kind)
}

func writeControlJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeControlError(w http.ResponseWriter, status int, msg string) {
	writeControlJSON(w, status, map[string]string{"error": msg})
}
