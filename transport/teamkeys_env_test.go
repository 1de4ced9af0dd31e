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

// keysEnv is a whole gateway with member keys: a real SQLite file that
// outlives restarts, the real actors and provider clients on the fake
// upstreams, and a fake clock for the keys' limits. Generate calls to the
// fake Google can be held at a gate.
type keysEnv struct {
	t     testing.TB
	cfg   config.Config
	clock *actorstest.FakeClock
	// keyClock is the member keys' clock: clock unless a benchmark set one.
	keyClock actors.Clock
	gfake    *geminifake.Server
	cfake    *codexfake.Server
	gemini   *geminicli.Client
	codex    *codex.Client
	log      *zap.Logger
	logs     *observer.ObservedLogs
	dbPath   string
	gate     *upstreamGate

	// Replaced by restart.
	db  *storage.DB
	sys *actors.System
	ts  *httptest.Server
}

// keysEnvStart is the fake clock's start: mid-day UTC.
var keysEnvStart = time.Date(2026, 5, 14, 12, 0, 0, 0, time.UTC)

func newKeysEnv(t testing.TB) *keysEnv { return newKeysEnvClock(t, nil) }

// newKeysEnvClock is newKeysEnv with the keys on keyClock (nil: the fake
// clock).
func newKeysEnvClock(t testing.TB, keyClock actors.Clock) *keysEnv {
	t.Helper()
	e := &keysEnv{t: t, gfake: geminifake.New(), cfake: codexfake.New(), clock: actorstest.NewFakeClock(keysEnvStart),
		gate: &upstreamGate{}, keyClock: keyClock}
	if e.keyClock == nil {
		e.keyClock = e.clock
	}
	gup := httptest.NewServer(e.gate.wrap(e.gfake))
	cup := httptest.NewServer(e.cfake)
	t.Cleanup(gup.Close)
	t.Cleanup(cup.Close)
	e.cfg = fakeUpstreamConfig(gup.URL, cup.URL)
	core, logs := observer.New(zap.DebugLevel)
	e.log, e.logs = zap.New(core), logs
	e.gemini = geminicli.New(e.cfg.Providers.GeminiCLI, gup.Client(), e.log, geminicli.WithPollInterval(time.Millisecond))
	e.codex = codex.New(e.cfg.Providers.Codex, cup.Client(), e.log)
	e.dbPath = filepath.Join(t.TempDir(), "pollux.db")
	e.boot()
	e.addAccounts()
	t.Cleanup(e.shutdown)
	return e
}

func (e *keysEnv) boot() {
	e.t.Helper()
	ctx := context.Background()
	db, err := storage.Open(ctx, e.dbPath, e.log)
	if err != nil {
		e.t.Fatal(err)
	}
	sys, err := actors.Start(ctx, actors.Deps{DB: db, Logger: e.log, KeyClock: e.keyClock, Pools: []actors.PoolSpec{
		{Name: providers.GeminiCLI, Authority: e.gemini, Config: e.cfg.Providers.GeminiCLI},
		{Name: providers.Codex, Authority: e.codex, Config: e.cfg.Providers.Codex},
	}})
	if err != nil {
		_ = db.Close()
		e.t.Fatal(err)
	}
	srv := New(Deps{
		Config: e.cfg, Logger: e.log, Metrics: prometheus.NewRegistry(),
		GeminiPool: sys.Pool(providers.GeminiCLI), Gemini: e.gemini,
		CodexPool: sys.Pool(providers.Codex), Codex: e.codex,
		Keys: sys.Keys(),
	})
	e.db, e.sys, e.ts = db, sys, httptest.NewServer(srv.Handler())
}

func (e *keysEnv) shutdown() {
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
func (e *keysEnv) restart() {
	e.t.Helper()
	e.shutdown()
	e.boot()
}

// addAccounts onboards two accounts on each provider.
func (e *keysEnv) addAccounts() {
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

// reply is a finished HTTP exchange.
type reply struct {
	status int
	header http.Header
	body   string
}

// send sends a request with the given headers.
func (e *keysEnv) send(method, path, body string, headers map[string]string) reply {
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
func (e *keysEnv) as(key, method, path, body string) reply {
	e.t.Helper()
	return e.send(method, path, body, map[string]string{"Authorization": "Bearer " + key})
}

// admin sends an admin request and fails unless the status is want.
func (e *keysEnv) admin(method, path, body string, want int) string {
	e.t.Helper()
	r := e.as(harnessKey, method, path, body)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	return r.body
}

// createKey creates a member key from a JSON body and returns its id and
// secret.
func (e *keysEnv) createKey(body string) (int64, string) {
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
func (e *keysEnv) usage(query string) usageReport {
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
