package transport

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	geminifake "github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
)

// TestMemberKeyForms: a member key works in every form the surfaces take;
// an unknown one is a 401 in each surface's envelope.
func TestMemberKeyForms(t *testing.T) {
	e := newKeysEnv(t)
	_, secret := e.createKey(`{"name":"alice"}`)
	for _, tc := range []struct {
		name    string
		path    string
		headers map[string]string
	}{
		{"bearer", geminiUnaryPath, map[string]string{"Authorization": "Bearer " + secret}},
		{"x-goog-api-key", geminiUnaryPath, map[string]string{"x-goog-api-key": secret}},
		{"query", geminiUnaryPath + "?key=" + url.QueryEscape(secret), nil},
	} {
		if r := e.send(http.MethodPost, tc.path, geminiReqBody, tc.headers); r.status != http.StatusOK {
			t.Errorf("%s: status %d: %s", tc.name, r.status, r.body)
		}
	}
	if r := e.as(secret, http.MethodPost, codexRespPath, codexUnaryBody); r.status != http.StatusOK {
		t.Errorf("codex: status %d: %s", r.status, r.body)
	}
	r := e.as("pk-unknown", http.MethodPost, geminiUnaryPath, geminiReqBody)
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, `"status":"UNAUTHENTICATED"`) {
		t.Errorf("unknown key on gemini: %d %s", r.status, r.body)
	}
	r = e.as("pk-unknown", http.MethodPost, codexRespPath, codexUnaryBody)
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, `"type":`) {
		t.Errorf("unknown key on codex: %d %s", r.status, r.body)
	}
}

// TestMemberKeyChangesTakeEffectOnNextRequest: every admin change applies
// to the very next request.
func TestMemberKeyChangesTakeEffectOnNextRequest(t *testing.T) {
	e := newKeysEnv(t)
	id, secret := e.createKey(`{"name":"bob","expires_at":"2026-05-14T13:00:00Z"}`)
	keyPath := fmt.Sprintf("/admin/v1/keys/%d", id)
	ok := func(step string) {
		t.Helper()
		if r := e.as(secret, http.MethodPost, geminiUnaryPath, geminiReqBody); r.status != http.StatusOK {
			t.Fatalf("%s: status %d: %s", step, r.status, r.body)
		}
	}
	refused := func(step string, status int, want string) {
		t.Helper()
		r := e.as(secret, http.MethodPost, geminiUnaryPath, geminiReqBody)
		if r.status != status || !strings.Contains(errMessage(r.body), want) {
			t.Fatalf("%s: got %d %s, want %d with %q", step, r.status, r.body, status, want)
		}
	}
	ok("fresh key")

	e.admin(http.MethodPatch, keyPath, `{"disabled":true}`, http.StatusOK)
	refused("disabled", http.StatusUnauthorized, "disabled")
	e.admin(http.MethodPatch, keyPath, `{"disabled":false}`, http.StatusOK)
	ok("enabled again")

	e.admin(http.MethodPatch, keyPath, `{"models":["gpt-5.2*","gemini-2.5-flash"]}`, http.StatusOK)
	refused("model outside the allow-list", http.StatusForbidden, `may use: gpt-5.2*, gemini-2.5-flash`)
	e.admin(http.MethodPatch, keyPath, `{"models":["gemini-2.5-*"]}`, http.StatusOK)
	ok("model inside the glob")

	e.admin(http.MethodPatch, keyPath, `{"surfaces":["codex"]}`, http.StatusOK)
	refused("surface outside the allow-list", http.StatusForbidden, "may not use the geminicli surface; it may use: codex")
	e.admin(http.MethodPatch, keyPath, `{"surfaces":[]}`, http.StatusOK)
	ok("every surface again")

	var rot keySecretReply
	if err := json.Unmarshal([]byte(e.admin(http.MethodPost, keyPath+":rotate", "", http.StatusOK)), &rot); err != nil {
		t.Fatal(err)
	}
	refused("old secret after rotation", http.StatusUnauthorized, "invalid API key")
	old := secret
	secret = rot.Secret
	if secret == old || rot.Key.ID != id {
		t.Fatalf("rotation gave %q for key %d", secret, rot.Key.ID)
	}
	ok("new secret after rotation")

	e.clock.Set(time.Date(2026, 5, 14, 13, 0, 0, 0, time.UTC))
	refused("expired", http.StatusUnauthorized, "expired at 2026-05-14T13:00:00Z")
	e.admin(http.MethodPatch, keyPath, `{"expires_at":""}`, http.StatusOK)
	ok("expiry cleared")

	e.admin(http.MethodDelete, keyPath, "", http.StatusNoContent)
	refused("deleted", http.StatusUnauthorized, "invalid API key")
}

