package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/codex"
	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
	"github.com/pollux-gateway/pollux/providers/geminicli"
)

const simEnvelope = `{"model":"gemini-2.5-pro","project":"sim-project-0","request":{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}}`

const simCodexBody = `{"model":"gpt-5.2-codex","stream":true,"store":false,"instructions":"","input":[{"role":"user","content":[{"type":"input_text","text":"hi"}]}]}`

// simAnswer is one upstream answer as a client saw it: err is set when no
// whole answer came (a reset, a cut, a deadline).
type simAnswer struct {
	status int
	header http.Header
	body   string
	err    error
}

// call sends one request and reads the whole answer, keeping what arrived
// before a failure.
func call(ctx context.Context, t *testing.T, c *http.Client, u string, header http.Header, body string) simAnswer {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := c.Do(req)
	if err != nil {
		return simAnswer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return simAnswer{status: resp.StatusCode, header: resp.Header, body: string(b), err: err}
}

// postScript posts a fault script and returns the status and body.
func postScript(t *testing.T, c *http.Client, s sim, provider, script string) (int, string) {
	t.Helper()
	status, body := do(t, c, http.MethodPost, "http://"+s.addr+"/_sim/"+provider+"/script",
		http.Header{"Content-Type": {"application/json"}}, script)
	return status, string(body)
}

// mustScript posts a script that must be accepted.
func mustScript(t *testing.T, c *http.Client, s sim, provider, script string) {
	t.Helper()
	if status, body := postScript(t, c, s, provider, script); status != http.StatusOK {
		t.Fatalf("script %s: status %d (%s), want 200", script, status, body)
	}
}

// simGemini drives the simulator's Gemini side as Pollux would.
type simGemini struct {
	c      *http.Client
	base   string
	bearer http.Header
	class  *geminicli.Client
}

func newSimGemini(t *testing.T, c *http.Client, s sim, refreshToken string) simGemini {
	t.Helper()
	base := "http://" + s.addr + "/gemini"
	tok := refresh(t, c, base+"/token", refreshToken, "pollux-test")
	return simGemini{
		c: c, base: base,
		bearer: http.Header{"Authorization": {"Bearer " + tok["access_token"].(string)}, "Content-Type": {"application/json"}},
		class:  geminicli.New(config.Provider{CustomAPIURL: base}, c, zap.NewNop()),
	}
}

func (g simGemini) generate(ctx context.Context, t *testing.T, stream bool) simAnswer {
	t.Helper()
	u := g.base + "/v1internal:generateContent"
	if stream {
		u = g.base + "/v1internal:streamGenerateContent?alt=sse"
	}
	return call(ctx, t, g.c, u, g.bearer.Clone(), simEnvelope)
}

// simCodex drives the simulator's Codex side as Pollux would.
type simCodex struct {
	c      *http.Client
	base   string
	header http.Header
	class  *codex.Client
}

func newSimCodex(t *testing.T, c *http.Client, s sim, refreshToken, account string) simCodex {
	t.Helper()
	base := "http://" + s.addr + "/codex"
	tok := refresh(t, c, base+string(codexfake.Token), refreshToken, codexfake.ClientID)
	return simCodex{
		c: c, base: base,
		header: http.Header{
			"Authorization":      {"Bearer " + tok["access_token"].(string)},
			"Chatgpt-Account-Id": {account},
			"Content-Type":       {"application/json"},
			"Accept":             {"text/event-stream"},
		},
		class: codex.New(config.Provider{CustomAPIURL: base}, c, zap.NewNop()),
	}
}

func (x simCodex) respond(ctx context.Context, t *testing.T) simAnswer {
	t.Helper()
	return call(ctx, t, x.c, x.base+string(codexfake.Responses), x.header.Clone(), simCodexBody)
}

// sseEventCount counts the data events of an SSE body.
func sseEventCount(body string) int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			n++
		}
	}
	return n
}

