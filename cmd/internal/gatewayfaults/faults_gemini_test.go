package gatewayfaults

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/actors/actorstest"
	"github.com/pollux-gateway/pollux/providers"
	geminifake "github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
	"github.com/pollux-gateway/pollux/storage"
	"github.com/pollux-gateway/pollux/transport"
)

// End-to-end fault classes on the Gemini surface: each case scripts one
// upstream fault at the fake Code Assist, sends a client request through the
// whole gateway, and checks three things: what the client got, what the pool
// made of the credential the fault hit, and (from the fake's counters) that
// a credential kept off by the fault is not called again before its reset.

// The Gemini models of the default config: a per-model cooldown on one
// must leave the other usable.
const (
	faultGeminiModel      = "gemini-2.5-pro"
	faultGeminiOtherModel = "gemini-2.5-flash"
)

const faultGeminiBody = `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`

// faultGeminiPath is the client URL of a generate or stream call.
func faultGeminiPath(model string, stream bool) string {
	if stream {
		return "/geminicli/v1beta/models/" + model + ":streamGenerateContent?alt=sse"
	}
	return "/geminicli/v1beta/models/" + model + ":generateContent"
}

// Google error details, as Code Assist writes them.
func faultRetryInfo(delay string) string {
	return `{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"` + delay + `"}`
}

func faultErrorInfo(reason string, metadata map[string]string) string {
	md, _ := json.Marshal(metadata)
	return `{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"` + reason +
		`","domain":"cloudcode-pa.googleapis.com","metadata":` + string(md) + `}`
}

func faultQuotaFailure(quotaID string) string {
	return `{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_requests","quotaId":"` + quotaID + `"}]}`
}

func faultHelp(url string) string {
	return `{"@type":"type.googleapis.com/google.rpc.Help","links":[{"description":"Verify your account","url":"` + url + `"}]}`
}

// faultGoogleError is a scripted Google error answer.
func faultGoogleError(code int, status, message string, details ...string) geminifake.Response {
	body := fmt.Sprintf(`{"error":{"code":%d,"message":%q,"status":%q,"details":[%s]}}`,
		code, message, status, strings.Join(details, ","))
	return geminifake.Response{Status: code, Body: body}
}

// faultCredWant is what the pool should make of the credential a fault hit.
type faultCredWant struct {
	status storage.Status
	// reason is a substring of the status reason ("" checks nothing).
	reason string
	// lastError is a substring of the credential's last error; it also
	// proves the fault's outcome was folded in before the rest is checked.
	// (A transient failure changes nothing on the credential, so its view
	// is not republished and shows no last error: those cases prove "no
	// penalty" by the credential serving again instead.)
	lastError string
	// cooldown is the key of the one expected cooldown (a model or
	// storage.AllModels); "" expects none.
	cooldown       string
	cooldownReason string
	// coolFor is the expected cooldown length from the request (±1 s
	// beyond the request's own duration); coolUntil, when set, the exact
	// end instead.
	coolFor   time.Duration
	coolUntil time.Time
	// backoff is the expected backoff step of the cooldown.
	backoff int
}

