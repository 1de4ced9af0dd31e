package transport

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/actors/actorstest"
	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/codex"
	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
	"github.com/pollux-gateway/pollux/providers/geminicli"
	geminifake "github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
	"github.com/pollux-gateway/pollux/storage/storagetest"
)

// harnessKey is the Pollux key of every harness server.
const harnessKey = "harness-pollux-key-0123456789"

// harness is a whole gateway in one test: a real SQLite file, the real actor
// pools, the real provider clients pointed at the fake upstreams, and the
// server on a loopback listener.
type harness struct {
	// t is the test (nil in benchmarks); tb is the test or benchmark.
	t         *testing.T
	tb        testing.TB
	cfg       config.Config
	gfake     *geminifake.Server
	gupstream *httptest.Server
	cfake     *codexfake.Server
	cupstream *httptest.Server
	gemini    *geminicli.Client
	codex     *codex.Client
	sys       *actors.System
	srv       *Server
	ts        *httptest.Server
	logs      *observer.ObservedLogs
	// tap sees every message the actors handled (untilPool).
	tap *actorstest.Expector
}

// harnessOptions tunes a harness.
type harnessOptions struct {
	keepAlive   time.Duration
	retryMax    int
	queueSecs   int
	mutateCfg   func(*config.Config)
	serverSetup func(*Server)
	// mutateDeps changes the server's Deps before New.
	mutateDeps func(*Deps)
	// logger replaces the observed test logger (benchmarks pass a Nop
	// logger: nothing is recorded, nothing is checked).
	logger *zap.Logger
}

func newHarness(t *testing.T, o harnessOptions) *harness {
	t.Helper()
	h := newHarnessTB(t, o)
	h.t = t
	return h
}

// newHarnessTB is newHarness for tests and benchmarks alike.
func newHarnessTB(t testing.TB, o harnessOptions) *harness {
	t.Helper()
	h := &harness{tb: t, gfake: geminifake.New(), cfake: codexfake.New()}
	h.gupstream = httptest.NewServer(h.gfake)
	h.cupstream = httptest.NewServer(h.cfake)
	t.Cleanup(h.gupstream.Close)
	t.Cleanup(h.cupstream.Close)

	cfg := fakeUpstreamConfig(h.gupstream.URL, h.cupstream.URL)
	cfg.Basic.InsecureCookie = true
	for _, p := range []*config.Provider{&cfg.Providers.GeminiCLI, &cfg.Providers.Codex} {
		if o.queueSecs > 0 {
			p.QueueTimeoutSecs = o.queueSecs
		}
		if o.retryMax > 0 {
			p.RetryMaxTimes = o.retryMax
		}
	}
	if o.mutateCfg != nil {
		o.mutateCfg(&cfg)
	}
	h.cfg = cfg

	core, logs := observer.New(zap.DebugLevel)
	h.logs = logs
	log := zap.New(core)
	if o.logger != nil {
		log, h.logs = o.logger, nil
	}
	h.gemini = geminicli.New(cfg.Providers.GeminiCLI, h.gupstream.Client(), log, geminicli.WithPollInterval(time.Millisecond))
	h.codex = codex.New(cfg.Providers.Codex, h.cupstream.Client(), log)

	db := storagetest.NewDB(t)
	h.tap = actorstest.NewExpector(10 * time.Second)
	sys, err := actors.Start(context.Background(), actors.Deps{DB: db, Logger: log, Tap: h.tap.Observe, Pools: []actors.PoolSpec{
		{Name: providers.GeminiCLI, Authority: h.gemini, Config: cfg.Providers.GeminiCLI},
		{Name: providers.Codex, Authority: h.codex, Config: cfg.Providers.Codex},
	}})
	if err != nil {
		t.Fatal(err)
	}
	h.sys = sys
	deps := Deps{
		Config: cfg, Logger: log, Ready: func(context.Context) error { return sys.Healthy() },
		GeminiPool: sys.Pool(providers.GeminiCLI), Gemini: h.gemini,
		CodexPool: sys.Pool(providers.Codex), Codex: h.codex,
		KeepAlive: o.keepAlive,
	}
	if o.mutateDeps != nil {
		o.mutateDeps(&deps)
	}
	h.srv = New(deps)
	if o.serverSetup != nil {
		o.serverSetup(h.srv)
	}
	h.ts = httptest.NewServer(h.srv.Handler())
	t.Cleanup(func() {
		h.ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := sys.Stop(ctx); err != nil {
			t.Errorf("stop actors: %v", err)
		}
		h.assertNoSecretsLogged()
	})
	return h
}