// TestControlGeminiFaults scripts each Gemini fault over the control API
// and checks that the next call gets it, and that Pollux's classifier reads
// it as the intended class.
func TestControlGeminiFaults(t *testing.T) {
	s := startSim(t, "-gemini-accounts", "1", "-codex-accounts", "0")
	c := newClient(t)
	g := newSimGemini(t, c, s, "sim-gemini-0")
	cases := []struct {
		script   string
		stream   bool
		wantKind providers.Kind
		// wantRetry is the delay the classifier reads (0: none).
		wantRetry time.Duration
		check     func(t *testing.T, a simAnswer)
	}{
		{script: `{"kind":"429_retryinfo","retry_after_secs":42}`, wantKind: providers.KindRateLimited, wantRetry: 42 * time.Second},
		{script: `{"kind":"429_retryinfo"}`, wantKind: providers.KindRateLimited, wantRetry: 30 * time.Second},
		{script: `{"kind":"429_reset_delay","retry_after_secs":7}`, wantKind: providers.KindRateLimited, wantRetry: 7 * time.Second},
		{script: `{"kind":"429_reset_timestamp","retry_after_secs":600}`, wantKind: providers.KindQuotaExhausted, wantRetry: 600 * time.Second},
		{script: `{"kind":"429_daily"}`, wantKind: providers.KindQuotaExhausted},
		{script: `{"kind":"429_daily","retry_after_secs":3600}`, wantKind: providers.KindQuotaExhausted, wantRetry: time.Hour},
		{script: `{"kind":"429_capacity"}`, wantKind: providers.KindOverloaded},
		{script: `{"kind":"429_no_details"}`, wantKind: providers.KindRateLimited},
		{script: `{"kind":"401"}`, wantKind: providers.KindAuthExpired},
		{script: `{"kind":"403_tos"}`, wantKind: providers.KindBanned},
		{script: `{"kind":"403_subscription"}`, wantKind: providers.KindIneligible},
		{script: `{"kind":"403_validation"}`, wantKind: providers.KindAuthRevoked},
		{script: `{"kind":"404"}`, wantKind: providers.KindModelUnsupported},
		{script: `{"kind":"500"}`, wantKind: providers.KindTransient},
		{script: `{"kind":"503"}`, stream: true, wantKind: providers.KindTransient},
		{script: `{"kind":"reset_before_headers"}`, check: func(t *testing.T, a simAnswer) {
			if a.err == nil || a.status != 0 {
				t.Errorf("answer status %d, err %v; want no answer at all", a.status, a.err)
			}
		}},
		{script: `{"kind":"reset_before_headers"}`, stream: true, check: func(t *testing.T, a simAnswer) {
			if a.err == nil || a.status != 0 {
				t.Errorf("answer status %d, err %v; want no answer at all", a.status, a.err)
			}
		}},
		{script: `{"kind":"cut_mid_stream"}`, stream: true, check: func(t *testing.T, a simAnswer) {
			if a.status != http.StatusOK || a.err == nil || sseEventCount(a.body) != 1 {
				t.Errorf("answer status %d, %d event(s), err %v; want 200, one event, then a broken body", a.status, sseEventCount(a.body), a.err)
			}
		}},
		{script: `{"kind":"cut_mid_stream","after_events":2}`, stream: true, check: func(t *testing.T, a simAnswer) {
			if a.status != http.StatusOK || a.err == nil || sseEventCount(a.body) != 2 {
				t.Errorf("answer status %d, %d event(s), err %v; want 200, two events, then a broken body", a.status, sseEventCount(a.body), a.err)
			}
		}},
		{script: `{"kind":"slow_first_byte","ms":1}`, check: func(t *testing.T, a simAnswer) {
			if a.status != http.StatusOK || a.err != nil || !strings.Contains(a.body, "echo: gemini-2.5-pro") {
				t.Errorf("answer %d %q (%v), want the normal answer after the delay", a.status, a.body, a.err)
			}
		}},
	}
	for _, tc := range cases {
		name := tc.script
		if tc.stream {
			name = "stream " + name
		}
		t.Run(name, func(t *testing.T) {
			mustScript(t, c, s, "gemini", tc.script)
			a := g.generate(t.Context(), t, tc.stream)
			if tc.check != nil {
				tc.check(t, a)
			} else {
				checkClass(t, a, g.class.Classify, tc.wantKind, tc.wantRetry)
			}
			// The fault was used up: the next call is healthy.
			if a := g.generate(t.Context(), t, tc.stream); a.status != http.StatusOK || a.err != nil {
				t.Errorf("next call: status %d (%v), want 200", a.status, a.err)
			}
		})
	}
}