// faultCheck reports how v differs from w; sent is when the client request
// began. The empty string means it matches.
func (w faultCredWant) faultCheck(v actors.CredentialView, sent time.Time) string {
	var diffs []string
	if v.Status != w.status {
		diffs = append(diffs, fmt.Sprintf("status %q, want %q", v.Status, w.status))
	}
	if !strings.Contains(v.StatusReason, w.reason) {
		diffs = append(diffs, fmt.Sprintf("status reason %q, want it to contain %q", v.StatusReason, w.reason))
	}
	if !strings.Contains(v.LastError, w.lastError) {
		diffs = append(diffs, fmt.Sprintf("last error %q, want it to contain %q", v.LastError, w.lastError))
	}
	switch {
	case w.cooldown == "" && len(v.Cooldowns) != 0:
		diffs = append(diffs, fmt.Sprintf("cooldowns %+v, want none", v.Cooldowns))
	case w.cooldown != "" && (len(v.Cooldowns) != 1 || v.Cooldowns[0].Model != w.cooldown):
		diffs = append(diffs, fmt.Sprintf("cooldowns %+v, want exactly one on %q", v.Cooldowns, w.cooldown))
	case w.cooldown != "":
		cd := v.Cooldowns[0]
		if !strings.Contains(cd.Reason, w.cooldownReason) {
			diffs = append(diffs, fmt.Sprintf("cooldown reason %q, want it to contain %q", cd.Reason, w.cooldownReason))
		}
		if cd.Backoff != w.backoff {
			diffs = append(diffs, fmt.Sprintf("cooldown backoff %d, want %d", cd.Backoff, w.backoff))
		}
		if !w.coolUntil.IsZero() {
			if !cd.Until.Equal(w.coolUntil) {
				diffs = append(diffs, fmt.Sprintf("cooldown until %s, want %s", cd.Until, w.coolUntil))
			}
		} else if lo, hi := sent.Add(w.coolFor-time.Second), time.Now().Add(w.coolFor+time.Second); cd.Until.Before(lo) || cd.Until.After(hi) {
			diffs = append(diffs, fmt.Sprintf("cooldown until %s, want %s from the request (between %s and %s)", cd.Until, w.coolFor, lo, hi))
		}
	}
	return strings.Join(diffs, "; ")
}

// keepsOff reports whether the credential must not be called for the
// fault's model until the returned time (zero: not at all kept off; the far
// future: never again).
func (w faultCredWant) keepsOff(v actors.CredentialView) (time.Time, bool) {
	switch w.status {
	case storage.StatusBanned, storage.StatusIneligible, storage.StatusNeedsReauth, storage.StatusDisabled:
		return time.Now().Add(24 * time.Hour), true
	case storage.StatusActive, storage.StatusCooling:
	}
	if len(v.Cooldowns) == 0 {
		return time.Time{}, false
	}
	return v.Cooldowns[0].Until, true
}

// faultCredView returns the pool's view of credential id.
func faultCredView(t *testing.T, pool *actors.Pool, id int64) (actors.CredentialView, bool) {
	t.Helper()
	snap, err := pool.Snapshot(t.Context())
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	for _, v := range snap.Credentials {
		if v.ID == id {
			return v, true
		}
	}
	return actors.CredentialView{}, false
}

// faultAwaitCred waits until the pool's view of credential id matches want
// (the outcome travels scheduler → credential actor → scheduler, so the view
// lags the client's answer a little), checking after each message the
// pool's scheduler handles, and returns it.
func faultAwaitCred(t *testing.T, tap *actorstest.Expector, pool *actors.Pool, id int64, want faultCredWant, sent time.Time) actors.CredentialView {
	t.Helper()
	var (
		v    actors.CredentialView
		diff string
	)
	defer func() {
		if t.Failed() && diff != "" {
			t.Logf("credential %d (%s): %s", id, v.Email, diff)
		}
	}()
	untilPool(t, tap, pool.Name(), fmt.Sprintf("credential %d to match the fault's verdict", id), func() bool {
		var ok bool
		v, ok = faultCredView(t, pool, id)
		diff = "credential not in the snapshot"
		if ok {
			diff = want.faultCheck(v, sent)
		}
		return diff == ""
	})
	return v
}

// faultFollowUps sends n more requests while the faulted credential is kept
// off (until), and checks that each is served and that the fake saw no call
// from that credential. A follow-up that ends after until proves nothing
// and stops the loop.
func faultFollowUps(t *testing.T, n int, until time.Time, send func() (int, string), calls func() int) {
	t.Helper()
	before := calls()
	for i := range n {
		status, body := send()
		if time.Now().After(until) {
			t.Logf("follow-up %d ended after the cooldown (%s); not checked", i, until)
			return
		}
		if status != http.StatusOK {
			t.Fatalf("follow-up %d: status %d (%s), want 200 from another credential", i, status, body)
		}
		if got := calls(); got != before {
			t.Fatalf("follow-up %d: the kept-off credential was called %d more time(s) before its reset at %s", i, got-before, until)
		}
	}
}