// burst sends n requests at once and returns their replies.
func (e *keysEnv) burst(n int, send func() reply) []reply {
	out := make([]reply, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			out[i] = send()
		})
	}
	close(start)
	wg.Wait()
	return out
}

// tally counts replies by status and checks every 429's Retry-After.
func tally(t *testing.T, replies []reply, retryAfter string, message string) map[int]int {
	t.Helper()
	by := map[int]int{}
	for _, r := range replies {
		by[r.status]++
		if r.status != http.StatusTooManyRequests {
			continue
		}
		if got := r.header.Get("Retry-After"); got != retryAfter {
			t.Errorf("Retry-After = %q, want %q", got, retryAfter)
		}
		if !strings.Contains(errMessage(r.body), message) {
			t.Errorf("429 body %s lacks %q", r.body, message)
		}
	}
	return by
}

// TestMemberKeyLimitsUnderConcurrency: under 64 concurrent requests each
// limit admits exactly its number, and frees when Retry-After said.
func TestMemberKeyLimitsUnderConcurrency(t *testing.T) {
	e := newKeysEnv(t)
	_, rpmKey := e.createKey(`{"name":"rpm","limits":{"requests_per_minute":10}}`)
	_, concKey := e.createKey(`{"name":"conc","limits":{"concurrent_requests":5}}`)
	_, tokKey := e.createKey(`{"name":"tok","limits":{"tokens_per_day":10}}`)
	send := func(key string) func() reply {
		return func() reply { return e.as(key, http.MethodPost, geminiUnaryPath, geminiReqBody) }
	}

	t.Run("requests per minute", func(t *testing.T) {
		got := tally(t, e.burst(64, send(rpmKey)), "60", `key "rpm" reached its own limit of 10 requests per minute`)
		if got[200] != 10 || got[429] != 54 {
			t.Fatalf("statuses %v, want 10×200 and 54×429", got)
		}
		e.clock.Advance(59 * time.Second)
		if r := send(rpmKey)(); r.status != 429 || r.header.Get("Retry-After") != "1" {
			t.Fatalf("at 59 s: %d Retry-After %q", r.status, r.header.Get("Retry-After"))
		}
		e.clock.Advance(time.Second)
		got = tally(t, e.burst(64, send(rpmKey)), "60", "requests per minute")
		if got[200] != 10 {
			t.Fatalf("after the window: statuses %v, want 10×200", got)
		}
	})

	t.Run("concurrent requests", func(t *testing.T) {
		e.gate.close()
		replies := make(chan reply, 64)
		for range 64 {
			go func() { replies <- send(concKey)() }()
		}
		// The five admitted wait at the gate upstream; every other one must
		// be refused meanwhile. Only then does the gate open.
		var all []reply
		for range 59 {
			select {
			case r := <-replies:
				all = append(all, r)
			case <-time.After(10 * time.Second):
				t.Fatalf("only %d of the 59 expected refusals came back: more than 5 were admitted", len(all))
			}
		}
		e.gate.open()
		for range 5 {
			all = append(all, <-replies)
		}
		got := tally(t, all, "1", "5 concurrent requests")
		if got[200] != 5 || got[429] != 59 {
			t.Fatalf("statuses %v, want 5×200 and 59×429", got)
		}
		if r := send(concKey)(); r.status != 200 {
			t.Fatalf("after the slots freed: %d %s", r.status, r.body)
		}
	})

	t.Run("tokens per day", func(t *testing.T) {
		// 64 at once on a fresh key: the first request's cost is unknown
		// until it ends, so it holds what is left and the 63 others wait.
		e.gate.close()
		replies := make(chan reply, 64)
		for range 64 {
			go func() { replies <- send(tokKey)() }()
		}
		var all []reply
		for range 63 {
			select {
			case r := <-replies:
				all = append(all, r)
			case <-time.After(10 * time.Second):
				t.Fatalf("only %d of the 63 expected refusals came back", len(all))
			}
		}
		e.gate.open()
		all = append(all, <-replies)
		got := tally(t, all, "1", "taken by its requests still running")
		if got[200] != 1 || got[429] != 63 {
			t.Fatalf("statuses %v, want 1×200 and 63×429", got)
		}
		// 7 tokens used of 10: the next request may take the key past the
		// limit (one request may overshoot); then nothing passes until
		// midnight UTC, whatever the concurrency.
		if r := send(tokKey)(); r.status != 200 {
			t.Fatalf("the overshooting request: %d %s", r.status, r.body)
		}
		now := e.clock.Now()
		midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
		wantRetry := fmt.Sprint(int((midnight.Sub(now) + time.Second - 1) / time.Second))
		got = tally(t, e.burst(64, send(tokKey)), wantRetry, "10 tokens per day")
		if got[429] != 64 {
			t.Fatalf("statuses %v, want 64×429", got)
		}
		e.clock.Set(midnight)
		got = tally(t, e.burst(1, send(tokKey)), "", "")
		if got[200] != 1 {
			t.Fatalf("after midnight: %v", got)
		}
	})
}

