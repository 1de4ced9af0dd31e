package transport

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/actors/actorstest"
	"github.com/pollux-gateway/pollux/config"
	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
	geminifake "github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
	"github.com/pollux-gateway/pollux/transport/relay"
)

// withAliases sets the aliases and chains the tests of this file use.
func withAliases(c *config.Config) {
	c.Providers.GeminiCLI.Aliases = map[string]string{"fast": "gemini-2.5-flash", "claude-sonnet-4-5": "gemini-2.5-pro"}
	c.Providers.GeminiCLI.Fallbacks = map[string][]string{"gemini-2.5-pro": {"gemini-2.5-flash"}}
	c.Providers.Codex.Aliases = map[string]string{"codex-small": "gpt-5.2"}
	c.Providers.Codex.Fallbacks = map[string][]string{"gpt-5.2-codex": {"gpt-5.2"}}
}

// TestAliasesOnEverySurface: an alias is accepted wherever a model is
// named, on every surface of both pools; the upstream is asked for the
// alias's model, and the answer names it in its own model field and in
// X-Pollux-Model; the access log keeps the name asked for and the model
// served.
func TestAliasesOnEverySurface(t *testing.T) {
	h := newHarness(t, harnessOptions{mutateCfg: withAliases})
	h.addGemini("al-g")
	h.addCodex("al-c")
	anthropic := anthropicHeaders()
	for _, tc := range []struct {
		name, path, body string
		headers          map[string]string
		served, inBody   string
	}{
		{"gemini generateContent", "/geminicli/v1beta/models/fast:generateContent", geminiCLIBody, nil,
			"gemini-2.5-flash", `"modelVersion":"gemini-2.5-flash"`},
		{"gemini streamGenerateContent", "/geminicli/v1beta/models/claude-sonnet-4-5:streamGenerateContent?alt=sse", geminiCLIBody, nil,
			"gemini-2.5-pro", `"modelVersion":"gemini-2.5-pro"`},
		{"responses", "/codex/v1/responses", `{"model":"codex-small","input":"hi"}`, nil,
			"gpt-5.2", `"model":"gpt-5.2"`},
		{"responses stream", "/codex/v1/responses", `{"model":"codex-small","input":"hi","stream":true}`, nil,
			"gpt-5.2", `"model":"gpt-5.2"`},
		{"chat over geminicli", "/geminicli/v1beta/openai/chat/completions", `{"model":"fast","messages":[{"role":"user","content":"hi"}]}`, nil,
			"gemini-2.5-flash", `"model":"gemini-2.5-flash"`},
		{"chat stream over geminicli", "/geminicli/v1beta/openai/chat/completions", `{"model":"fast","stream":true,"messages":[{"role":"user","content":"hi"}]}`, nil,
			"gemini-2.5-flash", `"model":"gemini-2.5-flash"`},
		{"chat over codex", "/codex/v1/chat/completions", `{"model":"codex-small","messages":[{"role":"user","content":"hi"}]}`, nil,
			"gpt-5.2", `"model":"gpt-5.2"`},
		{"messages over geminicli", "/geminicli/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`, anthropic,
			"gemini-2.5-pro", `"model":"gemini-2.5-pro"`},
		{"messages stream over codex", "/codex/v1/messages", fmt.Sprintf(messagesStreamBody, "codex-small"), anthropic,
			"gpt-5.2", `"model":"gpt-5.2"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.do(http.MethodPost, tc.path, tc.body, tc.headers)
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if got := resp.Header.Get(relay.HeaderServedModel); got != tc.served {
				t.Errorf("%s = %q, want %q", relay.HeaderServedModel, got, tc.served)
			}
			if !strings.Contains(body, tc.inBody) {
				t.Errorf("body lacks %s:\n%.600s", tc.inBody, body)
			}
		})
	}
	// The upstreams were asked for the models, never the aliases.
	for _, r := range h.gfake.Requests() {
		if b := string(r.Body); strings.Contains(b, `"fast"`) || strings.Contains(b, "claude-sonnet") {
			t.Errorf("an alias reached Code Assist: %.300s", b)
		}
	}
	for _, r := range h.cfake.RequestsTo(codexfake.Responses) {
		if strings.Contains(string(r.Body), "codex-small") {
			t.Errorf("an alias reached the Codex backend: %.300s", r.Body)
		}
	}
	// The requests count under the models that served, not as "other".
	metrics := readAll(t, h.do(http.MethodGet, "/metrics", "", nil))
	for _, want := range []string{
		`pollux_requests_total{code="2xx",key="operator",model="gemini-2.5-flash",surface="geminicli"} 3`,
		`pollux_requests_total{code="2xx",key="operator",model="gpt-5.2",surface="codex"} 4`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	served := h.logs.FilterMessage("request").FilterField(zapString(keyServedModel, "gpt-5.2")).FilterField(zapString(keyModel, "codex-small"))
	if served.Len() == 0 {
		t.Error("no access-log line names both the alias asked for and the model served")
	}
	h.assertNoSecretsLogged()
}

// TestAliasUnknownNamesStay404: a name that is neither a model nor an
// alias of the pool is refused as before, and an alias of the other pool
// is not accepted here.
func TestAliasUnknownNamesStay404(t *testing.T) {
	h := newHarness(t, harnessOptions{mutateCfg: withAliases})
	h.addGemini("al-g")
	h.addCodex("al-c")
	for _, tc := range []struct{ path, body string }{
		{"/geminicli/v1beta/models/codex-small:generateContent", geminiCLIBody},
		{"/codex/v1/responses", `{"model":"fast","input":"hi"}`},
		{"/codex/v1/chat/completions", `{"model":"nope","messages":[{"role":"user","content":"hi"}]}`},
	} {
		resp := h.do(http.MethodPost, tc.path, tc.body, nil)
		if body := readAll(t, resp); resp.StatusCode != http.StatusNotFound {
			t.Errorf("POST %s %s: status %d, want 404: %s", tc.path, tc.body, resp.StatusCode, body)
		}
	}
}

// TestFallbackEndToEnd: the only Gemini credential answers 429 for
// gemini-2.5-pro with an hour to wait, beyond the request's patience; the
// request (named by an alias of gemini-2.5-pro) is served by the chain's
// gemini-2.5-flash, and the answer, the header, the access log and the
// metrics say so. The next request for gemini-2.5-pro goes straight to the
// fallback without calling upstream for pro again.
func TestFallbackEndToEnd(t *testing.T) {
	h := newHarness(t, harnessOptions{mutateCfg: withAliases})
	h.addGemini("fb-g")
	h.gfake.ScriptGenerate(geminifake.Response{Status: http.StatusTooManyRequests, Body: geminiRateLimitBody("3600s")})
	resp := h.do(http.MethodPost, "/geminicli/v1/messages",
		`{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`, anthropicHeaders())
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get(relay.HeaderServedModel); got != "gemini-2.5-flash" {
		t.Errorf("%s = %q, want gemini-2.5-flash", relay.HeaderServedModel, got)
	}
	if !strings.Contains(body, `"model":"gemini-2.5-flash"`) {
		t.Errorf("answer does not name the fallback: %s", body)
	}
	var models []string
	for _, r := range h.gfake.RequestsTo("/v1internal:streamGenerateContent") {
		var env struct{ Model string }
		if err := json.Unmarshal(r.Body, &env); err != nil {
			t.Fatal(err)
		}
		models = append(models, env.Model)
	}
	if strings.Join(models, ",") != "gemini-2.5-pro,gemini-2.5-flash" {
		t.Errorf("upstream calls for %v, want gemini-2.5-pro then gemini-2.5-flash", models)
	}

	// Native surface now: pro cools for an hour, the fallback serves at
	// once.
	resp = h.do(http.MethodPost, "/geminicli/v1beta/models/gemini-2.5-pro:generateContent", geminiCLIBody, nil)
	body = readAll(t, resp)
	if resp.StatusCode != http.StatusOK || resp.Header.Get(relay.HeaderServedModel) != "gemini-2.5-flash" ||
		!strings.Contains(body, `"modelVersion":"gemini-2.5-flash"`) {
		t.Errorf("second request: %d %s=%q %s", resp.StatusCode, relay.HeaderServedModel, resp.Header.Get(relay.HeaderServedModel), body)
	}
	if n := len(h.gfake.RequestsTo("/v1internal:streamGenerateContent")) + len(h.gfake.RequestsTo("/v1internal:generateContent")); n != 3 {
		t.Errorf("upstream calls = %d, want 3 (pro was not asked again)", n)
	}

	served := h.logs.FilterMessage("request").FilterField(zapString(keyServedModel, "gemini-2.5-flash"))
	if served.Len() != 2 {
		t.Errorf("%d access-log lines with served_model gemini-2.5-flash, want 2", served.Len())
	}
	metrics := readAll(t, h.do(http.MethodGet, "/metrics", "", nil))
	want := `pollux_model_fallbacks_total{fallback="gemini-2.5-flash",model="gemini-2.5-pro",provider="geminicli"} 2`
	if !strings.Contains(metrics, want) {
		t.Errorf("metrics lack %s", want)
	}
	h.assertNoSecretsLogged()
}

// TestFallbackChainExhaustedEndToEnd: the only Codex account hits its
// usage limit (account-wide, five minutes); gpt-5.2-codex falls back to
// gpt-5.2, which cools with it: the client gets 429 with the earliest reset
// in its own envelope (Anthropic's and OpenAI's here).
func TestFallbackChainExhaustedEndToEnd(t *testing.T) {
	h := newHarness(t, harnessOptions{mutateCfg: withAliases})
	h.addCodex("fb-c")
	h.cfake.Push(codexfake.Responses, faultUsageLimitIn(300))
	resp := h.do(http.MethodPost, "/codex/v1/messages", fmt.Sprintf(messagesStreamBody, faultCodexModel), anthropicHeaders())
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d (%s), want 429", resp.StatusCode, body)
	}
	if typ, _ := anthropicError(t, body); typ != "rate_limit_error" {
		t.Errorf("error type %q, want rate_limit_error", typ)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 298 || ra > 301 {
		t.Errorf("Retry-After = %q, want about 300", resp.Header.Get("Retry-After"))
	}
	resp = h.do(http.MethodPost, "/codex/v1/chat/completions", `{"model":"gpt-5.2-codex","messages":[{"role":"user","content":"hi"}]}`, nil)
	body = readAll(t, resp)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, `"error":{`) || resp.Header.Get("Retry-After") == "" {
		t.Errorf("chat: status %d Retry-After %q: %s; want 429 in the OpenAI envelope", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if n := len(h.cfake.RequestsTo(codexfake.Responses)); n != 1 {
		t.Errorf("upstream calls = %d, want 1", n)
	}
}

// newAliasKeysEnv is newKeysEnv with the aliases and chains of
// withAliases.
func newAliasKeysEnv(t *testing.T) *keysEnv {
	t.Helper()
	e := newGatewayEnv(t, zap.NewAtomicLevelAt(zap.DebugLevel), withAliases)
	e.clock = actorstest.NewFakeClock(keysEnvStart)
	e.keyClock = e.clock
	e.start()
	e.addAccounts()
	t.Cleanup(e.shutdown)
	return e
}

// TestAliasesAndMemberKeys: a member key's allow-list is checked on the
// name the request sends, an alias passing when the key allows the alias
// or its model; a fallback the key may not use is never served to it; an
// allow-list may name an alias; the key's model list shows the aliases it
// may use.
func TestAliasesAndMemberKeys(t *testing.T) {
	e := newAliasKeysEnv(t)
	_, flashOnly := e.createKey(`{"name":"flash-only","models":["gemini-2.5-flash"]}`)
	_, sonnet := e.createKey(`{"name":"sonnet","models":["claude-sonnet-4-5"]}`)
	_, proOnly := e.createKey(`{"name":"pro-only","models":["gemini-2.5-pro"]}`)
	chat := func(model string) string {
		return `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`
	}
	const path = "/geminicli/v1beta/openai/chat/completions"
	for _, tc := range []struct {
		key, model string
		want       int
	}{
		{flashOnly, "fast", http.StatusOK},                     // an alias of an allowed model
		{flashOnly, "gemini-2.5-flash", http.StatusOK},         // the model itself
		{flashOnly, "claude-sonnet-4-5", http.StatusForbidden}, // an alias of a model it may not use
		{sonnet, "claude-sonnet-4-5", http.StatusOK},           // the alias itself is allowed
		{sonnet, "gemini-2.5-pro", http.StatusForbidden},       // its model is not, by that name
		{proOnly, "gemini-2.5-pro", http.StatusOK},             // before any cooldown
	} {
		if r := e.as(tc.key, http.MethodPost, path, chat(tc.model)); r.status != tc.want {
			t.Errorf("model %s with a limited key: %d %s, want %d", tc.model, r.status, r.body, tc.want)
		}
	}

	// Both accounts answer 429 for gemini-2.5-pro with an hour to wait.
	e.gfake.ScriptGenerate(
		geminifake.Response{Status: http.StatusTooManyRequests, Body: geminiRateLimitBody("3600s")},
		geminifake.Response{Status: http.StatusTooManyRequests, Body: geminiRateLimitBody("3600s")})
	r := e.as(proOnly, http.MethodPost, path, chat("gemini-2.5-pro"))
	if r.status != http.StatusTooManyRequests || r.header.Get(relay.HeaderServedModel) != "" {
		t.Errorf("pro-only key with pro cooling: %d %s=%q %s; want 429, not gemini-2.5-flash (not allowed to it)",
			r.status, relay.HeaderServedModel, r.header.Get(relay.HeaderServedModel), r.body)
	}
	r = e.as(harnessKey, http.MethodPost, path, chat("gemini-2.5-pro"))
	if r.status != http.StatusOK || r.header.Get(relay.HeaderServedModel) != "gemini-2.5-flash" {
		t.Errorf("operator key with pro cooling: %d %s=%q %s; want the fallback", r.status, relay.HeaderServedModel,
			r.header.Get(relay.HeaderServedModel), r.body)
	}

	// The key's model lists show what it may name.
	for _, tc := range []struct {
		path     string
		headers  map[string]string
		has, not []string
	}{
		{"/geminicli/v1beta/models", nil, []string{`"name":"models/fast"`, `"name":"models/gemini-2.5-flash"`}, []string{"claude-sonnet", "gemini-2.5-pro"}},
		{"/geminicli/v1beta/openai/models", nil, []string{`"id":"fast"`, `"alias_of":"gemini-2.5-flash"`}, []string{"claude-sonnet"}},
		{"/geminicli/v1/models", map[string]string{"anthropic-version": "2023-06-01"}, []string{`"id":"fast","display_name":"fast (alias of gemini-2.5-flash)"`}, []string{"claude-sonnet"}},
	} {
		hdr := map[string]string{"Authorization": "Bearer " + flashOnly}
		for k, v := range tc.headers {
			hdr[k] = v
		}
		r := e.send(http.MethodGet, tc.path, "", hdr)
		for _, want := range tc.has {
			if !strings.Contains(r.body, want) {
				t.Errorf("GET %s: lacks %s: %s", tc.path, want, r.body)
			}
		}
		for _, bad := range tc.not {
			if strings.Contains(r.body, bad) {
				t.Errorf("GET %s: shows %s to a key that may not use it: %s", tc.path, bad, r.body)
			}
		}
	}
	// A key's allow-list may not name what no pool serves.
	if r := e.as(harnessKey, http.MethodPost, "/admin/v1/keys", `{"name":"bad","models":["nope"]}`); r.status != http.StatusBadRequest {
		t.Errorf("key naming an unknown model: %d %s, want 400", r.status, r.body)
	}
}

// TestPoolSummaryNames: GET /admin/v1/pool (the status page's source)
// lists each pool's aliases and chains.
func TestPoolSummaryNames(t *testing.T) {
	e := newAliasKeysEnv(t)
	var sum struct {
		Providers []struct {
			Provider  string
			Aliases   []struct{ Alias, Model string }
			Fallbacks []struct {
				Model     string
				Fallbacks []string
			}
		}
	}
	if err := json.Unmarshal([]byte(e.admin(http.MethodGet, "/admin/v1/pool", "", http.StatusOK)), &sum); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range sum.Providers {
		var parts []string
		for _, a := range p.Aliases {
			parts = append(parts, a.Alias+"="+a.Model)
		}
		for _, f := range p.Fallbacks {
			parts = append(parts, f.Model+"→"+strings.Join(f.Fallbacks, ">"))
		}
		got[p.Provider] = strings.Join(parts, " ")
	}
	want := map[string]string{
		"geminicli": "claude-sonnet-4-5=gemini-2.5-pro fast=gemini-2.5-flash gemini-2.5-pro→gemini-2.5-flash",
		"codex":     "codex-small=gpt-5.2 gpt-5.2-codex→gpt-5.2",
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s: %q, want %q", p, got[p], w)
		}
	}
}

// TestAliasesAtTheRoot: at the one base URL an alias routes to the pool
// that defines it and is served with its model; GET /v1/models lists every
// pool's aliases in both formats; a member key limited to a model sees and
// may use that model's alias at the root, and not another pool's.
func TestAliasesAtTheRoot(t *testing.T) {
	e := newAliasKeysEnv(t)
	anthropic := map[string]string{"Authorization": "Bearer " + harnessKey, "anthropic-version": "2023-06-01"}
	for _, tc := range []struct {
		name, path, body string
		headers          map[string]string
		served           string
	}{
		{"chat, gemini alias", "/v1/chat/completions", `{"model":"fast","messages":[{"role":"user","content":"hi"}]}`, nil, "gemini-2.5-flash"},
		{"chat, codex alias", "/v1/chat/completions", `{"model":"codex-small","messages":[{"role":"user","content":"hi"}]}`, nil, "gpt-5.2"},
		{"messages, gemini alias", "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`, anthropic, "gemini-2.5-pro"},
		{"responses, codex alias", "/v1/responses", `{"model":"codex-small","input":"hi"}`, nil, "gpt-5.2"},
		{"gemini v1beta, alias in the path", "/v1beta/models/fast:generateContent", geminiReqBody, nil, "gemini-2.5-flash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := tc.headers
			if hdr == nil {
				hdr = map[string]string{"Authorization": "Bearer " + harnessKey}
			}
			r := e.send(http.MethodPost, tc.path, tc.body, hdr)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if got := r.header.Get(relay.HeaderServedModel); got != tc.served {
				t.Errorf("%s = %q, want %q", relay.HeaderServedModel, got, tc.served)
			}
		})
	}
	// A Gemini alias at the Responses route is refused as its model is:
	// 400 naming where it is served, not 404.
	if r := e.as(harnessKey, http.MethodPost, "/v1/responses", `{"model":"fast","input":"hi"}`); r.status != http.StatusBadRequest || !strings.Contains(r.body, "geminicli") {
		t.Errorf("gemini alias at /v1/responses: status %d, want 400 naming geminicli: %s", r.status, r.body)
	}

	for _, tc := range []struct {
		name    string
		headers map[string]string
		want    []string
	}{
		{"openai", map[string]string{"Authorization": "Bearer " + harnessKey},
			[]string{`"id":"fast"`, `"alias_of":"gemini-2.5-flash"`, `"id":"codex-small"`, `"alias_of":"gpt-5.2"`, `"id":"claude-sonnet-4-5"`}},
		{"anthropic", anthropic,
			[]string{`"id":"fast"`, `"id":"codex-small"`, `"display_name":"claude-sonnet-4-5 (alias of gemini-2.5-pro)"`}},
	} {
		r := e.send(http.MethodGet, "/v1/models", "", tc.headers)
		if r.status != http.StatusOK {
			t.Fatalf("%s list: status %d: %s", tc.name, r.status, r.body)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.body, w) {
				t.Errorf("%s list lacks %s:\n%.1500s", tc.name, w, r.body)
			}
		}
	}

	// A key limited to gemini-2.5-flash sees and uses its alias at the
	// root, and neither sees nor uses the other pool's.
	_, flashOnly := e.createKey(`{"name":"flash-only","models":["gemini-2.5-flash"]}`)
	if r := e.as(flashOnly, http.MethodGet, "/v1/models", ""); !strings.Contains(r.body, `"id":"fast"`) || strings.Contains(r.body, `"id":"codex-small"`) {
		t.Errorf("limited key's root list: want fast and not codex-small:\n%.1500s", r.body)
	}
	if r := e.as(flashOnly, http.MethodPost, "/v1/chat/completions", `{"model":"fast","messages":[{"role":"user","content":"hi"}]}`); r.status != http.StatusOK {
		t.Errorf("limited key, its model's alias at the root: status %d: %s", r.status, r.body)
	}
	if r := e.as(flashOnly, http.MethodPost, "/v1/chat/completions", `{"model":"codex-small","messages":[{"role":"user","content":"hi"}]}`); r.status != http.StatusForbidden {
		t.Errorf("limited key, another model's alias at the root: status %d, want 403: %s", r.status, r.body)
	}
}
