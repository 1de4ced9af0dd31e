package gatewayfaults

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pollux-gateway/pollux/providers"
	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
	"github.com/pollux-gateway/pollux/storage"
)

// End-to-end fault classes on the OpenAI Responses surface over the Codex
// backend, in the shape of TestGeminiFaultClasses: the client's answer, the
// pool's verdict on the faulted account, and the fake's counters proving a
// kept-off account is not called before its reset.

// The Codex models of the default config; Codex limits are account-wide,
// so a cooldown from one must keep the account off the other too.
const (
	faultCodexModel      = "gpt-5.2-codex"
	faultCodexOtherModel = "gpt-5.2"
)

// faultCodexBody is a minimal streaming Responses request.
func faultCodexBody(model string) string {
	return `{"model":"` + model + `","input":"hi","stream":true}`
}

// faultCodexSend posts one streaming request and returns it with its body.
func faultCodexSend(t *testing.T, h *harness, model string) (*http.Response, string) {
	t.Helper()
	resp := h.do(http.MethodPost, "/codex/v1/responses", faultCodexBody(model), nil)
	return resp, readAll(t, resp)
}

// faultCodexEvent is one SSE event of a relayed stream.
type faultCodexEvent struct{ name, data string }

// faultCodexEvents splits an SSE body into its named events (comments are
// skipped).
func faultCodexEvents(body string) []faultCodexEvent {
	var out []faultCodexEvent
	for _, block := range strings.Split(body, "\n\n") {
		var ev faultCodexEvent
		for _, line := range strings.Split(block, "\n") {
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				ev.name = v
			}
			if v, ok := strings.CutPrefix(line, "data: "); ok {
				ev.data = v
			}
		}
		if ev.name != "" {
			out = append(out, ev)
		}
	}
	return out
}

// faultCodexAssertServed checks a whole default answer: it ends with
// response.completed and carries no failure.
func faultCodexAssertServed(t *testing.T, status int, body string) {
	t.Helper()
	if status != http.StatusOK {
		t.Fatalf("client status %d (%s), want 200", status, body)
	}
	evs := faultCodexEvents(body)
	if len(evs) == 0 || evs[len(evs)-1].name != "response.completed" {
		t.Fatalf("stream events %+v, want a whole answer ending with response.completed", evs)
	}
	for _, ev := range evs {
		if ev.name == "response.failed" || ev.name == "error" {
			t.Fatalf("the client saw %s: %s", ev.name, ev.data)
		}
	}
}

// faultCodexCalls lists the chatgpt-account-id of every call the fake's
// responses endpoint received, in order.
func faultCodexCalls(h *harness) []string {
	var out []string
	for _, r := range h.cfake.RequestsTo(codexfake.Responses) {
		out = append(out, r.Header.Get("chatgpt-account-id"))
	}
	return out
}

// faultCodexError is the OpenAI error envelope with the usage-limit fields.
type faultCodexError struct {
	Error struct {
		Message  string `json:"message"`
		Type     string `json:"type"`
		Code     string `json:"code"`
		ResetsAt *int64 `json:"resets_at"`
	} `json:"error"`
}

func faultUsageLimit(resetsAt int64) codexfake.Reply {
	return codexfake.Reply{Status: http.StatusTooManyRequests, Body: fmt.Sprintf(
		`{"error":{"type":"usage_limit_reached","message":"The usage limit has been reached","plan_type":"pro","resets_at":%d,"resets_in_seconds":%d}}`,
		resetsAt, resetsAt-time.Now().Unix())}
}

