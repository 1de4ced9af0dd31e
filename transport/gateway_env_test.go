package transport

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/actors/actorstest"
	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/codex"
	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
	"github.com/pollux-gateway/pollux/providers/geminicli"
	geminifake "github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
	"github.com/pollux-gateway/pollux/storage"
)

// gatewayEnv is a whole gateway whose database file outlives restarts: a
// real SQLite file, the real actors and provider clients on the fake
// upstreams (generate calls to the fake Google can be held at a gate), and
// the server on a loopback listener. The admin tests (newAdminEnv) add an
// adjustable log level and an optional admin key; the member-key tests
// (newKeysEnv) add the member keys on a fake clock and two accounts per
// provider.
type gatewayEnv struct {
	// t is the running test or benchmark; subtests swap it in and out.
	t      testing.TB
	cfg    config.Config
	gfake  *geminifake.Server
	cfake  *codexfake.Server
	gemini *geminicli.Client
	codex  *codex.Client
	log    *zap.Logger
	logs   *observer.ObservedLogs
	dbPath string
	gate   *upstreamGate
	// level is the log level the admin API controls; the zero value makes
	// it fixed.
	level zap.AtomicLevel
	// clock is the fake clock of the member keys' limits, keyClock the
	// clock they run on (nil: no member keys).
	clock *actorstest.FakeClock
	// tap sees every message the actors handled, across reboots
	// (untilPool).
	tap      *actorstest.Expector
	keyClock actors.Clock

	// Replaced by restart.
	db  *storage.DB
	sys *actors.System
	ts  *httptest.Server
}

// The two uses of the environment.
type (
	adminEnv = gatewayEnv
	keysEnv  = gatewayEnv
)

// adminTestKey is the admin key of environments that set one.
const adminTestKey = "admin-key-for-operators-9876543210"

type adminEnvOptions struct {
	adminKey      string
	metricsPublic bool
	// level is the starting log level (default info).
	level zapcore.Level
}

// newAdminEnv is a gateway with an adjustable log level and no member
// keys; it checks no secret was logged when the test ends.
func newAdminEnv(t *testing.T, o adminEnvOptions) *adminEnv {
	t.Helper()
	level := zap.NewAtomicLevelAt(o.level)
	e := newGatewayEnv(t, level, func(cfg *config.Config) {
		cfg.Basic.AdminKey = config.Secret(o.adminKey)
		cfg.Basic.MetricsPublic = o.metricsPublic
	})
	e.level = level
	e.start()
	t.Cleanup(func() {
		e.shutdown()
		e.assertNoSecretsLogged()
	})
	return e
}

// keysEnvStart is the fake clock's start: mid-day UTC.
var keysEnvStart = time.Date(2026, 5, 14, 12, 0, 0, 0, time.UTC)

// newKeysEnv is a gateway with member keys on a fake clock and two
// accounts on each provider.
func newKeysEnv(t testing.TB) *keysEnv { return newKeysEnvClock(t, nil) }

// newKeysEnvClock is newKeysEnv with the keys on keyClock (nil: the fake
// clock).
func newKeysEnvClock(t testing.TB, keyClock actors.Clock) *keysEnv {
	t.Helper()
	e := newGatewayEnv(t, zap.NewAtomicLevelAt(zap.DebugLevel), nil)
	e.clock, e.keyClock = actorstest.NewFakeClock(keysEnvStart), keyClock
	if e.keyClock == nil {
		e.keyClock = e.clock
	}
	e.start()
	e.addAccounts()
	t.Cleanup(e.shutdown)
	return e
}

// newGatewayEnv sets up the fake upstreams, the config and the provider
// clients; start boots the rest.
func newGatewayEnv(t testing.TB, logLevel zap.AtomicLevel, mutateCfg func(*config.Config)) *gatewayEnv {
	t.Helper()
	e := &gatewayEnv{t: t, gfake: geminifake.New(), cfake: codexfake.New(), gate: &upstreamGate{}}
	gup := httptest.NewServer(e.gate.wrap(e.gfake))
	cup := httptest.NewServer(e.cfake)
	t.Cleanup(gup.Close)
	t.Cleanup(cup.Close)
	e.cfg = fakeUpstreamConfig(gup.URL, cup.URL)
	if mutateCfg != nil {
		mutateCfg(&e.cfg)
	}
	core, logs := observer.New(logLevel)
	e.log, e.logs = zap.New(core), logs
	e.gemini = geminicli.New(e.cfg.Providers.GeminiCLI, gup.Client(), e.log, geminicli.WithPollInterval(time.Millisecond))
	e.codex = codex.New(e.cfg.Providers.Codex, cup.Client(), e.log)
	e.dbPath = filepath.Join(t.TempDir(), "pollux.db")
	return e
}