// TestControlSlowFirstByte: the simulator holds the answer back; a client
// deadline far shorter than the scripted delay ends the call first.
func TestControlSlowFirstByte(t *testing.T) {
	s := startSim(t, "-gemini-accounts", "1", "-codex-accounts", "1")
	c := newClient(t)
	g := newSimGemini(t, c, s, "sim-gemini-0")
	x := newSimCodex(t, c, s, "sim-codex-0", "sim-codex-account-0")
	for _, tc := range []struct {
		name     string
		provider string
		send     func(ctx context.Context) simAnswer
	}{
		{"gemini generate", "gemini", func(ctx context.Context) simAnswer { return g.generate(ctx, t, false) }},
		{"gemini stream", "gemini", func(ctx context.Context) simAnswer { return g.generate(ctx, t, true) }},
		{"codex", "codex", func(ctx context.Context) simAnswer { return x.respond(ctx, t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustScript(t, c, s, tc.provider, `[{"kind":"slow_first_byte","ms":600000}]`)
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			if a := tc.send(ctx); !errors.Is(a.err, context.DeadlineExceeded) {
				t.Errorf("answer status %d, err %v; want the client's deadline to pass first", a.status, a.err)
			}
			if a := tc.send(t.Context()); a.status != http.StatusOK || a.err != nil {
				t.Errorf("next call: status %d (%v), want 200", a.status, a.err)
			}
		})
	}
}

// checkClass checks that an answer classifies as want, with a retry delay
// of about wantRetry.
func checkClass(t *testing.T, a simAnswer, classify func(int, http.Header, []byte) providers.Outcome, want providers.Kind, wantRetry time.Duration) {
	t.Helper()
	if a.err != nil || a.status < 400 {
		t.Fatalf("answer status %d (%v): %s, want an error answer", a.status, a.err, a.body)
	}
	o := classify(a.status, a.header, []byte(a.body))
	if o.Kind != want {
		t.Errorf("classified %s (%s), want %s; body %s", o.Kind, o.Reason, want, a.body)
	}
	switch {
	case wantRetry == 0 && !o.RetryAt.IsZero():
		t.Errorf("retry at %s, want none", o.RetryAt)
	case wantRetry > 0:
		if d := time.Until(o.RetryAt); d < wantRetry-5*time.Second || d > wantRetry+time.Second {
			t.Errorf("retry in %s, want about %s", d, wantRetry)
		}
	}
}

// TestControlCodexFaults scripts each Codex fault and checks the next
// responses call gets it.
func TestControlCodexFaults(t *testing.T) {
	s := startSim(t, "-gemini-accounts", "0", "-codex-accounts", "1")
	c := newClient(t)
	x := newSimCodex(t, c, s, "sim-codex-0", "sim-codex-account-0")
	lastEvent := func(body string) string {
		var last string
		sc := bufio.NewScanner(strings.NewReader(body))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				last = v
			}
		}
		return last
	}
	cases := []struct {
		script    string
		wantKind  providers.Kind
		wantRetry time.Duration
		check     func(t *testing.T, a simAnswer)
	}{
		{script: `{"kind":"usage_limit_reached","resets_in_secs":900}`, wantKind: providers.KindQuotaExhausted, wantRetry: 900 * time.Second},
		{script: `{"kind":"usage_limit_reached"}`, wantKind: providers.KindQuotaExhausted, wantRetry: time.Hour},
		{script: `{"kind":"usage_not_included"}`, wantKind: providers.KindIneligible},
		{script: `{"kind":"429_no_details"}`, wantKind: providers.KindRateLimited},
		{script: `{"kind":"token_invalidated"}`, wantKind: providers.KindAuthExpired},
		{script: `{"kind":"401"}`, wantKind: providers.KindAuthExpired},
		{script: `{"kind":"account_deactivated"}`, wantKind: providers.KindBanned},
		{script: `{"kind":"deactivated_workspace"}`, wantKind: providers.KindBanned},
		{script: `{"kind":"500"}`, wantKind: providers.KindTransient},
		{script: `{"kind":"503"}`, wantKind: providers.KindTransient},
		{script: `{"kind":"overload_in_200"}`, check: func(t *testing.T, a simAnswer) {
			if a.status != http.StatusOK || !strings.Contains(a.body, "server_is_overloaded") || lastEvent(a.body) != "response.failed" {
				t.Errorf("answer %d %q, want 200 with response.failed server_is_overloaded", a.status, a.body)
			}
		}},
		{script: `{"kind":"cut_mid_stream","after_events":3}`, check: func(t *testing.T, a simAnswer) {
			if a.status != http.StatusOK || sseEventCount(a.body) != 3 || lastEvent(a.body) == "response.completed" {
				t.Errorf("answer %d with %d event(s), last %q; want 200, three events and no terminal one", a.status, sseEventCount(a.body), lastEvent(a.body))
			}
		}},
		{script: `{"kind":"reset_before_headers"}`, check: func(t *testing.T, a simAnswer) {
			if a.err == nil || a.status != 0 {
				t.Errorf("answer status %d, err %v; want no answer at all", a.status, a.err)
			}
		}},
		{script: `{"kind":"slow_first_byte","ms":1}`, check: func(t *testing.T, a simAnswer) {
			if a.status != http.StatusOK || lastEvent(a.body) != "response.completed" {
				t.Errorf("answer %d, last event %q; want the normal answer after the delay", a.status, lastEvent(a.body))
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.script, func(t *testing.T) {
			mustScript(t, c, s, "codex", tc.script)
			a := x.respond(t.Context(), t)
			if tc.check != nil {
				tc.check(t, a)
			} else {
				checkClass(t, a, x.class.Classify, tc.wantKind, tc.wantRetry)
			}
			if a := x.respond(t.Context(), t); a.status != http.StatusOK || lastEvent(a.body) != "response.completed" {
				t.Errorf("next call: status %d (%v), want a whole answer", a.status, a.err)
			}
		})
	}
}

// TestControlScriptOrder: a script is served in order, one fault per call.
func TestControlScriptOrder(t *testing.T) {
	s := startSim(t, "-gemini-accounts", "1", "-codex-accounts", "1")
	c := newClient(t)
	g := newSimGemini(t, c, s, "sim-gemini-0")
	x := newSimCodex(t, c, s, "sim-codex-0", "sim-codex-account-0")

	mustScript(t, c, s, "gemini", `[{"kind":"500"},{"kind":"429_no_details"},{"kind":"404"}]`)
	var got []int
	for range 4 {
		got = append(got, g.generate(t.Context(), t, false).status)
	}
	if diff := cmp.Diff([]int{500, 429, 404, 200}, got); diff != "" {
		t.Errorf("gemini statuses (-want +got):\n%s", diff)
	}

	mustScript(t, c, s, "codex", `[{"kind":"503"},{"kind":"deactivated_workspace"}]`)
	got = nil
	for range 3 {
		got = append(got, x.respond(t.Context(), t).status)
	}
	if diff := cmp.Diff([]int{503, 402, 200}, got); diff != "" {
		t.Errorf("codex statuses (-want +got):\n%s", diff)
	}
}

// TestControlRejectsBadScripts: an invalid script is refused as a whole
// (nothing of it is queued).
func TestControlRejectsBadScripts(t *testing.T) {
	s := startSim(t, "-gemini-accounts", "1", "-codex-accounts", "1")
	c := newClient(t)
	g := newSimGemini(t, c, s, "sim-gemini-0")
	x := newSimCodex(t, c, s, "sim-codex-0", "sim-codex-account-0")
	for _, tc := range []struct {
		name, provider, script, wantErr string
	}{
		{"not JSON", "gemini", `{"kind":`, "JSON array"},
		{"empty", "gemini", `[]`, "no faults"},
		{"unknown kind", "gemini", `[{"kind":"429_maybe"}]`, "unknown kind"},
		{"missing kind", "codex", `[{}]`, "missing kind"},
		{"unknown field", "gemini", `[{"kind":"500","retry":3}]`, "unknown field"},
		{"negative", "codex", `[{"kind":"usage_limit_reached","resets_in_secs":-1}]`, "negative"},
		{"codex kind on gemini", "gemini", `[{"kind":"overload_in_200"}]`, "unknown kind"},
		{"gemini kind on codex", "codex", `[{"kind":"403_tos"}]`, "unknown kind"},
		{"slow without ms", "codex", `[{"kind":"slow_first_byte"}]`, "ms > 0"},
		{"one bad fault spoils the script", "gemini", `[{"kind":"500"},{"kind":"nope"}]`, "fault 1"},
		{"one bad fault spoils the codex script", "codex", `[{"kind":"500"},{"kind":"nope"}]`, "fault 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := postScript(t, c, s, tc.provider, tc.script)
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &e); status != http.StatusBadRequest || err != nil || !strings.Contains(e.Error, tc.wantErr) {
				t.Errorf("status %d, body %s; want 400 with an error mentioning %q", status, body, tc.wantErr)
			}
		})
	}
	if a := g.generate(t.Context(), t, false); a.status != http.StatusOK {
		t.Errorf("gemini after rejected scripts: status %d, want 200 (nothing queued)", a.status)
	}
	if a := x.respond(t.Context(), t); a.status != http.StatusOK {
		t.Errorf("codex after rejected scripts: status %d, want 200 (nothing queued)", a.status)
	}
	if status, _ := do(t, c, http.MethodGet, "http://"+s.addr+"/_sim/nope", nil, ""); status != http.StatusNotFound {
		t.Errorf("unknown control path: status %d, want 404", status)
	}
}