func TestCodexFaultClasses(t *testing.T) {
	resetsAt := time.Now().Add(2 * time.Hour).Unix()
	cases := []struct {
		name   string
		tokens []string // default: two accounts
		setup  func(h *harness)
		// wantStatus is the client's status (default 200, a whole answer).
		wantStatus int
		checkReply func(t *testing.T, body string)
		want       faultCredWant
		wantCalls  int
		retry      faultRetry
		refreshed  bool
		// followModels are the models of the follow-up requests (default:
		// the faulted model).
		followModels []string
		// followStatus is the status of follow-ups (default 200).
		followStatus int
		// extra runs further checks with the faulted account's id.
		extra func(t *testing.T, h *harness, account string)
	}{
		{
			name:  "429 usage_limit_reached cools the whole account",
			setup: func(h *harness) { h.cfake.Push(codexfake.Responses, faultUsageLimit(resetsAt)) },
			want: faultCredWant{status: storage.StatusCooling, reason: "usage_limit_reached", lastError: "quota_exhausted: usage_limit_reached",
				// resets_in_seconds is preferred over resets_at (issue 9).
				cooldown: storage.AllModels, cooldownReason: "usage_limit_reached", coolFor: 2 * time.Hour},
			wantCalls: 2,
			// Another model on the same account is refused too.
			followModels: []string{faultCodexOtherModel, faultCodexModel, faultCodexOtherModel},
		},
		{
			name: "429 usage_not_included is ineligible",
			setup: func(h *harness) {
				h.cfake.Push(codexfake.Responses, codexfake.Reply{Status: http.StatusTooManyRequests,
					Body: `{"error":{"type":"usage_not_included","message":"Your plan does not include Codex."}}`})
			},
			want:         faultCredWant{status: storage.StatusIneligible, reason: "usage_not_included", lastError: "ineligible"},
			wantCalls:    2,
			followModels: []string{faultCodexOtherModel, faultCodexModel},
		},
		{
			name:   "401 token_invalidated refreshes the rotating token and retries",
			tokens: []string{"c-only"},
			setup:  func(h *harness) { h.cfake.InvalidateAccess("acct-c-only") },
			want:   faultCredWant{status: storage.StatusActive, lastError: "auth_expired: token_invalidated"},
			// The fake's own 401 for a dead token.
			wantCalls: 2, retry: faultSame, refreshed: true,
			extra: func(t *testing.T, h *harness, account string) {
				// The rotated refresh token was kept: a second
				// invalidation refreshes again with it, not the dead one.
				rotated, refreshes := h.cfake.RefreshToken(account), h.cfake.Refreshes(account)
				tokenCalls := len(h.cfake.RequestsTo(codexfake.Token))
				h.cfake.InvalidateAccess(account)
				resp, body := faultCodexSend(t, h, faultCodexModel)
				faultCodexAssertServed(t, resp.StatusCode, body)
				if got := h.cfake.Refreshes(account) - refreshes; got != 1 {
					t.Errorf("second invalidation: %d successful refreshes, want 1", got)
				}
				if got := len(h.cfake.RequestsTo(codexfake.Token)) - tokenCalls; got != 1 {
					t.Errorf("second invalidation: %d token calls, want 1 (any other presented a dead refresh token)", got)
				}
				if got := h.cfake.RefreshToken(account); got == rotated || got == "" {
					t.Errorf("the refresh token did not rotate on the second refresh")
				}
			},
		},
		{
			name: "401 account_deactivated bans",
			setup: func(h *harness) {
				h.cfake.Push(codexfake.Responses, codexfake.Reply{Status: http.StatusUnauthorized,
					Body: `{"error":{"message":"Your OpenAI account has been deactivated.","type":"invalid_request_error","code":"account_deactivated","param":null}}`})
			},
			want:      faultCredWant{status: storage.StatusBanned, reason: "account_deactivated", lastError: "banned"},
			wantCalls: 2,
		},
		{
			name: "402 deactivated_workspace bans",
			setup: func(h *harness) {
				h.cfake.Push(codexfake.Responses, codexfake.Reply{Status: http.StatusPaymentRequired,
					Body: `{"detail":{"code":"deactivated_workspace"}}`})
			},
			want:      faultCredWant{status: storage.StatusBanned, reason: "deactivated_workspace", lastError: "banned"},
			wantCalls: 2,
		},
		{
			name: "overload in a 200 stream is held back and retried on another account",
			setup: func(h *harness) {
				h.cfake.Push(codexfake.Responses, codexfake.Reply{Stream: &codexfake.Stream{Overloaded: true}})
			},
			// The client sees one whole answer (checked by default): not
			// the overloaded attempt's response.created or failure.
			want: faultCredWant{status: storage.StatusActive, lastError: "overloaded: server_is_overloaded",
				cooldown: faultCodexModel, cooldownReason: "server_is_overloaded", coolFor: 3 * time.Second},
			wantCalls: 2,
		},
		{
			name: "cut mid-stream ends with response.failed, no retry",
			setup: func(h *harness) {
				h.cfake.Push(codexfake.Responses, codexfake.Reply{Stream: &codexfake.Stream{CutAfter: 5}})
			},
			checkReply: func(t *testing.T, body string) {
				evs := faultCodexEvents(body)
				if len(evs) != 6 || evs[4].name != "response.output_text.delta" || evs[5].name != "response.failed" {
					t.Fatalf("stream events %+v, want the first five, then response.failed", evs)
				}
				var f struct {
					Response struct {
						Status string `json:"status"`
						Error  struct {
							Code string `json:"code"`
						} `json:"error"`
					} `json:"response"`
				}
				if err := json.Unmarshal([]byte(evs[5].data), &f); err != nil || f.Response.Status != "failed" || f.Response.Error.Code != "stream_interrupted" {
					t.Errorf("response.failed = %s (%v), want status failed, code stream_interrupted", evs[5].data, err)
				}
			},
			want:      faultCredWant{status: storage.StatusActive},
			wantCalls: 1,
		},
		{
			name:   "refresh_token_reused at refresh needs re-auth with that reason",
			tokens: []string{"c-only"},
			setup: func(h *harness) {
				h.cfake.InvalidateAccess("acct-c-only")
				h.cfake.Push(codexfake.Token, codexfake.Reply{Status: http.StatusUnauthorized,
					Body: `{"error":{"message":"Your refresh token has already been used to generate a new access token. Please try signing in again.","type":"invalid_request_error","param":null,"code":"refresh_token_reused"}}`})
			},
			// The only account is gone: the last upstream answer (the 401
			// that started the refresh) is relayed, and later requests are
			// refused without an upstream call.
			wantStatus: http.StatusBadGateway,
			checkReply: func(t *testing.T, body string) {
				var e faultCodexError
				if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Message == "" {
					t.Errorf("body %s (%v), want the OpenAI error envelope", body, err)
				}
			},
			want:         faultCredWant{status: storage.StatusNeedsReauth, reason: "refresh_token_reused", lastError: "refresh_token_reused"},
			wantCalls:    1,
			followStatus: http.StatusServiceUnavailable,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tokens := tc.tokens
			if tokens == nil {
				tokens = []string{"c-a", "c-b"}
			}
			h := newHarness(t, harnessOptions{})
			ids := map[string]int64{}
			for i, v := range h.addCodex(tokens...) {
				ids["acct-"+tokens[i]] = v.CredentialID
			}
			refreshes := map[string]int{}
			for acct := range ids {
				refreshes[acct] = h.cfake.Refreshes(acct)
			}
			pool := h.sys.Pool(providers.Codex)

			tc.setup(h)
			sent := time.Now()
			resp, body := faultCodexSend(t, h, faultCodexModel)

			// (a) The client's answer.
			wantStatus := tc.wantStatus
			if wantStatus == 0 {
				wantStatus = http.StatusOK
			}
			if resp.StatusCode != wantStatus {
				t.Fatalf("client status %d (%s), want %d", resp.StatusCode, body, wantStatus)
			}
			if tc.checkReply != nil {
				tc.checkReply(t, body)
			} else {
				faultCodexAssertServed(t, resp.StatusCode, body)
			}
			calls := faultCodexCalls(h)
			if len(calls) != tc.wantCalls {
				t.Fatalf("upstream calls from accounts %q, want %d", calls, tc.wantCalls)
			}
			hit := calls[0]
			if len(calls) > 1 {
				tc.retry.check(t, hit, calls[1])
			}

			// (b) The pool's verdict on the faulted account.
			view := faultAwaitCred(t, h.tap, pool, ids[hit], tc.want, sent)
			wantRefreshes := 0
			if tc.refreshed {
				wantRefreshes = 1
			}
			if got := h.cfake.Refreshes(hit) - refreshes[hit]; got != wantRefreshes {
				t.Errorf("successful refreshes of the faulted account = %d, want %d", got, wantRefreshes)
			}
			if tc.extra != nil {
				tc.extra(t, h, hit)
			}

			// (c) Kept off until its reset, or serving again at once.
			until, keptOff := tc.want.keepsOff(view)
			if !keptOff {
				faultServesAgain(t, 4, func() {
					resp, body := faultCodexSend(t, h, faultCodexModel)
					faultCodexAssertServed(t, resp.StatusCode, body)
				}, func() int { return h.cfake.Calls(hit) })
				return
			}
			models := tc.followModels
			if models == nil {
				models = []string{faultCodexModel, faultCodexModel, faultCodexModel}
			}
			followStatus := tc.followStatus
			if followStatus == 0 {
				followStatus = http.StatusOK
			}
			before := h.cfake.Calls(hit)
			for i, m := range models {
				resp, body := faultCodexSend(t, h, m)
				if time.Now().After(until) {
					t.Logf("follow-up %d ended after the reset (%s); not checked", i, until)
					break
				}
				if resp.StatusCode != followStatus {
					t.Fatalf("follow-up %d (%s): status %d (%s), want %d", i, m, resp.StatusCode, body, followStatus)
				}
				if followStatus == http.StatusOK {
					faultCodexAssertServed(t, resp.StatusCode, body)
				}
				if got := h.cfake.Calls(hit); got != before {
					t.Fatalf("follow-up %d (%s): the kept-off account was called before its reset at %s", i, m, until)
				}
			}
		})
	}
}