// faultRetry says where the retry after a fault must go.
type faultRetry uint8

const (
	faultOther faultRetry = iota // another credential
	faultSame                    // the faulted one (after a refresh)
	faultAny                     // either
)

func (r faultRetry) check(t *testing.T, hit, next string) {
	t.Helper()
	switch {
	case r == faultOther && next == hit:
		t.Errorf("the retry went to the faulted credential %q, want another", hit)
	case r == faultSame && next != hit:
		t.Errorf("the retry went to %q, want the faulted credential %q", next, hit)
	}
}

// faultServesAgain sends up to n requests and checks that the credential
// whose calls are counted by calls is called again: the scheduler prefers
// the least recently used credential, so one left without penalty is picked
// within a round; one cooling would never be.
func faultServesAgain(t *testing.T, n int, send func(), calls func() int) {
	t.Helper()
	before := calls()
	for range n {
		send()
		if calls() > before {
			return
		}
	}
	t.Fatalf("the faulted credential was not called again in %d requests: it was penalised", n)
}

// faultGeminiCall is one generate-family call the fake received.
type faultGeminiCall struct {
	token  string // the account's refresh token (from the envelope's project)
	bearer string
	stream bool
}

// faultGeminiCalls lists the generate-family calls in order; harness
// accounts have project "proj-<token>".
func faultGeminiCalls(t *testing.T, h *harness) []faultGeminiCall {
	t.Helper()
	var out []faultGeminiCall
	for _, r := range h.gfake.Requests() {
		stream := r.Path == "/v1internal:streamGenerateContent"
		if r.Path != "/v1internal:generateContent" && !stream {
			continue
		}
		var env struct {
			Project string `json:"project"`
		}
		if err := json.Unmarshal(r.Body, &env); err != nil {
			t.Fatalf("upstream envelope %s: %v", r.Body, err)
		}
		out = append(out, faultGeminiCall{token: strings.TrimPrefix(env.Project, "proj-"), bearer: r.Header.Get("Authorization"), stream: stream})
	}
	return out
}

// faultGeminiSend sends one client request for faultGeminiModel and
// returns the response and its body.
func faultGeminiSend(t *testing.T, h *harness, stream bool) (*http.Response, string) {
	t.Helper()
	return faultGeminiSendModel(t, h, faultGeminiModel, stream)
}

func faultGeminiSendModel(t *testing.T, h *harness, model string, stream bool) (*http.Response, string) {
	t.Helper()
	resp := h.do(http.MethodPost, faultGeminiPath(model, stream), faultGeminiBody, nil)
	return resp, readAll(t, resp)
}

// faultGeminiStreamData returns the data payloads of an SSE body.
func faultGeminiStreamData(body string) []string {
	var out []string
	for _, block := range strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n\n") {
		for _, line := range strings.Split(block, "\n") {
			if d, ok := strings.CutPrefix(line, "data: "); ok {
				out = append(out, d)
			}
		}
	}
	return out
}

// faultAssertServed checks a unary or streamed success from the fake's
// default answers.
func faultAssertServed(t *testing.T, stream bool, status int, body string) {
	t.Helper()
	if status != http.StatusOK {
		t.Fatalf("client status %d (%s), want 200", status, body)
	}
	if stream {
		data := faultGeminiStreamData(body)
		if len(data) != 3 || strings.Contains(body, `"error"`) || !strings.Contains(data[2], `"STOP"`) {
			t.Fatalf("stream = %q, want the three events of a whole answer", data)
		}
		return
	}
	if !strings.Contains(body, "echo: "+faultGeminiModel) {
		t.Fatalf("body = %s, want the upstream's answer", body)
	}
}

