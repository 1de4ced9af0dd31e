package responses

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers/codex"
	"github.com/pollux-gateway/pollux/transport/relay"
	"github.com/pollux-gateway/pollux/transport/relay/relaytest"
)

const testModel = "gpt-5.2-codex"

// backend is a scripted Codex backend: per access token, the answer to
// give.
type backend struct {
	mu      sync.Mutex
	answers map[string]backendAnswer
	calls   []string
}

type backendAnswer struct {
	status int
	body   string
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	b.mu.Lock()
	b.calls = append(b.calls, token)
	a, ok := b.answers[token]
	b.mu.Unlock()
	if !ok {
		a = backendAnswer{http.StatusInternalServerError, `{"error":{"message":"boom"}}`}
	}
	if a.status == http.StatusOK {
		w.Header().Set("Content-Type", "text/event-stream")
	}
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

func (b *backend) Calls() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.calls...)
}

type surfaceEnv struct {
	pool    *relaytest.Pool
	backend *backend
	srv     *httptest.Server
}

// newSurfaceEnv is the surface alone: its routes on an Echo instance that
// renders errors as the server does, a fake pool, the real Codex client
// against a scripted backend.
func newSurfaceEnv(t *testing.T, answers map[string]backendAnswer, ids ...int64) *surfaceEnv {
	t.Helper()
	env := &surfaceEnv{pool: relaytest.NewPool(ids...), backend: &backend{answers: answers}}
	up := httptest.NewServer(env.backend)
	t.Cleanup(up.Close)
	cfg := config.Default().Providers.Codex
	cfg.CustomAPIURL = up.URL
	cfg.ModelList = []string{testModel}
	client := codex.New(cfg, up.Client(), zap.NewNop())
	e := echo.New()
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		var re *relay.Error
		if errors.As(err, &re) {
			status := re.Kind.Status()
			_ = WriteError(c.Response(), status, re.Error(), relay.RetryAfterSecs(status, re.RetryAfter))
			return
		}
		_ = WriteError(c.Response(), http.StatusInternalServerError, "internal", 0)
	}
	for _, rt := range Routes(Deps{
		Relay:  relay.New(relay.Options{Pool: env.pool, Upstream: client, QueueTimeout: time.Second}),
		Served: []string{testModel}, Listed: []string{testModel},
	}) {
		e.Add(rt.Method, "/v1"+rt.Path, rt.Handler)
	}
	env.srv = httptest.NewServer(e)
	t.Cleanup(env.srv.Close)
	return env
}