// fakeUpstreamConfig is the default config with the harness key and every
// upstream URL pointed at the fake Google (gURL) and OpenAI (cURL) servers,
// fast token pacing and a 2 s queue timeout.
func fakeUpstreamConfig(gURL, cURL string) config.Config {
	cfg := config.Default()
	cfg.Basic.PolluxKey = harnessKey
	g := &cfg.Providers.GeminiCLI
	g.CustomAPIURL, g.OAuthTokenURL = gURL, gURL+"/token"
	g.OAuthUserInfoURL, g.OAuthAuthURL = gURL+"/userinfo", gURL+"/authorize"
	c := &cfg.Providers.Codex
	c.CustomAPIURL, c.OAuthTokenURL = cURL, cURL+string(codexfake.Token)
	c.OAuthAuthURL = cURL + string(codexfake.Authorize)
	for _, p := range []*config.Provider{g, c} {
		p.OAuthTPS = 1000
		p.QueueTimeoutSecs = 2
	}
	return cfg
}

// sendRequest sends method path with an optional JSON body and headers and
// returns the response; the caller reads and closes the body.
func sendRequest(tb testing.TB, client *http.Client, method, url, body string, headers map[string]string) *http.Response {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	return resp
}

// addGemini registers accounts in the fake and onboards them into the pool.
func (h *harness) addGemini(tokens ...string) []actors.Verdict {
	h.tb.Helper()
	seeds := make([]providers.Credential, len(tokens))
	for i, tok := range tokens {
		if _, ok := h.gfake.Account(tok); !ok {
			h.gfake.AddAccount(tok, geminifake.Account{Email: tok + "@example.com", Sub: "sub-" + tok,
				Tier: "standard-tier", Project: "proj-" + tok})
		}
		seeds[i] = providers.Credential{RefreshToken: config.Secret(tok)}
	}
	return h.add(providers.GeminiCLI, seeds)
}

// addCodex registers ChatGPT accounts in the fake and onboards them.
func (h *harness) addCodex(tokens ...string) []actors.Verdict {
	h.tb.Helper()
	seeds := make([]providers.Credential, len(tokens))
	for i, tok := range tokens {
		h.cfake.AddAccount(tok, codexfake.Account{ID: "acct-" + tok, Sub: "sub-" + tok, Email: tok + "@example.com", PlanType: "pro"})
		seeds[i] = providers.Credential{RefreshToken: config.Secret(tok)}
	}
	return h.add(providers.Codex, seeds)
}

func (h *harness) add(provider string, seeds []providers.Credential) []actors.Verdict {
	h.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	verdicts, err := h.sys.Pool(provider).Add(ctx, seeds...)
	if err != nil {
		h.tb.Fatal(err)
	}
	for _, v := range verdicts {
		if v.Result != actors.VerdictAdded && v.Result != actors.VerdictUpdated {
			h.tb.Fatalf("onboarding %s: %+v", provider, v)
		}
	}
	return verdicts
}

// do sends a request with the Pollux key as Bearer (unless headers set
// Authorization or x-goog-api-key) and returns the response.
func (h *harness) do(method, path, body string, headers map[string]string) *http.Response {
	h.tb.Helper()
	hdr := make(map[string]string, len(headers)+1)
	for k, v := range headers {
		hdr[http.CanonicalHeaderKey(k)] = v
	}
	if hdr["Authorization"] == "" && hdr["X-Goog-Api-Key"] == "" && hdr["X-Api-Key"] == "" {
		hdr["Authorization"] = "Bearer " + harnessKey
	}
	resp := sendRequest(h.tb, h.ts.Client(), method, h.ts.URL+path, body, hdr)
	h.tb.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// readAll reads and closes a response body.
func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return string(b)
}

// assertNoSecretsLogged fails when any log line carries a token the fakes
// issue or the Pollux key.
func (h *harness) assertNoSecretsLogged() {
	h.tb.Helper()
	if h.logs == nil {
		return
	}
	for _, e := range h.logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += " " + k + "=" + toString(v)
		}
		for _, needle := range []string{harnessKey, "ya29.", "eyJ", "Bearer "} {
			if strings.Contains(line, needle) {
				h.tb.Errorf("log line leaks a secret (%q): %s", needle, line)
			}
		}
	}
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case error:
		return x.Error()
	}
	return strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(fmtAny(v), "\n", " "), "\t", " "))
}

func fmtAny(v any) string { return fmt.Sprint(v) }
