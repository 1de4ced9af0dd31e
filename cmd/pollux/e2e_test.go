package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/actors/actorstest"
	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
	geminifake "github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
)

const e2eKey = "e2e-pollux-key-7c1d0b5e9a"

// instance is one in-process Pollux started through runWith.
type instance struct {
	t      *testing.T
	addr   string
	cancel context.CancelFunc
	done   chan error
	logs   *observer.ObservedLogs
	stdout *syncBuffer
	client *http.Client
	// tap sees every message the instance's actors handled.
	tap *actorstest.Expector
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of run.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

// start runs Pollux with args and env until stop; it fails the test if the
// server does not come up.
func start(t *testing.T, args []string, env map[string]string) *instance {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan string, 1)
	in := &instance{t: t, cancel: cancel, done: make(chan error, 1), logs: logs, stdout: &syncBuffer{},
		client: &http.Client{Transport: &http.Transport{}}, tap: actorstest.NewExpector(10 * time.Second)}
	getenv := func(k string) string { return env[k] }
	go func() {
		in.done <- runWith(ctx, args, getenv, in.stdout, hooks{listening: listening, logCore: core, actorTap: in.tap.Observe})
	}()
	select {
	case in.addr = <-listening:
	case err := <-in.done:
		cancel()
		t.Fatalf("pollux exited during start: %v\nstdout: %s", err, in.stdout.String())
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("pollux did not start within 60s")
	}
	t.Cleanup(func() { in.stop() })
	return in
}

// stop shuts the instance down like SIGTERM and returns run's error.
func (in *instance) stop() error {
	if in.cancel == nil {
		return nil
	}
	in.cancel()
	in.cancel = nil
	select {
	case err := <-in.done:
		if err != nil {
			in.t.Errorf("run returned %v", err)
		}
		in.assertNoSecrets()
		return err
	case <-time.After(60 * time.Second):
		in.t.Fatal("pollux did not stop within 60s")
	}
	return nil
}

// secrets are strings that must never reach a log line ("pk-" starts every
// member key).
var secrets = []string{e2eKey, "ya29.", "eyJ", "Bearer ", "e2e-refresh-", "sim-", "pk-"}

func (in *instance) assertNoSecrets() {
	in.t.Helper()
	for _, e := range in.logs.All() {
		var b strings.Builder
		b.WriteString(e.Message)
		for k, v := range e.ContextMap() {
			fmt.Fprintf(&b, " %s=%v", k, v)
		}
		line := b.String()
		for _, s := range secrets {
			if strings.Contains(line, s) {
				in.t.Errorf("a log line leaks %q: %s", s, line)
			}
		}
	}
}

func (in *instance) url(path string) string { return "http://" + in.addr + path }