// TestMemberKeyOpenAIRateLimitHeaders: OpenAI-surface replies carry the
// x-ratelimit headers the SDKs read.
func TestMemberKeyOpenAIRateLimitHeaders(t *testing.T) {
	e := newKeysEnv(t)
	_, key := e.createKey(`{"name":"sdk","limits":{"requests_per_minute":2,"tokens_per_month":1000}}`)
	want := []struct {
		status                   int
		remaining, reset, tokens string
	}{
		{200, "1", "1m0s", "1000"},
		{200, "0", "1m0s", "983"},
		{429, "0", "1m0s", "966"},
	}
	for i, w := range want {
		r := e.as(key, http.MethodPost, codexRespPath, codexUnaryBody)
		h := r.header
		if r.status != w.status || h.Get("X-Ratelimit-Limit-Requests") != "2" || h.Get("X-Ratelimit-Remaining-Requests") != w.remaining ||
			h.Get("X-Ratelimit-Reset-Requests") != w.reset || h.Get("X-Ratelimit-Limit-Tokens") != "1000" ||
			h.Get("X-Ratelimit-Remaining-Tokens") != w.tokens {
			t.Errorf("request %d: %d headers %v", i, r.status, h)
		}
		if w.status == 429 && (h.Get("Retry-After") != "60" || !strings.Contains(r.body, `"code":`) || !strings.Contains(errMessage(r.body), `key "sdk" reached its own limit`)) {
			t.Errorf("429: Retry-After %q body %s", h.Get("Retry-After"), r.body)
		}
	}
	// The operator key has no limits and gets no such headers.
	if r := e.as(harnessKey, http.MethodPost, codexRespPath, codexUnaryBody); r.status != 200 || r.header.Get("X-Ratelimit-Limit-Requests") != "" {
		t.Errorf("operator: %d %v", r.status, r.header)
	}
}

// TestOperatorKeyUnchangedWithoutMemberKeys: with no member keys the
// operator key serves as before, a wrong key gets the same 401, and no
// rate-limit header appears.
func TestOperatorKeyUnchangedWithoutMemberKeys(t *testing.T) {
	e := newKeysEnv(t)
	for _, p := range []struct{ path, body string }{{geminiUnaryPath, geminiReqBody}, {codexRespPath, codexUnaryBody}} {
		r := e.as(harnessKey, http.MethodPost, p.path, p.body)
		if r.status != 200 || r.header.Get("X-Ratelimit-Limit-Requests") != "" {
			t.Errorf("%s: %d %v", p.path, r.status, r.header)
		}
		r = e.as("wrong", http.MethodPost, p.path, p.body)
		if r.status != 401 || !strings.Contains(r.body, "invalid API key") {
			t.Errorf("%s wrong key: %d %s", p.path, r.status, r.body)
		}
		r = e.send(http.MethodPost, p.path, p.body, nil)
		if r.status != 401 || !strings.Contains(r.body, "missing API key") {
			t.Errorf("%s no key: %d %s", p.path, r.status, r.body)
		}
	}
	// The operator's requests are counted as "operator".
	rep := e.usage("?group_by=key")
	if len(rep.Rows) != 1 || rep.Rows[0].Key != "operator" || rep.Rows[0].Requests != 2 {
		t.Errorf("usage %+v", rep)
	}
}

