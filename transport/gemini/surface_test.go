package gemini

import (
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
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/geminicli"
	"github.com/pollux-gateway/pollux/transport/relay"
	"github.com/pollux-gateway/pollux/transport/relay/relaytest"
)

const testModel = "gemini-2.5-pro"

// codeAssist is a scripted Code Assist upstream: per access token, the
// answer to give (status and body; SSE bodies for streams).
type codeAssist struct {
	mu      sync.Mutex
	answers map[string]upstreamAnswer
	calls   []string
}

type upstreamAnswer struct {
	status int
	body   string
}

func (u *codeAssist) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	u.mu.Lock()
	u.calls = append(u.calls, token+" "+r.URL.Path)
	a, ok := u.answers[token]
	u.mu.Unlock()
	if !ok {
		a = upstreamAnswer{status: http.StatusInternalServerError, body: `{}`}
	}
	if strings.HasSuffix(r.URL.Path, geminicli.MethodStream) {
		w.Header().Set("Content-Type", "text/event-stream")
	}
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

func (u *codeAssist) Calls() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.calls...)
}

// surfaceEnv is the surface alone: its routes on an Echo instance that
// renders errors as the server does, a fake pool, the real Code Assist
// client against a scripted upstream.
type surfaceEnv struct {
	pool     *relaytest.Pool
	upstream *codeAssist
	srv      *httptest.Server
}

func newSurfaceEnv(t *testing.T, answers map[string]upstreamAnswer, ids ...int64) *surfaceEnv {
	t.Helper()
	env := &surfaceEnv{pool: relaytest.NewPool(ids...), upstream: &codeAssist{answers: answers}}
	up := httptest.NewServer(env.upstream)
	t.Cleanup(up.Close)
	cfg := config.Default().Providers.GeminiCLI
	cfg.CustomAPIURL = up.URL
	client := geminicli.New(cfg, up.Client(), zap.NewNop())
	e := echo.New()
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		var re *relay.Error
		var he *echo.HTTPError
		switch {
		case errors.As(err, &re):
			status := re.Kind.Status()
			_ = WriteError(c.Response(), status, re.Error(), relay.RetryAfterSecs(status, re.RetryAfter))
		case errors.As(err, &he):
			_ = WriteError(c.Response(), he.Code, "http error", 0)
		default:
			_ = WriteError(c.Response(), 500, "internal", 0)
		}
	}
	for _, rt := range Routes(Deps{
		Relay:    relay.New(relay.Options{Pool: env.pool, Upstream: client, QueueTimeout: time.Second}),
		Upstream: client,
		Served:   []string{testModel},
		Listed:   []string{testModel},
	}) {
		e.Add(rt.Method, "/v1beta"+rt.Path, rt.Handler)
	}
	env.srv = httptest.NewServer(e)
	t.Cleanup(env.srv.Close)
	return env
}

func (env *surfaceEnv) post(t *testing.T, method, body string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Post(env.srv.URL+"/v1beta/models/"+testModel+":"+method, "application/json", strings.NewReader(body))
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

const clientBody = `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`

// chunk is one Code Assist stream event with text and, when finish is set,
// a finishReason and usage.
func chunk(text string, finish bool) string {
	c := `{"content":{"role":"model","parts":[{"text":"` + text + `"}]}`
	usage := ""
	if finish {
		c += `,"finishReason":"STOP"`
		usage = `,"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":2,"totalTokenCount":6}`
	}
	return `data: {"response":{"candidates":[` + c + `}]` + usage + `}}` + "\n\n"
}

// TestStreamRelaysEvents: each upstream event reaches the client as its
// inner response, and the credential is reported served.
func TestStreamRelaysEvents(t *testing.T) {
	env := newSurfaceEnv(t, map[string]upstreamAnswer{"token-1": {200, chunk("a", false) + chunk("b", true)}}, 1)
	status, hdr, body := env.post(t, geminicli.MethodStream+"?alt=sse", clientBody)
	if status != 200 || hdr.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, Content-Type %q; body %s", status, hdr.Get("Content-Type"), body)
	}
	if n := strings.Count(body, "data: {\"candidates\""); n != 2 || strings.Contains(body, `"response"`) {
		t.Errorf("client stream = %q, want two unwrapped events", body)
	}
	if diff := cmp.Diff([]string{"ok"}, env.reports()); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
	if in, out := env.pool.Usage(1); in != 4 || out != 2 {
		t.Errorf("usage = %d/%d, want 4/2", in, out)
	}
}