func (in *instance) do(method, path, body string, hdr map[string]string) (int, http.Header, string) {
	in.t.Helper()
	req, err := http.NewRequest(method, in.url(path), strings.NewReader(body))
	if err != nil {
		in.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if req.Header.Get("Authorization") == "" && req.Header.Get("x-goog-api-key") == "" && !strings.Contains(path, "key=") {
		req.Header.Set("Authorization", "Bearer "+e2eKey)
	}
	resp, err := in.client.Do(req)
	if err != nil {
		in.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		in.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// upstreams are the two fake upstreams on loopback.
type upstreams struct {
	gemini *geminifake.Server
	codex  *codexfake.Server
	gURL   string
	cURL   string
}

func newUpstreams(t *testing.T) *upstreams {
	t.Helper()
	u := &upstreams{gemini: geminifake.New(), codex: codexfake.New()}
	gs := httptest.NewServer(u.gemini)
	cs := httptest.NewServer(u.codex)
	t.Cleanup(gs.Close)
	t.Cleanup(cs.Close)
	u.gURL, u.cURL = gs.URL, cs.URL
	return u
}

func (u *upstreams) config(port int, dbPath string) string {
	return fmt.Sprintf(`[basic]
listen_addr = "127.0.0.1"
listen_port = %d
database_url = "sqlite://%s"
loglevel = "debug"
pollux_key = %q
insecure_cookie = true
shutdown_timeout_secs = 10

[providers.defaults]
queue_timeout_secs = 2

[providers.geminicli]
model_list = ["gemini-2.5-pro", "gemini-2.5-flash"]
custom_api_url = %q
oauth_auth_url = "%s/authorize"
oauth_token_url = "%s/token"
oauth_userinfo_url = "%s/userinfo"
oauth_tps = 1000

[providers.codex]
model_list = ["gpt-5.2-codex"]
custom_api_url = %q
oauth_auth_url = "%s/oauth/authorize"
oauth_token_url = "%s/oauth/token"
oauth_tps = 1000
`, port, dbPath, e2eKey, u.gURL, u.gURL, u.gURL, u.gURL, u.cURL, u.cURL, u.cURL)
}

func writeConfig(t *testing.T, dir, text string) string {
	t.Helper()
	p := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFirstRunWritesConfigAndServes: with no config file, and none named,
// Pollux writes ./config.toml with a fresh key, prints the key once, and
// serves with it.
func TestFirstRunWritesConfigAndServes(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	path := filepath.Join(dir, "config.toml")
	port := freePort(t)
	env := map[string]string{
		"POLLUX_LISTEN_ADDR":  "127.0.0.1",
		"POLLUX_LISTEN_PORT":  fmt.Sprint(port),
		"POLLUX_DATABASE_URL": "sqlite://" + filepath.Join(dir, "data.db"),
	}
	in := start(t, nil, env)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("config not written: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("config mode = %v, want 0600", st.Mode().Perm())
	}
	out := in.stdout.String()
	var key string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if i := strings.Index(sc.Text(), "pollux-"); i >= 0 && strings.Contains(sc.Text(), "key") {
			key = strings.TrimSpace(sc.Text()[i:])
		}
	}
	if key == "" {
		t.Fatalf("no key printed; stdout: %q", out)
	}
	if strings.Count(out, key) != 1 {
		t.Errorf("key printed %d times, want once", strings.Count(out, key))
	}
	for _, e := range in.logs.All() {
		if strings.Contains(e.Message+fmt.Sprint(e.ContextMap()), key) {
			t.Fatalf("the generated key reached a log line: %s", e.Message)
		}
	}
	if code, _, _ := in.do(http.MethodGet, "/healthz", "", map[string]string{"Authorization": "x"}); code != http.StatusOK {
		t.Fatalf("healthz = %d", code)
	}
	tests := []struct {
		name   string
		path   string
		hdr    map[string]string
		status int
		want   string
	}{
		{"gemini no key", "/geminicli/v1beta/models", map[string]string{"Authorization": "Bearer wrong"}, 401, `"status":"UNAUTHENTICATED"`},
		{"gemini bearer", "/geminicli/v1beta/models", map[string]string{"Authorization": "Bearer " + key}, 200, `"models/gemini-2.5-pro"`},
		{"gemini x-goog-api-key", "/geminicli/v1beta/models", map[string]string{"x-goog-api-key": key}, 200, `"models/gemini-2.5-pro"`},
		{"gemini ?key=", "/geminicli/v1beta/models?key=" + key, nil, 200, `"models/gemini-2.5-pro"`},
		{"codex no key", "/codex/v1/models", map[string]string{"Authorization": "Bearer wrong"}, 401, `"type":"authentication_error"`},
		{"codex bearer", "/codex/v1/models", map[string]string{"Authorization": "Bearer " + key}, 200, `"object":"list"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, body := in.do(http.MethodGet, tt.path, "", tt.hdr)
			if code != tt.status || !strings.Contains(body, tt.want) {
				t.Fatalf("%s: %d %s, want %d with %s", tt.path, code, body, tt.status, tt.want)
			}
		})
	}
	if err := in.stop(); err != nil {
		t.Fatal(err)
	}
	// A second start keeps the file and its key.
	in2 := start(t, []string{"--config", path}, env)
	if strings.Contains(in2.stdout.String(), "pollux-") {
		t.Fatal("second start printed a key again")
	}
	if code, _, _ := in2.do(http.MethodGet, "/codex/v1/models", "", map[string]string{"Authorization": "Bearer " + key}); code != 200 {
		t.Fatalf("second start does not accept the first key: %d", code)
	}
}

// TestInvalidConfigFailsClearly: a bad file stops start-up with the key and
// line of every problem.
func TestInvalidConfigFailsClearly(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, "[basic]\nlisten_port = 70000\nloglevel = \"loud\"\npollux_key = \"k\"\n")
	err := run(context.Background(), []string{"--config", path}, func(string) string { return "" }, io.Discard)
	if err == nil {
		t.Fatal("run accepted an invalid config")
	}
	for _, want := range []string{"basic.listen_port", ":2:", "basic.loglevel", ":3:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestEndToEnd drives both surfaces through a real process wiring: add
// credentials, stream and non-stream on both surfaces, rotation on 429,
// and a restart that keeps cooldowns and rotated tokens.
func TestEndToEnd(t *testing.T) {
	u := newUpstreams(t)
	dir := t.TempDir()
	port := freePort(t)
	cfgPath := writeConfig(t, dir, u.config(port, filepath.Join(dir, "pollux.db")))
	u.gemini.AddAccount("e2e-refresh-g1", geminifake.Account{Email: "g1@example.com", Sub: "g1", Tier: "standard-tier", Project: "proj-g1"})
	u.gemini.AddAccount("e2e-refresh-g2", geminifake.Account{Email: "g2@example.com", Sub: "g2", Tier: "standard-tier", Project: "proj-g2"})
	u.codex.AddAccount("e2e-refresh-c1", codexfake.Account{ID: "acct-c1", Sub: "c1", Email: "c1@example.com", PlanType: "pro"})

	in := start(t, []string{"--config", cfgPath}, nil)

	code, _, body := in.do(http.MethodPost, "/geminicli/resource:add?wait=true", `["e2e-refresh-g1","e2e-refresh-g2"]`, nil)
	if code != http.StatusOK || strings.Count(body, `"added"`) != 2 || strings.Contains(body, "e2e-refresh-") {
		t.Fatalf("gemini add: %d %s", code, body)
	}
	code, _, body = in.do(http.MethodPost, "/codex/resource:add?wait=true", `[{"refresh_token":"e2e-refresh-c1"}]`, nil)
	if code != http.StatusOK || !strings.Contains(body, `"added"`) {
		t.Fatalf("codex add: %d %s", code, body)
	}

	gemReq := `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
	code, _, body = in.do(http.MethodPost, "/geminicli/v1beta/models/gemini-2.5-pro:generateContent", gemReq, nil)
	if code != 200 || !strings.Contains(body, `"candidates"`) {
		t.Fatalf("generateContent: %d %s", code, body)
	}
	code, hdr, body := in.do(http.MethodPost, "/geminicli/v1/models/gemini-2.5-pro:streamGenerateContent?alt=sse", gemReq, nil)
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/event-stream") || !strings.Contains(body, "finishReason") || !strings.HasSuffix(body, "\n\n") {
		t.Fatalf("stream: %d %q", code, body)
	}

	// One credential answers 429 with a long retry delay: the client still
	// gets 200, served by the other.
	u.gemini.ScriptGenerate(geminifake.Response{Status: 429, Body: `{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"3600s"}]}}`})
	code, _, body = in.do(http.MethodPost, "/geminicli/v1beta/models/gemini-2.5-pro:generateContent", gemReq, nil)
	if code != 200 {
		t.Fatalf("after one 429: %d %s", code, body)
	}

	codexReq := `{"model":"gpt-5.2-codex","input":"hello","stream":false}`
	code, _, body = in.do(http.MethodPost, "/codex/v1/responses", codexReq, nil)
	if code != 200 || !strings.Contains(body, `"object":"response"`) {
		t.Fatalf("codex non-stream: %d %s", code, body)
	}
	code, _, body = in.do(http.MethodPost, "/codex/v1/responses", strings.Replace(codexReq, "false", "true", 1), map[string]string{"Accept": "application/json"})
	if code != 200 || !strings.Contains(body, "event: response.completed") {
		t.Fatalf("codex stream: %d %s", code, body)
	}
	if err := in.stop(); err != nil {
		t.Fatal(err)
	}

	// After a restart: the rate-limited Gemini credential is still cooling
	// (only the other one serves) and the Codex credential works with its
	// rotated refresh token.
	before := len(u.gemini.RequestsTo("/v1internal:generateContent"))
	in2 := start(t, []string{"--config", cfgPath}, nil)
	for i := 0; i < 4; i++ {
		code, _, body = in2.do(http.MethodPost, "/geminicli/v1beta/models/gemini-2.5-pro:generateContent", gemReq, nil)
		if code != 200 {
			t.Fatalf("after restart, request %d: %d %s", i, code, body)
		}
	}
	tokens := map[string]bool{}
	for _, r := range u.gemini.RequestsTo("/v1internal:generateContent")[before:] {
		tokens[r.Header.Get("Authorization")] = true
	}
	if len(tokens) != 1 {
		t.Fatalf("after restart %d credentials served; the cooling one must stay out", len(tokens))
	}
	u.codex.InvalidateAccess("acct-c1") // forces a refresh with the stored (rotated) token
	code, _, body = in2.do(http.MethodPost, "/codex/v1/responses", codexReq, nil)
	if code != 200 {
		t.Fatalf("codex after restart: %d %s", code, body)
	}
}

// TestGracefulShutdownFinishesInFlightStreams: SIGTERM (context cancel)
// lets a running stream complete before the process stops.
func TestGracefulShutdownFinishesInFlightStreams(t *testing.T) {
	u := newUpstreams(t)
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, u.config(freePort(t), filepath.Join(dir, "pollux.db")))
	u.gemini.AddAccount("e2e-refresh-g1", geminifake.Account{Email: "g1@example.com", Sub: "g1", Tier: "standard-tier", Project: "proj-g1"})
	in := start(t, []string{"--config", cfgPath}, nil)
	if code, _, body := in.do(http.MethodPost, "/geminicli/resource:add?wait=true", `["e2e-refresh-g1"]`, nil); code != 200 {
		t.Fatalf("add: %d %s", code, body)
	}
	// under is taken by the fake as it writes the stream's first event;
	// the second waits for gate.
	under, gate := make(chan struct{}), make(chan struct{})
	stream := geminifake.DefaultStream("gemini-2.5-pro")
	stream.Events[0].Gate = under
	stream.Events[1].Gate = gate
	u.gemini.ScriptStream(stream)

	type result struct {
		code int
		body string
	}
	got := make(chan result, 1)
	go func() {
		code, _, body := in.do(http.MethodPost, "/geminicli/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
			`{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`, nil)
		got <- result{code, body}
	}()
	// Wait until the stream is under way upstream, then stop Pollux.
	select {
	case under <- struct{}{}:
	case r := <-got:
		t.Fatalf("the stream ended before it began: %d %q", r.code, r.body)
	case <-time.After(10 * time.Second):
		t.Fatal("stream never reached the upstream")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- in.stop() }()
	time.Sleep(100 * time.Millisecond) // the drain has begun; the stream is still gated
	select {
	case <-stopped:
		t.Fatal("pollux stopped before the in-flight stream finished")
	default:
	}
	close(gate)
	r := <-got
	if r.code != 200 || !strings.Contains(r.body, "finishReason") {
		t.Fatalf("in-flight stream: %d %q", r.code, r.body)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

// untilPool returns once cond holds, checking it at once and then after
// each message provider's scheduler in the instance handles (every change
// of a credential reaches it), instead of polling. A snapshot cond asks for
// is not such a message.
func (in *instance) untilPool(provider, what string, cond func() bool) {
	in.t.Helper()
	in.tap.Until(in.t, actors.SchedulerID(provider), what, func(msg any) bool {
		_, snapshot := msg.(*actors.SnapshotRequest)
		return !snapshot
	}, cond)
}