// TestKeyAdminValidation: bad input is a 400 naming the field; member keys
// cannot use the admin API.
func TestKeyAdminValidation(t *testing.T) {
	e := newKeysEnv(t)
	id, secret := e.createKey(`{"name":"carol"}`)
	for _, tc := range []struct {
		name, body, field string
	}{
		{"unknown field", `{"name":"x","colour":"red"}`, `"colour": unknown field`},
		{"unknown limit", `{"name":"x","limits":{"rpm":3}}`, `"rpm": unknown field`},
		{"negative limit", `{"name":"x","limits":{"tokens_per_day":-5}}`, "limits.tokens_per_day"},
		{"malformed glob", `{"name":"x","models":["gemini-["]}`, "models[0]"},
		{"unknown model", `{"name":"x","models":["gemini-2.5-pro","gpt-4"]}`, `models[1]: unknown model "gpt-4"`},
		{"unknown surface", `{"name":"x","surfaces":["anthropic"]}`, "surfaces[0]"},
		{"wrong type", `{"name":"x","limits":{"requests_per_minute":"ten"}}`, "limits.requests_per_minute"},
		{"bad name", `{"name":"a b"}`, "name:"},
		{"formula-like name", `{"name":"-2+3"}`, "starting with a letter or digit"},
		{"reserved name", `{"name":"operator"}`, "reserved"},
		{"missing name", `{}`, "name: is required"},
		{"bad expiry", `{"name":"x","expires_at":"tomorrow"}`, "expires_at"},
	} {
		r := e.as(harnessKey, http.MethodPost, "/admin/v1/keys", tc.body)
		if r.status != 400 || !strings.Contains(errMessage(r.body), tc.field) {
			t.Errorf("%s: %d %s, want 400 naming %s", tc.name, r.status, r.body, tc.field)
		}
	}
	if r := e.as(harnessKey, http.MethodPost, "/admin/v1/keys", `{"name":"carol"}`); r.status != http.StatusConflict {
		t.Errorf("duplicate name: %d %s", r.status, r.body)
	}
	for _, q := range []string{"?from=yesterday", "?group_by=key,colour", "?from=2026-05-14&to=2026-05-01", "?format=xml"} {
		if r := e.as(harnessKey, http.MethodGet, "/admin/v1/usage"+q, ""); r.status != 400 {
			t.Errorf("usage%s: %d %s", q, r.status, r.body)
		}
	}
	if r := e.as(harnessKey, http.MethodPatch, fmt.Sprintf("/admin/v1/keys/%d", id), `{"limits":{"concurrent_requests":-1}}`); r.status != 400 ||
		!strings.Contains(r.body, "limits.concurrent_requests") {
		t.Errorf("patch negative: %d %s", r.status, r.body)
	}
	if r := e.as(harnessKey, http.MethodGet, "/admin/v1/keys/999", ""); r.status != 404 {
		t.Errorf("unknown id: %d", r.status)
	}
	if r := e.as(secret, http.MethodGet, "/admin/v1/keys", ""); r.status != 401 {
		t.Errorf("member key on the admin API: %d", r.status)
	}
}