// start boots the first time.
func (e *gatewayEnv) start() { e.boot() }

// boot opens the database file and starts the actors and the server.
func (e *gatewayEnv) boot() {
	e.t.Helper()
	ctx := context.Background()
	db, err := storage.Open(ctx, e.dbPath, e.log)
	if err != nil {
		e.t.Fatal(err)
	}
	if e.tap == nil {
		e.tap = actorstest.NewExpector(10 * time.Second)
	}
	sys, err := actors.Start(ctx, actors.Deps{DB: db, Logger: e.log, KeyClock: e.keyClock, Tap: e.tap.Observe, Pools: []actors.PoolSpec{
		{Name: providers.GeminiCLI, Authority: e.gemini, Config: e.cfg.Providers.GeminiCLI},
		{Name: providers.Codex, Authority: e.codex, Config: e.cfg.Providers.Codex},
	}})
	if err != nil {
		_ = db.Close()
		e.t.Fatal(err)
	}
	deps := Deps{
		Config: e.cfg, Logger: e.log, LogLevel: e.level, Metrics: prometheus.NewRegistry(),
		GeminiPool: sys.Pool(providers.GeminiCLI), Gemini: e.gemini,
		CodexPool: sys.Pool(providers.Codex), Codex: e.codex,
	}
	if e.keyClock != nil {
		deps.Keys = sys.Keys()
	}
	e.db, e.sys, e.ts = db, sys, httptest.NewServer(New(deps).Handler())
}

// shutdown stops the server, the actors and the database, in that order.
func (e *gatewayEnv) shutdown() {
	e.t.Helper()
	if e.ts == nil {
		return
	}
	e.ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.sys.Stop(ctx); err != nil {
		e.t.Errorf("stop actors: %v", err)
	}
	if err := e.db.Close(); err != nil {
		e.t.Errorf("close database: %v", err)
	}
	e.ts = nil
}

// restart is a process restart over the same database file.
func (e *gatewayEnv) restart() {
	e.t.Helper()
	e.shutdown()
	e.boot()
}

// addAccounts onboards two accounts on each provider.
func (e *gatewayEnv) addAccounts() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var gseeds, cseeds []providers.Credential
	for _, tok := range []string{"g1", "g2"} {
		e.gfake.AddAccount(tok, geminifake.Account{Email: tok + "@example.com", Sub: "sub-" + tok, Tier: "standard-tier", Project: "proj-" + tok})
		gseeds = append(gseeds, providers.Credential{RefreshToken: config.Secret(tok)})
	}
	for _, tok := range []string{"c1", "c2"} {
		e.cfake.AddAccount(tok, codexfake.Account{ID: "acct-" + tok, Sub: "sub-" + tok, Email: tok + "@example.com", PlanType: "pro"})
		cseeds = append(cseeds, providers.Credential{RefreshToken: config.Secret(tok)})
	}
	for name, seeds := range map[string][]providers.Credential{providers.GeminiCLI: gseeds, providers.Codex: cseeds} {
		if _, err := e.sys.Pool(name).Add(ctx, seeds...); err != nil {
			e.t.Fatal(err)
		}
	}
}

// addGemini registers accounts in the fake, onboards them and returns their
// credential ids in order.
func (e *gatewayEnv) addGemini(tokens ...string) []int64 {
	e.t.Helper()
	seeds := make([]providers.Credential, len(tokens))
	for i, tok := range tokens {
		e.gfake.AddAccount(tok, geminifake.Account{Email: tok + "@example.com", Sub: "sub-" + tok,
			Tier: "standard-tier", Project: "proj-" + tok})
		seeds[i] = providers.Credential{RefreshToken: config.Secret(tok)}
	}
	return e.add(providers.GeminiCLI, seeds)
}

// addCodex registers ChatGPT accounts in the fake and onboards them.
func (e *gatewayEnv) addCodex(tokens ...string) []int64 {
	e.t.Helper()
	seeds := make([]providers.Credential, len(tokens))
	for i, tok := range tokens {
		e.cfake.AddAccount(tok, codexfake.Account{ID: "acct-" + tok, Sub: "sub-" + tok, Email: tok + "@example.com", PlanType: "pro"})
		seeds[i] = providers.Credential{RefreshToken: config.Secret(tok)}
	}
	return e.add(providers.Codex, seeds)
}

func (e *gatewayEnv) add(provider string, seeds []providers.Credential) []int64 {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	verdicts, err := e.sys.Pool(provider).Add(ctx, seeds...)
	if err != nil {
		e.t.Fatal(err)
	}
	ids := make([]int64, len(verdicts))
	for i, v := range verdicts {
		if v.Result != actors.VerdictAdded {
			e.t.Fatalf("onboarding %s: %+v", provider, v)
		}
		ids[i] = v.CredentialID
	}
	return ids
}