func TestGeminiFaultClasses(t *testing.T) {
	tosMessage := "This service has been disabled in this account for violation of Terms of Service. Please submit an appeal to continue using this product."
	resetAt := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	cases := []struct {
		name   string
		tokens []string // default: two accounts
		stream bool
		opts   harnessOptions
		setup  func(h *harness)
		// checkReply checks the client's 200 answer (default: a whole
		// answer from the fake).
		checkReply func(t *testing.T, body string)
		want       faultCredWant
		// wantCalls is how many generate-family calls the request made
		// upstream (0: not checked).
		wantCalls int
		// retry is where the second upstream call must go: faultOther
		// (default), faultSame or faultAny.
		retry faultRetry
		// refreshed: the faulted credential refreshed its token once.
		refreshed bool
		// otherModel: the cooldown is per model, so the faulted
		// credential still serves the other model at once.
		otherModel bool
	}{
		{
			name: "429 RetryInfo",
			setup: func(h *harness) {
				h.gfake.ScriptGenerate(faultGoogleError(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).",
					faultErrorInfo("RATE_LIMIT_EXCEEDED", nil), faultRetryInfo("30s")))
			},
			want: faultCredWant{status: storage.StatusActive, lastError: "rate_limited: RATE_LIMIT_EXCEEDED",
				cooldown: faultGeminiModel, cooldownReason: "RATE_LIMIT_EXCEEDED", coolFor: 30 * time.Second},
			wantCalls: 2, otherModel: true,
		},
		{
			name: "429 ErrorInfo quotaResetDelay",
			setup: func(h *harness) {
				h.gfake.ScriptGenerate(faultGoogleError(429, "RESOURCE_EXHAUSTED", "You have exhausted your capacity on this model.",
					faultErrorInfo("RATE_LIMIT_EXCEEDED", map[string]string{"quotaResetDelay": "45.5s"})))
			},
			want: faultCredWant{status: storage.StatusActive, lastError: "rate_limited",
				cooldown: faultGeminiModel, cooldownReason: "RATE_LIMIT_EXCEEDED", coolFor: 45500 * time.Millisecond},
			wantCalls: 2,
		},
		{
			name: "429 ErrorInfo quotaResetTimeStamp",
			setup: func(h *harness) {
				h.gfake.ScriptGenerate(faultGoogleError(429, "RESOURCE_EXHAUSTED", "You have exhausted your capacity on this model.",
					faultErrorInfo("QUOTA_EXHAUSTED", map[string]string{"quotaResetTimeStamp": resetAt.Format(time.RFC3339)})))
			},
			want: faultCredWant{status: storage.StatusActive, lastError: "quota_exhausted: QUOTA_EXHAUSTED",
				// The cooldown ends 30 ms after the stated reset,
				// never before it (issue 9).
				cooldown: faultGeminiModel, cooldownReason: "QUOTA_EXHAUSTED", coolUntil: resetAt.Add(30 * time.Millisecond)},
			wantCalls: 2,
		},
		{
			name: "429 daily quota (QuotaFailure PerDay)",
			setup: func(h *harness) {
				h.gfake.ScriptGenerate(faultGoogleError(429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Generate Content API requests per day'.",
					faultQuotaFailure("GenerateRequestsPerDayPerProjectPerModel")))
			},
			// No reset time given: the model backs off briefly (a first
			// step of one second, then a probe; never a long default, issue
			// 9); the credential stays active for other models.
			want: faultCredWant{status: storage.StatusActive, lastError: "quota_exhausted",
				cooldown: faultGeminiModel, cooldownReason: "RESOURCE_EXHAUSTED", coolFor: time.Second, backoff: 1},
			wantCalls: 2, otherModel: true,
		},
		{
			name: "429 MODEL_CAPACITY_EXHAUSTED",
			setup: func(h *harness) {
				h.gfake.ScriptGenerate(faultGoogleError(429, "RESOURCE_EXHAUSTED", "No capacity available for model "+faultGeminiModel+" on the server",
					faultErrorInfo("MODEL_CAPACITY_EXHAUSTED", map[string]string{"model": faultGeminiModel})))
			},
			// Upstream capacity, not this account: a short cooldown.
			want: faultCredWant{status: storage.StatusActive, lastError: "overloaded: MODEL_CAPACITY_EXHAUSTED",
				cooldown: faultGeminiModel, cooldownReason: "MODEL_CAPACITY_EXHAUSTED", coolFor: 3 * time.Second},
			wantCalls: 2,
		},
		{
			name: "429 without details",
			setup: func(h *harness) {
				h.gfake.ScriptGenerate(faultGoogleError(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."))
			},
			// Unknown limit: the first backoff step.
			want: faultCredWant{status: storage.StatusActive, lastError: "rate_limited: RESOURCE_EXHAUSTED",
				cooldown: faultGeminiModel, cooldownReason: "RESOURCE_EXHAUSTED", coolFor: time.Second, backoff: 1},
			wantCalls: 2,
		},
		{
			name:   "401 refreshes and retries the same credential",
			tokens: []string{"g-only"},
			setup:  func(h *harness) { h.gfake.ExpireAccessTokens() },
			want:   faultCredWant{status: storage.StatusActive, lastError: "auth_expired: UNAUTHENTICATED"},
			// The 401 comes from the token check, before the call counts.
			wantCalls: 2, retry: faultSame, refreshed: true,
		},
		{
			name: "401 refreshes; this or another credential serves",
			setup: func(h *harness) {
				h.gfake.ScriptGenerate(faultGoogleError(401, "UNAUTHENTICATED",
					"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential."))
			},
			want:      faultCredWant{status: storage.StatusActive, lastError: "auth_expired: UNAUTHENTICATED"},
			wantCalls: 2, retry: faultAny, refreshed: true,
		},
		{
			name: "403 Terms of Service bans",
			setup: func(h *harness) {
				h.gfake.ScriptGenerate(faultGoogleError(403, "PERMISSION_DENIED", tosMessage))
			},
			want:      faultCredWant{status: storage.StatusBanned, reason: "TERMS_OF_SERVICE", lastError: "banned"},
			wantCalls: 2,
		},
		{
			name: "403 SUBSCRIPTION_REQUIRED is ineligible",
			setup: func(h *harness) {
				h.gfake.ScriptGenerate(faultGoogleError(403, "PERMISSION_DENIED",
					"The caller does not have permission. A Gemini Code Assist license is required (#3501).",
					faultErrorInfo("SUBSCRIPTION_REQUIRED", nil)))
			},
			want:      faultCredWant{status: storage.StatusIneligible, reason: "SUBSCRIPTION_REQUIRED", lastError: "ineligible"},
			wantCalls: 2,
		},
		{
			name: "403 VALIDATION_REQUIRED needs re-auth",
			setup: func(h *harness) {
				h.gfake.ScriptGenerate(faultGoogleError(403, "PERMISSION_DENIED", "VALIDATION_REQUIRED: verify your account to continue.",
					faultErrorInfo("VALIDATION_REQUIRED", nil), faultHelp("https://accounts.google.com/signin/continue?x=1")))
			},
			want:      faultCredWant{status: storage.StatusNeedsReauth, reason: "VALIDATION_REQUIRED", lastError: "auth_revoked"},
			wantCalls: 2,
		},
		{
			name: "403 VALIDATION_REQUIRED keeps the validation URL",
			setup: func(h *harness) {
				h.gfake.ScriptGenerate(faultGoogleError(403, "PERMISSION_DENIED", "VALIDATION_REQUIRED: verify your account to continue.",
					faultErrorInfo("VALIDATION_REQUIRED", nil), faultHelp("https://accounts.google.com/signin/continue?x=1")))
			},
			// PROTOCOLS.md §2: needs_reauth, keep the URL (operators need it).
			want: faultCredWant{status: storage.StatusNeedsReauth, reason: "https://accounts.google.com/signin/continue?x=1",
				lastError: "auth_revoked"},
			wantCalls: 2,
		},
		{
			name: "404 model turns the model off for that credential",
			setup: func(h *harness) {
				h.gfake.ScriptGenerate(faultGoogleError(404, "NOT_FOUND", "Requested entity was not found."))
			},
			want: faultCredWant{status: storage.StatusActive, lastError: "model_unsupported: NOT_FOUND",
				cooldown: faultGeminiModel, cooldownReason: "NOT_FOUND", coolFor: 6 * time.Hour},
			wantCalls: 2, otherModel: true,
		},
		{
			name: "500 rotates without penalty",
			setup: func(h *harness) {
				h.gfake.ScriptGenerate(faultGoogleError(500, "INTERNAL", "Internal error encountered."))
			},
			want:      faultCredWant{status: storage.StatusActive},
			wantCalls: 2,
		},
		{
			name: "503 rotates without penalty",
			setup: func(h *harness) {
				h.gfake.ScriptGenerate(faultGoogleError(503, "UNAVAILABLE", "The service is currently unavailable."))
			},
			want:      faultCredWant{status: storage.StatusActive},
			wantCalls: 2,
		},
		{
			name:      "connection reset before headers rotates",
			setup:     func(h *harness) { h.gfake.ScriptGenerate(geminifake.Response{Reset: true}) },
			want:      faultCredWant{status: storage.StatusActive},
			wantCalls: 2,
		},
		{
			name:   "stream: connection reset before headers rotates",
			stream: true,
			setup:  func(h *harness) { h.gfake.ScriptGenerate(geminifake.Response{Reset: true}) },
			want:   faultCredWant{status: storage.StatusActive},
			// Both calls are streams.
			wantCalls: 2,
		},
		{
			name:   "stream: cut mid-stream ends with an error event, no retry",
			stream: true,
			setup: func(h *harness) {
				h.gfake.ScriptStream(geminifake.Stream{Events: geminifake.DefaultStream(faultGeminiModel).Events, CutAfter: 1})
			},
			checkReply: func(t *testing.T, body string) {
				data := faultGeminiStreamData(body)
				if len(data) != 2 || !strings.Contains(data[0], `"Hel"`) {
					t.Fatalf("stream = %q, want the first chunk, then one error event", data)
				}
				var e struct {
					Error struct {
						Code   int    `json:"code"`
						Status string `json:"status"`
					} `json:"error"`
				}
				if err := json.Unmarshal([]byte(data[1]), &e); err != nil || e.Error.Code != http.StatusBadGateway {
					t.Fatalf("last event %s (%v), want a Google error with code 502", data[1], err)
				}
			},
			want:      faultCredWant{status: storage.StatusActive},
			wantCalls: 1,
		},
		{
			name:   "stream: slow first byte beyond the deadline rotates",
			stream: true,
			opts:   harnessOptions{mutateDeps: func(d *transport.Deps) { d.FirstByteTimeout = 500 * time.Millisecond }},
			setup: func(h *harness) {
				// Never answers within the test: only the gateway giving up ends it.
				h.gfake.ScriptStream(geminifake.Stream{Delay: time.Hour})
			},
			want:      faultCredWant{status: storage.StatusActive},
			wantCalls: 2,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tokens := tc.tokens
			if tokens == nil {
				tokens = []string{"g-a", "g-b"}
			}
			h := newHarness(t, tc.opts)
			ids := map[string]int64{}
			for i, v := range h.addGemini(tokens...) {
				ids[tokens[i]] = v.CredentialID
			}
			refreshes := map[string]int{}
			for _, tok := range tokens {
				refreshes[tok] = h.gfake.Refreshes(tok)
			}
			pool := h.sys.Pool(providers.GeminiCLI)

			tc.setup(h)
			sent := time.Now()
			resp, body := faultGeminiSend(t, h, tc.stream)

			// (a) The client's answer: every fault here is served, by
			// another credential or (a cut stream) with an in-band error.
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("client status %d (%s), want 200", resp.StatusCode, body)
			}
			if tc.checkReply != nil {
				tc.checkReply(t, body)
			} else {
				faultAssertServed(t, tc.stream, resp.StatusCode, body)
			}
			calls := faultGeminiCalls(t, h)
			if len(calls) == 0 {
				t.Fatal("the fake saw no generate call")
			}
			if tc.wantCalls > 0 && len(calls) != tc.wantCalls {
				t.Fatalf("upstream calls = %+v, want %d", calls, tc.wantCalls)
			}
			for _, c := range calls {
				if c.stream != tc.stream {
					t.Errorf("upstream call %+v, want stream=%v", c, tc.stream)
				}
			}
			hit := calls[0].token
			if len(calls) > 1 {
				tc.retry.check(t, hit, calls[1].token)
				if calls[1].token == hit && calls[1].bearer == calls[0].bearer {
					t.Errorf("the retry on the same credential reused the rejected access token")
				}
			}

			// (b) What the pool made of the faulted credential.
			view := faultAwaitCred(t, h.tap, pool, ids[hit], tc.want, sent)
			wantRefreshes := 0
			if tc.refreshed {
				wantRefreshes = 1
				// The refresh runs in the background when another
				// credential took the retry.
				untilPool(t, h.tap, providers.GeminiCLI, "the faulted credential refreshes", func() bool { return h.gfake.Refreshes(hit) > refreshes[hit] })
				// The upstream issued the token; the credential adopts it
				// once it is durable, a moment later.
				untilPool(t, h.tap, providers.GeminiCLI, "the faulted credential adopts its new token", func() bool {
					v, ok := faultCredView(t, pool, ids[hit])
					return ok && !v.Refreshing
				})
			}
			if got := h.gfake.Refreshes(hit) - refreshes[hit]; got != wantRefreshes {
				t.Errorf("refreshes of the faulted credential = %d, want %d", got, wantRefreshes)
			}

			if tc.otherModel {
				faultServesAgain(t, 4, func() {
					resp, body := faultGeminiSendModel(t, h, faultGeminiOtherModel, false)
					if resp.StatusCode != http.StatusOK || !strings.Contains(body, "echo: "+faultGeminiOtherModel) {
						t.Fatalf("%s: status %d (%s), want 200", faultGeminiOtherModel, resp.StatusCode, body)
					}
				}, func() int { return h.gfake.AccountCalls(hit) })
			}

			// (c) A kept-off credential is not called again before its
			// reset; one without penalty serves again at once.
			until, keptOff := tc.want.keepsOff(view)
			if !keptOff {
				faultServesAgain(t, 4, func() {
					resp, body := faultGeminiSend(t, h, tc.stream)
					faultAssertServed(t, tc.stream, resp.StatusCode, body)
				}, func() int { return h.gfake.AccountCalls(hit) })
				return
			}
			faultFollowUps(t, 3, until,
				func() (int, string) {
					resp, body := faultGeminiSend(t, h, tc.stream)
					return resp.StatusCode, body
				},
				func() int { return h.gfake.AccountCalls(hit) })
		})
	}
}