// TestMe: GET /v1/me tells a key its policy and usage, in any auth form.
func TestMe(t *testing.T) {
	e := newKeysEnv(t)
	_, secret := e.createKey(`{"name":"dave","models":["gemini-2.5-*"],"limits":{"tokens_per_day":100}}`)
	e.as(secret, http.MethodPost, geminiUnaryPath, geminiReqBody)
	for _, tc := range []struct {
		path    string
		headers map[string]string
	}{
		{"/v1/me", map[string]string{"Authorization": "Bearer " + secret}},
		{"/v1/me?key=" + url.QueryEscape(secret), nil},
		{"/codex/v1/me", map[string]string{"Authorization": "Bearer " + secret}},
		{"/geminicli/v1beta/me", map[string]string{"x-goog-api-key": secret}},
	} {
		r := e.send(http.MethodGet, tc.path, "", tc.headers)
		var me meView
		if err := json.Unmarshal([]byte(r.body), &me); err != nil || r.status != 200 {
			t.Fatalf("%s: %d %s", tc.path, r.status, r.body)
		}
		if me.Key != "dave" || me.Policy == nil || me.Policy.Limits.TokensPerDay != 100 || me.Today.Requests != 1 ||
			me.Today.InputTokens != 4 || me.Month.OutputTokens != 3 || me.Live.TokensToday != 7 {
			t.Errorf("%s: %+v", tc.path, me)
		}
	}
	if r := e.send(http.MethodGet, "/v1/me", "", nil); r.status != 401 {
		t.Errorf("no key: %d", r.status)
	}
	r := e.as(harnessKey, http.MethodGet, "/v1/me", "")
	if r.status != 200 || !strings.Contains(r.body, `"key":"operator","operator":true`) {
		t.Errorf("operator: %d %s", r.status, r.body)
	}
}

// TestNoMemberSecretAnywhere: a member key's secret (current or rotated
// away) appears in no log line, no admin or metrics answer, and nowhere in
// the database files.
func TestNoMemberSecretAnywhere(t *testing.T) {
	e := newKeysEnv(t)
	id, first := e.createKey(`{"name":"erin","limits":{"requests_per_minute":100}}`)
	var rot keySecretReply
	_ = json.Unmarshal([]byte(e.admin(http.MethodPost, fmt.Sprintf("/admin/v1/keys/%d:rotate", id), "", http.StatusOK)), &rot)
	second := rot.Secret
	e.send(http.MethodPost, geminiUnaryPath+"?key="+url.QueryEscape(second), geminiReqBody, nil)
	e.as(second, http.MethodPost, codexRespPath, codexStreamBody)
	e.as(first, http.MethodPost, geminiUnaryPath, geminiReqBody)
	e.send(http.MethodPost, keysStreamPath, geminiReqBody, map[string]string{"x-goog-api-key": second})
	var answers []string
	for _, p := range []string{"/admin/v1/keys", fmt.Sprintf("/admin/v1/keys/%d", id), "/admin/v1/usage", "/admin/v1/usage?format=csv", "/metrics"} {
		answers = append(answers, e.admin(http.MethodGet, p, "", http.StatusOK))
	}
	answers = append(answers, e.as(second, http.MethodGet, "/v1/me", "").body)
	metrics := answers[len(answers)-2]
	for _, want := range []string{
		`pollux_requests_total{code="2xx",key="erin",model="gemini-2.5-pro",surface="geminicli"} 1`,
		`pollux_requests_total{code="4xx",key="none",model="none",surface="geminicli"} 1`,
		`pollux_tokens_total{key="erin",kind="input",model="gpt-5.2",provider="codex"} 12`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	e.shutdown()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(e.dbPath + suffix)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		answers = append(answers, string(b))
	}
	for _, entry := range e.logs.All() {
		line := entry.Message
		for k, v := range entry.ContextMap() {
			line += " " + k + "=" + toString(v)
		}
		answers = append(answers, line)
	}
	if len(e.logs.FilterField(zapString(keyField, "erin")).All()) == 0 {
		t.Error("no access-log line names the key")
	}
	for _, secret := range []string{first, second} {
		body := strings.TrimPrefix(secret, "pk-")
		for i, a := range answers {
			if strings.Contains(a, body) {
				t.Errorf("secret found in answer/file/log %d: %.200s", i, a)
			}
		}
	}
}

// errMessage is the message of an error envelope (any surface's).
func errMessage(body string) string {
	var env struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal([]byte(body), &env)
	return env.Error.Message
}