// do sends a request with key as Bearer ("" sends none) and returns the
// status and body.
func (e *gatewayEnv) do(method, path, body, key string) (int, string) {
	e.t.Helper()
	var hdr map[string]string
	if key != "" {
		hdr = map[string]string{"Authorization": "Bearer " + key}
	}
	r := e.send(method, path, body, hdr)
	return r.status, r.body
}

// mustDo is do that fails the test unless the status is want.
func (e *gatewayEnv) mustDo(method, path, body, key string, want int) string {
	e.t.Helper()
	status, got := e.do(method, path, body, key)
	if status != want {
		e.t.Fatalf("%s %s: status = %d, want %d; body %s", method, path, status, want, got)
	}
	return got
}

// credentials lists GET /admin/v1/credentials with the query.
func (e *gatewayEnv) credentials(query string) []actors.CredentialView {
	e.t.Helper()
	body := e.mustDo(http.MethodGet, "/admin/v1/credentials"+query, "", harnessKey, http.StatusOK)
	var out struct {
		Credentials []actors.CredentialView `json:"credentials"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		e.t.Fatalf("decode %s: %v", body, err)
	}
	return out.Credentials
}

// credential returns one credential's view from GET credentials.
func (e *gatewayEnv) credential(id int64) actors.CredentialView {
	e.t.Helper()
	for _, v := range e.credentials("") {
		if v.ID == id {
			return v
		}
	}
	e.t.Fatalf("credential %d not listed", id)
	return actors.CredentialView{}
}

// reply is a finished HTTP exchange.
type reply struct {
	status int
	header http.Header
	body   string
}

// send sends a request with the given headers.
func (e *gatewayEnv) send(method, path, body string, headers map[string]string) reply {
	e.t.Helper()
	resp := sendRequest(e.t, e.ts.Client(), method, e.ts.URL+path, body, headers)
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		e.t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// as sends a request with key as Bearer.
func (e *gatewayEnv) as(key, method, path, body string) reply {
	e.t.Helper()
	return e.send(method, path, body, map[string]string{"Authorization": "Bearer " + key})
}

// admin sends an admin request and fails unless the status is want.
func (e *gatewayEnv) admin(method, path, body string, want int) string {
	e.t.Helper()
	r := e.as(harnessKey, method, path, body)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	return r.body
}

// createKey creates a member key from a JSON body and returns its id and
// secret.
func (e *gatewayEnv) createKey(body string) (int64, string) {
	e.t.Helper()
	var out keySecretReply
	if err := json.Unmarshal([]byte(e.admin(http.MethodPost, "/admin/v1/keys", body, http.StatusCreated)), &out); err != nil {
		e.t.Fatal(err)
	}
	if !strings.HasPrefix(out.Secret, "pk-") || len(out.Secret) < 3+22 {
		e.t.Fatalf("secret %q: want pk- and at least 128 bits", out.Secret)
	}
	return out.Key.ID, out.Secret
}

// usage reads GET /admin/v1/usage with a query.
func (e *gatewayEnv) usage(query string) usageReport {
	e.t.Helper()
	var out usageReport
	if err := json.Unmarshal([]byte(e.admin(http.MethodGet, "/admin/v1/usage"+query, "", http.StatusOK)), &out); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// The request kinds of the tests, with the usage the fake upstreams report
// for each.
const (
	geminiUnaryPath = "/geminicli/v1beta/models/gemini-2.5-pro:generateContent"
	keysStreamPath  = "/geminicli/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
	codexRespPath   = "/codex/v1/responses"
	geminiReqBody   = `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
	codexStreamBody = `{"model":"gpt-5.2","input":"hi","stream":true}`
	codexUnaryBody  = `{"model":"gpt-5.2-codex","input":"hi"}`
)

// upstreamGate holds generate calls to the fake Google while closed.
type upstreamGate struct {
	mu      sync.Mutex
	closed  chan struct{}
	arrived chan struct{}
}

// close makes generate calls wait until open.
func (g *upstreamGate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed, g.arrived = make(chan struct{}), make(chan struct{}, 1024)
}

// open releases the waiting calls.
func (g *upstreamGate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed != nil {
		close(g.closed)
		g.closed = nil
	}
}

func (g *upstreamGate) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		wait, arrived := g.closed, g.arrived
		g.mu.Unlock()
		if wait != nil && strings.Contains(r.URL.Path, "enerate") {
			arrived <- struct{}{}
			select {
			case <-wait:
			case <-r.Context().Done():
			}
		}
		next.ServeHTTP(w, r)
	})
}

func zapString(k, v string) zap.Field { return zap.String(k, v) }