// TestCodexFaultExhaustedPool: with every account over its usage limit the
// client gets 429 with Retry-After and the upstream's resets_at, and no
// account is called until the reset.
func TestCodexFaultExhaustedPool(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addCodex("c-a", "c-b")
	resetsAt := time.Now().Add(time.Hour).Unix()
	h.cfake.Push(codexfake.Responses, faultUsageLimit(resetsAt), faultUsageLimit(resetsAt))
	for i, model := range []string{faultCodexModel, faultCodexOtherModel} {
		resp, body := faultCodexSend(t, h, model)
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("request %d: status %d (%s), want 429", i, resp.StatusCode, body)
		}
		ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if want := int(time.Until(time.Unix(resetsAt, 0)).Seconds()); err != nil || ra < want-5 || ra > want+2 {
			t.Errorf("request %d: Retry-After = %q, want about %d", i, resp.Header.Get("Retry-After"), want)
		}
		if i == 0 {
			// The upstream's answer is relayed with its reset time.
			var e faultCodexError
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.ResetsAt == nil || *e.Error.ResetsAt != resetsAt {
				t.Errorf("body %s (%v), want resets_at %d kept", body, err, resetsAt)
			}
		}
	}
	if got := len(faultCodexCalls(h)); got != 2 {
		t.Errorf("upstream calls = %d, want 2: one per account, none while they cool", got)
	}
}