// TestQuotaAndStats: with -quota 2 an account's third generate call gets
// the daily quota (Gemini) or usage limit (Codex), other accounts are not
// affected, and /_sim/stats counts calls and refreshes per account.
func TestQuotaAndStats(t *testing.T) {
	s := startSim(t, "-gemini-accounts", "2", "-codex-accounts", "2", "-quota", "2")
	c := newClient(t)
	g0 := newSimGemini(t, c, s, "sim-gemini-0")
	g1 := newSimGemini(t, c, s, "sim-gemini-1")
	x0 := newSimCodex(t, c, s, "sim-codex-0", "sim-codex-account-0")
	x1 := newSimCodex(t, c, s, "sim-codex-1", "sim-codex-account-1")

	for i, stream := range []bool{false, true} {
		if a := g0.generate(t.Context(), t, stream); a.status != http.StatusOK {
			t.Fatalf("gemini call %d within quota: status %d", i, a.status)
		}
	}
	for _, stream := range []bool{false, true} {
		checkClass(t, g0.generate(t.Context(), t, stream), g0.class.Classify, providers.KindQuotaExhausted, 0)
	}
	if a := g1.generate(t.Context(), t, false); a.status != http.StatusOK {
		t.Errorf("gemini account 1: status %d, want 200", a.status)
	}
	for i := range 2 {
		if a := x0.respond(t.Context(), t); a.status != http.StatusOK {
			t.Fatalf("codex call %d within quota: status %d", i, a.status)
		}
	}
	checkClass(t, x0.respond(t.Context(), t), x0.class.Classify, providers.KindQuotaExhausted, 0)
	if a := x1.respond(t.Context(), t); a.status != http.StatusOK {
		t.Errorf("codex account 1: status %d, want 200", a.status)
	}

	status, body := do(t, c, http.MethodGet, "http://"+s.addr+"/_sim/stats", nil, "")
	var got simStats
	if err := json.Unmarshal(body, &got); status != http.StatusOK || err != nil {
		t.Fatalf("stats: status %d (%v): %s", status, err, body)
	}
	want := simStats{
		Quota: 2,
		Gemini: map[string]accountStats{
			"sim-gemini-0": {Requests: 4, Refreshes: 1},
			"sim-gemini-1": {Requests: 1, Refreshes: 1},
		},
		Codex: map[string]accountStats{
			"sim-codex-account-0": {Requests: 3, Refreshes: 1},
			"sim-codex-account-1": {Requests: 1, Refreshes: 1},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

// TestEveryKindIsMapped keeps the kind lists (error messages, docs) and the
// mappings in step.
func TestEveryKindIsMapped(t *testing.T) {
	now := time.Now()
	for _, k := range geminiKinds {
		if _, _, err := geminiFault(fault{Kind: k, MS: 1}, now); err != nil {
			t.Errorf("gemini kind %q: %v", k, err)
		}
	}
	for _, k := range codexKinds {
		if _, err := codexFault(fault{Kind: k, MS: 1}, now); err != nil {
			t.Errorf("codex kind %q: %v", k, err)
		}
	}
}

func TestRunRejectsNegativeQuota(t *testing.T) {
	if err := run(t.Context(), []string{"-quota", "-1"}, io.Discard); err == nil || !strings.Contains(err.Error(), "-quota") {
		t.Errorf("run(-quota -1) = %v, want an error about -quota", err)
	}
}