// TestDisablingKeepsARunningStream: a key disabled while its stream runs
// lets that stream finish (with its usage counted); the next request is
// refused.
func TestDisablingKeepsARunningStream(t *testing.T) {
	e := newKeysEnv(t)
	id, secret := e.createKey(`{"name":"streamer"}`)
	st := geminifake.DefaultStream("gemini-2.5-flash")
	// under is taken by the fake as it writes the stream's first event;
	// the last waits for gate.
	under, gate := make(chan struct{}), make(chan struct{})
	st.Events[0].Gate = under
	st.Events[len(st.Events)-1].Gate = gate
	e.gfake.ScriptStream(st)
	done := make(chan reply, 1)
	go func() { done <- e.as(secret, http.MethodPost, keysStreamPath, geminiReqBody) }()
	select {
	case under <- struct{}{}: // the stream is under way
	case r := <-done:
		t.Fatalf("the stream ended before it began: %d %s", r.status, r.body)
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for the stream to begin upstream")
	}
	e.admin(http.MethodPatch, fmt.Sprintf("/admin/v1/keys/%d", id), `{"disabled":true}`, http.StatusOK)
	if r := e.as(secret, http.MethodPost, geminiUnaryPath, geminiReqBody); r.status != http.StatusUnauthorized {
		t.Fatalf("request after disable: %d", r.status)
	}
	close(gate)
	r := <-done
	if r.status != http.StatusOK || !strings.Contains(r.body, `"finishReason":"STOP"`) || strings.Contains(r.body, `"error"`) {
		t.Fatalf("the running stream: %d %s", r.status, r.body)
	}
	rep := e.usage("?group_by=key")
	if len(rep.Rows) != 1 || rep.Rows[0].Requests != 1 || rep.Rows[0].InputTokens != 4 || rep.Rows[0].OutputTokens != 2 {
		t.Errorf("usage %+v, want the finished stream counted", rep.Rows)
	}
}

// TestModelListsFollowTheKey: a key limited to some models lists only
// those; other keys and the operator see every model.
func TestModelListsFollowTheKey(t *testing.T) {
	e := newKeysEnv(t)
	_, limited := e.createKey(`{"name":"flash-only","models":["gemini-2.5-fl*"]}`)
	_, open := e.createKey(`{"name":"open"}`)
	for _, tc := range []struct {
		key, path string
		want, not []string
	}{
		{limited, "/geminicli/v1beta/models", []string{`"models/gemini-2.5-flash"`}, []string{"gemini-2.5-pro"}},
		{limited, "/geminicli/v1beta/openai/models", []string{`"gemini-2.5-flash"`}, []string{"gemini-2.5-pro"}},
		{limited, "/codex/v1/models", []string{`"data":[]`}, []string{"gpt-5.2"}},
		{open, "/geminicli/v1beta/models", []string{"gemini-2.5-flash", "gemini-2.5-pro"}, nil},
		{harnessKey, "/codex/v1/models", []string{`"gpt-5.2-codex"`, `"gpt-5.2"`}, nil},
	} {
		r := e.as(tc.key, http.MethodGet, tc.path, "")
		if r.status != 200 {
			t.Fatalf("%s: %d %s", tc.path, r.status, r.body)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.body, w) {
				t.Errorf("%s: %s lacks %s", tc.path, r.body, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(r.body, n) {
				t.Errorf("%s: %s lists %s", tc.path, r.body, n)
			}
		}
	}
}

// TestKeyRetryAfterRoundsUp: a key's own limit frees at an exact instant,
// so its Retry-After rounds up; the pool's 429 rounding (down) had told a
// client to come back at 59 s for a slot that freed at 59.97 s, and the
// client was refused again.
func TestKeyRetryAfterRoundsUp(t *testing.T) {
	tests := []struct {
		wait time.Duration
		want int
	}{
		{59*time.Second + 970*time.Millisecond, 60},
		{60 * time.Second, 60},
		{time.Millisecond, 1},
		{1500 * time.Millisecond, 2},
	}
	for _, tc := range tests {
		if got := retryAfterSecs(http.StatusTooManyRequests, keyRetryAfter(tc.wait)); got != tc.want {
			t.Errorf("Retry-After for a key wait of %v = %d, want %d", tc.wait, got, tc.want)
		}
	}
}