// faultAssertExhausted checks a 429 RESOURCE_EXHAUSTED with a Retry-After
// of about want seconds.
func faultAssertExhausted(t *testing.T, what string, resp *http.Response, body string, want int) {
	t.Helper()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("%s: status %d (%s), want 429", what, resp.StatusCode, body)
	}
	var e struct {
		Error struct {
			Code   int    `json:"code"`
			Status string `json:"status"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Status != "RESOURCE_EXHAUSTED" || e.Error.Code != http.StatusTooManyRequests {
		t.Errorf("%s: body %s (%v), want a Google error 429 RESOURCE_EXHAUSTED", what, body, err)
	}
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || ra < want-5 || ra > want+1 {
		t.Errorf("%s: Retry-After = %q, want about %d s (the earliest reset)", what, resp.Header.Get("Retry-After"), want)
	}
}

// TestGeminiFaultExhaustedPool: when every credential is rate-limited the
// client gets 429 RESOURCE_EXHAUSTED with a Retry-After that matches the
// earliest reset, and no credential is called until then.
func TestGeminiFaultExhaustedPool(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addGemini("g-a", "g-b")
	h.gfake.ScriptGenerate(
		faultGoogleError(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted.", faultRetryInfo("90s")),
		faultGoogleError(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted.", faultRetryInfo("30s")),
	)
	resp, body := faultGeminiSend(t, h, false)
	if got := len(faultGeminiCalls(t, h)); got != 2 {
		t.Fatalf("upstream calls = %d, want both credentials tried", got)
	}
	faultAssertExhausted(t, "the request that exhausts the pool", resp, body, 30)

	calls := len(faultGeminiCalls(t, h))
	for _, stream := range []bool{false, true} {
		resp, body = faultGeminiSend(t, h, stream)
		faultAssertExhausted(t, fmt.Sprintf("stream=%v while all cool", stream), resp, body, 30)
	}
	if got := len(faultGeminiCalls(t, h)); got != calls {
		t.Errorf("upstream called %d time(s) while every credential cools", got-calls)
	}
}

// TestGeminiFaultExhaustingRetryAfter: the request that finds the last
// credential rate-limited must name the earliest reset of the pool, not the
// reset of the failure it saw last.
func TestGeminiFaultExhaustingRetryAfter(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addGemini("g-a", "g-b")
	h.gfake.ScriptGenerate(
		faultGoogleError(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted.", faultRetryInfo("30s")),
		faultGoogleError(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted.", faultRetryInfo("90s")),
	)
	resp, body := faultGeminiSend(t, h, false)
	faultAssertExhausted(t, "the request that exhausts the pool", resp, body, 30)
}

// TestGeminiFaultOnboardingRefused: an account Google refuses is not added;
// the resource:add verdict carries Google's reason.
func TestGeminiFaultOnboardingRefused(t *testing.T) {
	cases := []struct {
		name       string
		account    geminifake.Account
		wantResult string
		wantReason []string
		wantURL    string
	}{
		{
			name: "only ineligible tiers",
			account: geminifake.Account{Ineligible: &geminifake.Ineligible{ReasonCode: "UNSUPPORTED_CLIENT",
				ReasonMessage: "Gemini Code Assist is not available for personal accounts.", TierID: "free-tier",
				ValidationURL: "https://example.com/why"}},
			wantResult: "ineligible",
			wantReason: []string{"UNSUPPORTED_CLIENT", "not available for personal accounts"},
			wantURL:    "https://example.com/why",
		},
		{
			name: "403 SUBSCRIPTION_REQUIRED at loadCodeAssist",
			account: geminifake.Account{LoadError: func() *geminifake.Response {
				r := faultGoogleError(403, "PERMISSION_DENIED", "A Gemini Code Assist license is required (#3501).",
					faultErrorInfo("SUBSCRIPTION_REQUIRED", nil))
				return &r
			}()},
			wantResult: "ineligible",
			wantReason: []string{"SUBSCRIPTION_REQUIRED", "license is required"},
		},
		{
			name: "403 Terms of Service at onboardUser",
			account: geminifake.Account{OnboardError: func() *geminifake.Response {
				r := faultGoogleError(403, "PERMISSION_DENIED", "This account violated the Terms of Service.")
				return &r
			}()},
			wantResult: "banned",
			wantReason: []string{"TERMS_OF_SERVICE", "Terms of Service"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			tok := "1//0gRT-refused"
			tc.account.Email, tc.account.Sub = "refused@example.com", "sub-refused"
			h.gfake.AddAccount(tok, tc.account)
			resp := h.do(http.MethodPost, "/geminicli/resource:add?wait=true", `[{"refresh_token":"`+tok+`"}]`, nil)
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d (%s), want 200", resp.StatusCode, body)
			}
			if strings.Contains(body, tok) {
				t.Errorf("the verdict echoes the refresh token: %s", body)
			}
			var j ingestJob
			if err := json.Unmarshal([]byte(body), &j); err != nil || len(j.Verdicts) != 1 {
				t.Fatalf("body %s (%v), want one verdict", body, err)
			}
			v := j.Verdicts[0]
			if v.Result != tc.wantResult || v.CredentialID != 0 || v.URL != tc.wantURL {
				t.Errorf("verdict %+v, want result %q, no credential, url %q", v, tc.wantResult, tc.wantURL)
			}
			for _, r := range tc.wantReason {
				if !strings.Contains(v.Reason, r) {
					t.Errorf("verdict reason %q, want it to contain %q", v.Reason, r)
				}
			}
			snap, err := h.sys.Pool(providers.GeminiCLI).Snapshot(context.Background())
			if err != nil || len(snap.Credentials) != 0 {
				t.Errorf("pool after a refused account: %+v (%v), want no credential", snap, err)
			}
		})
	}
}