// TestStreamWithoutFinishEndsWithError: a stream that ends without a
// finishReason gets an in-band 502 error event, and the credential a
// transient failure.
func TestStreamWithoutFinishEndsWithError(t *testing.T) {
	env := newSurfaceEnv(t, map[string]upstreamAnswer{"token-1": {200, chunk("a", false)}}, 1)
	_, _, body := env.post(t, geminicli.MethodStream, clientBody)
	want := `data: {"error":{"code":502,"message":"upstream stream ended without a finishReason","status":"UNAVAILABLE"}}` + "\n\n"
	if !strings.HasSuffix(body, want) {
		t.Errorf("stream = %q, want it to end with %q", body, want)
	}
	rs := env.pool.Reports()
	if len(rs) != 1 || rs[0].Outcome.Kind != providers.KindTransient || rs[0].Outcome.Reason != "no_finish_reason" {
		t.Errorf("reports = %+v, want one transient no_finish_reason", rs)
	}
}

// TestGenerateFailsOver: a limit on one credential fails over to the next;
// the client gets the inner response.
func TestGenerateFailsOver(t *testing.T) {
	env := newSurfaceEnv(t, map[string]upstreamAnswer{
		"token-1": {429, `{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}`},
		"token-2": {200, `{"response":{"candidates":[{"content":{"parts":[{"text":"hi"}]},"finishReason":"STOP"}]}}`},
	}, 1, 2)
	status, _, body := env.post(t, geminicli.MethodGenerate, clientBody)
	if status != 200 || !strings.HasPrefix(body, `{"candidates"`) {
		t.Fatalf("status %d body %s, want the inner response", status, body)
	}
	if got := env.reports(); len(got) != 2 || got[1] != "ok" {
		t.Errorf("reports = %v, want a failure then ok", got)
	}
}

// TestClientErrorPassesThrough: Code Assist's own 400 reaches the client as
// Google wrote it, from the first credential only.
func TestClientErrorPassesThrough(t *testing.T) {
	const googleErr = `{"error":{"code":400,"message":"Invalid value at 'contents'","status":"INVALID_ARGUMENT"}}`
	env := newSurfaceEnv(t, map[string]upstreamAnswer{"token-1": {400, googleErr}}, 1, 2)
	status, _, body := env.post(t, geminicli.MethodGenerate, clientBody)
	if status != 400 || body != googleErr {
		t.Errorf("got %d %s, want the upstream's 400 verbatim", status, body)
	}
	if n := len(env.upstream.Calls()); n != 1 {
		t.Errorf("upstream calls = %d, want 1", n)
	}
}

// TestCountTokensUnwrappableBodyIs400: a countTokens body whose
// generateContentRequest is not an object is the client's 400, answered
// before any credential is leased or any upstream called.
func TestCountTokensUnwrappableBodyIs400(t *testing.T) {
	env := newSurfaceEnv(t, nil, 1, 2)
	for _, body := range []string{`{"generateContentRequest": 5}`, `{"generateContentRequest": "x"}`, `{"generateContentRequest": [{}]}`} {
		status, _, got := env.post(t, geminicli.MethodCountTokens, body)
		if status != http.StatusBadRequest || !strings.Contains(got, "INVALID_ARGUMENT") || !strings.Contains(got, "generateContentRequest") {
			t.Errorf("%s: %d %s, want 400 INVALID_ARGUMENT naming generateContentRequest", body, status, got)
		}
	}
	if n := len(env.upstream.Calls()); n != 0 {
		t.Errorf("%d upstream calls for bodies refused at the door", n)
	}
	if n := len(env.pool.Acquires()); n != 0 {
		t.Errorf("%d leases for bodies refused at the door", n)
	}
}

// TestEveryCredentialLimited: when every credential is cooling the client
// gets 429 with a RetryInfo delay, and each lease is reported once.
func TestEveryCredentialLimited(t *testing.T) {
	env := newSurfaceEnv(t, map[string]upstreamAnswer{
		"token-1": {429, `{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}`},
	}, 1)
	status, hdr, body := env.post(t, geminicli.MethodGenerate, clientBody)
	if status != http.StatusTooManyRequests || !strings.Contains(body, "RESOURCE_EXHAUSTED") || hdr.Get("Retry-After") == "" {
		t.Errorf("got %d %s (Retry-After %q), want 429 RESOURCE_EXHAUSTED with Retry-After", status, body, hdr.Get("Retry-After"))
	}
	if env.pool.Outstanding() != 0 {
		t.Errorf("%d leases not reported", env.pool.Outstanding())
	}
}