// faultStorm is what a burst of requests on a just-expired token caused.
type faultStorm struct {
	// failed lists the requests that were not served, with their answer.
	failed []string
	// status is the account's status afterwards.
	status storage.Status
	reason string
	// refreshes counts successful refreshes; tokenCalls every call to the
	// token endpoint (a refused one, such as refresh_token_reused, counts
	// only there).
	refreshes, tokenCalls int
}

// faultCodexStorm sends n concurrent streaming requests to an account whose
// access token was just invalidated at the fake.
func faultCodexStorm(t *testing.T, n int) faultStorm {
	t.Helper()
	h := newHarness(t, harnessOptions{queueSecs: 20})
	h.addCodex("c-hot")
	const account = "acct-c-hot"
	before := h.cfake.Refreshes(account)
	tokensBefore := len(h.cfake.RequestsTo(codexfake.Token))
	h.cfake.InvalidateAccess(account)

	failed := make([]string, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, h.ts.URL+"/codex/v1/responses",
				strings.NewReader(faultCodexBody(faultCodexModel)))
			if err != nil {
				failed[i] = err.Error()
				return
			}
			req.Header.Set("Authorization", "Bearer "+harnessKey)
			req.Header.Set("Content-Type", "application/json")
			resp, err := h.ts.Client().Do(req)
			if err != nil {
				failed[i] = err.Error()
				return
			}
			b, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			evs := faultCodexEvents(string(b))
			if err != nil || resp.StatusCode != http.StatusOK || len(evs) == 0 || evs[len(evs)-1].name != "response.completed" {
				failed[i] = fmt.Sprintf("status %d, err %v: %s", resp.StatusCode, err, b)
			}
		}()
	}
	close(start)
	wg.Wait()

	var out faultStorm
	for i, f := range failed {
		if f != "" {
			out.failed = append(out.failed, fmt.Sprintf("request %d: %s", i, f))
		}
	}
	snap, err := h.sys.Pool(providers.Codex).Snapshot(t.Context())
	if err != nil || len(snap.Credentials) != 1 {
		t.Fatalf("pool after the storm: %+v (%v), want one account", snap, err)
	}
	out.status, out.reason = snap.Credentials[0].Status, snap.Credentials[0].StatusReason
	out.refreshes = h.cfake.Refreshes(account) - before
	out.tokenCalls = len(h.cfake.RequestsTo(codexfake.Token)) - tokensBefore
	return out
}