func (env *surfaceEnv) post(t *testing.T, stream bool) (int, http.Header, string) {
	t.Helper()
	body := `{"model":"` + testModel + `","input":"hi","stream":` + map[bool]string{true: "true", false: "false"}[stream] + `}`
	resp, err := http.Post(env.srv.URL+"/v1/responses", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func (env *surfaceEnv) reports() []string {
	var out []string
	for _, r := range env.pool.Reports() {
		out = append(out, r.Outcome.Kind.String())
	}
	return out
}

func event(typ, data string) string { return "event: " + typ + "\ndata: " + data + "\n\n" }

var (
	created   = event("response.created", `{"type":"response.created","response":{"id":"resp_1"}}`)
	delta     = event("response.output_text.delta", `{"type":"response.output_text.delta","delta":"hi"}`)
	completed = event("response.completed", `{"type":"response.completed","response":{"id":"resp_1","output":[{"type":"message","content":[{"type":"output_text","text":"hi"}]}],"usage":{"input_tokens":5,"output_tokens":7}}}`)
	overload  = event("response.failed", `{"type":"response.failed","response":{"error":{"code":"server_is_overloaded","message":"busy"}}}`)
	limited   = event("response.failed", `{"type":"response.failed","response":{"error":{"type":"usage_limit_reached","message":"limit","resets_in_seconds":3600}}}`)
)

// TestStreamRelaysVerbatim: the events reach the client as the backend
// sent them, and the credential is reported served with its usage.
func TestStreamRelaysVerbatim(t *testing.T) {
	env := newSurfaceEnv(t, map[string]backendAnswer{"token-1": {200, created + delta + completed}}, 1)
	status, _, body := env.post(t, true)
	if status != 200 || body != created+delta+completed {
		t.Fatalf("got %d %q, want the stream verbatim", status, body)
	}
	if diff := cmp.Diff([]string{"ok"}, env.reports()); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
	if in, out := env.pool.Usage(1); in != 5 || out != 7 {
		t.Errorf("usage = %d/%d, want 5/7", in, out)
	}
}

// TestOverloadAtHeadFailsOver: an overload before any output is held back
// and the request goes to the next credential; the client sees only the
// stream that served.
func TestOverloadAtHeadFailsOver(t *testing.T) {
	env := newSurfaceEnv(t, map[string]backendAnswer{
		"token-1": {200, created + overload},
		"token-2": {200, created + delta + completed},
	}, 1, 2)
	status, _, body := env.post(t, true)
	if status != 200 || body != created+delta+completed {
		t.Fatalf("got %d %q, want the second credential's stream only", status, body)
	}
	if diff := cmp.Diff([]string{"overloaded", "ok"}, env.reports()); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
}

// TestLimitAtHeadToldWithUpstreamFields: when the last credential's stream
// failed at its head with a usage limit, the client gets 429 with the
// upstream's own error fields (the rejection's client error).
func TestLimitAtHeadToldWithUpstreamFields(t *testing.T) {
	env := newSurfaceEnv(t, map[string]backendAnswer{"token-1": {200, created + limited}}, 1)
	status, hdr, body := env.post(t, true)
	if status != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" {
		t.Fatalf("got %d (Retry-After %q) %s, want 429 with Retry-After", status, hdr.Get("Retry-After"), body)
	}
	var env2 struct {
		Error struct {
			Type            string `json:"type"`
			ResetsInSeconds *int64 `json:"resets_in_seconds"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &env2); err != nil || env2.Error.Type != "usage_limit_reached" || env2.Error.ResetsInSeconds == nil {
		t.Errorf("body %s, want the upstream's usage_limit_reached with resets_in_seconds", body)
	}
}

// TestStreamInterrupted: a stream that ends without a terminal event after
// output ends with a response.failed stream_interrupted event.
func TestStreamInterrupted(t *testing.T) {
	env := newSurfaceEnv(t, map[string]backendAnswer{"token-1": {200, created + delta}}, 1)
	_, _, body := env.post(t, true)
	if !strings.HasPrefix(body, created+delta) || !strings.HasSuffix(body, string(interruptedEvent("resp_1"))) {
		t.Errorf("stream = %q, want the events then response.failed stream_interrupted", body)
	}
	if diff := cmp.Diff([]string{"transient"}, env.reports()); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
}

// TestCollect: a client that did not ask to stream gets the final response
// as one JSON object.
func TestCollect(t *testing.T) {
	env := newSurfaceEnv(t, map[string]backendAnswer{"token-1": {200, created + delta + completed}}, 1)
	status, _, body := env.post(t, false)
	var resp struct {
		ID    string `json:"id"`
		Usage struct {
			InputTokens int64 `json:"input_tokens"`
		} `json:"usage"`
	}
	if status != 200 || json.Unmarshal([]byte(body), &resp) != nil || resp.ID != "resp_1" || resp.Usage.InputTokens != 5 {
		t.Fatalf("got %d %s, want the response object", status, body)
	}
	if diff := cmp.Diff([]string{"ok"}, env.reports()); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
}

// TestModelNotServed: a model outside the list is the client's 404 in the
// OpenAI envelope, before any lease.
func TestModelNotServed(t *testing.T) {
	env := newSurfaceEnv(t, nil, 1)
	resp, err := http.Post(env.srv.URL+"/v1/responses", "application/json", strings.NewReader(`{"model":"gpt-x","input":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), `"code":"model_not_found"`) {
		t.Errorf("got %d %s, want 404 model_not_found", resp.StatusCode, body)
	}
	if n := len(env.pool.Acquires()); n != 0 {
		t.Errorf("%d leases for an unserved model", n)
	}
}