// TestCodexFaultConcurrentExpiredToken: 20 concurrent requests on an
// account whose access token just died never present the rotating refresh
// token twice: every call to the token endpoint is a successful refresh (a
// reused token would be refused with refresh_token_reused).
func TestCodexFaultConcurrentExpiredToken(t *testing.T) {
	st := faultCodexStorm(t, 20)
	if st.refreshes < 1 || st.tokenCalls != st.refreshes {
		t.Errorf("token endpoint calls = %d, successful refreshes = %d: want at least one, and no refused (refresh_token_reused) call",
			st.tokenCalls, st.refreshes)
	}
}

// TestCodexFaultConcurrentExpiredTokenOneRefresh: the same storm must cause
// exactly one refresh, serve every request, and leave the account active
// (issue 5's "done means").
func TestCodexFaultConcurrentExpiredTokenOneRefresh(t *testing.T) {
	st := faultCodexStorm(t, 20)
	if len(st.failed) > 0 {
		t.Errorf("requests not served: %q", st.failed)
	}
	if st.refreshes != 1 || st.tokenCalls != 1 {
		t.Errorf("refreshes = %d, token endpoint calls = %d, want exactly 1 each", st.refreshes, st.tokenCalls)
	}
	if st.status != storage.StatusActive {
		t.Errorf("account status %q (%s), want active", st.status, st.reason)
	}
}

// TestCodexFaultReauthAnswersWithoutWaiting: a request parked for the
// refresh of the only account must be answered as soon as that refresh
// fails for good (refresh_token_reused), not when its queue deadline
// passes.
func TestCodexFaultReauthAnswersWithoutWaiting(t *testing.T) {
	const queue = 60 * time.Second
	h := newHarness(t, harnessOptions{queueSecs: int(queue / time.Second)})
	h.addCodex("c-only")
	h.cfake.InvalidateAccess("acct-c-only")
	h.cfake.Push(codexfake.Token, codexfake.Reply{Status: http.StatusUnauthorized,
		Body: `{"error":{"message":"Your refresh token has already been used.","type":"invalid_request_error","param":null,"code":"refresh_token_reused"}}`})
	// A third of the queue deadline: far more than the refresh takes, far
	// less than a request that waits out the queue.
	ctx, cancel := context.WithTimeout(t.Context(), queue/3)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.ts.URL+"/codex/v1/responses", strings.NewReader(faultCodexBody(faultCodexModel)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+harnessKey)
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		t.Fatalf("no answer before the client gave up: %v", err)
	}
	body := readAll(t, resp)
	if resp.StatusCode == http.StatusOK {
		t.Errorf("status 200 (%s), want an error: the only account needs re-auth", body)
	}
}
