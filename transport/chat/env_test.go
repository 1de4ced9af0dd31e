package chat

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers/codex"
	"github.com/pollux-gateway/pollux/providers/geminicli"
	"github.com/pollux-gateway/pollux/transport/models"
	"github.com/pollux-gateway/pollux/transport/relay"
	"github.com/pollux-gateway/pollux/transport/relay/relaytest"
)

const (
	geminiModel = "gemini-2.5-pro"
	codexModel  = "gpt-5.2-codex"
)

// scripted is an upstream that answers per access token and keeps the
// bodies it was sent.
type scripted struct {
	mu      sync.Mutex
	answers map[string]answer
	calls   []string
	bodies  []string
}

type answer struct {
	status int
	body   string
	header map[string]string
}

func (u *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	b, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.calls = append(u.calls, token)
	u.bodies = append(u.bodies, string(b))
	a, ok := u.answers[token]
	u.mu.Unlock()
	if !ok {
		a = answer{status: http.StatusInternalServerError, body: `{"error":{"message":"boom"}}`}
	}
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	if a.status == http.StatusOK && strings.HasPrefix(a.body, "data:") || strings.HasPrefix(a.body, "event:") {
		w.Header().Set("Content-Type", "text/event-stream")
	}
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

func (u *scripted) Calls() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.calls...)
}

func (u *scripted) Bodies() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.bodies...)
}

// env is the surface alone over both pools: fake pools, the real Code
// Assist and Codex clients against scripted upstreams, errors rendered as
// the server does for this surface's paths.
type env struct {
	gemini, codex     *relaytest.Pool
	geminiUp, codexUp *scripted
	srv               *httptest.Server
}

func newEnv(t *testing.T, gem, cdx map[string]answer, ids ...int64) *env {
	t.Helper()
	return newEnvWith(t, gem, cdx, nil, ids...)
}

// newEnvWith is newEnv whose Gemini pool serves the names of table (its
// models, aliases and chains); nil serves geminiModel alone.
func newEnvWith(t *testing.T, gem, cdx map[string]answer, table *models.Table, ids ...int64) *env {
	t.Helper()
	e := &env{gemini: relaytest.NewPool(ids...), codex: relaytest.NewPool(ids...),
		geminiUp: &scripted{answers: gem}, codexUp: &scripted{answers: cdx}}
	gs := httptest.NewServer(e.geminiUp)
	t.Cleanup(gs.Close)
	cs := httptest.NewServer(e.codexUp)
	t.Cleanup(cs.Close)
	gcfg := config.Default().Providers.GeminiCLI
	gcfg.CustomAPIURL = gs.URL
	gclient := geminicli.New(gcfg, gs.Client(), zap.NewNop())
	ccfg := config.Default().Providers.Codex
	ccfg.CustomAPIURL = cs.URL
	ccfg.ModelList = []string{codexModel}
	cclient := codex.New(ccfg, cs.Client(), zap.NewNop())
	ec := echo.New()
	ec.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Response().Header().Set(echo.HeaderXRequestID, "req1")
			return next(c)
		}
	})
	ec.HTTPErrorHandler = func(err error, c echo.Context) {
		var re *relay.Error
		if errors.As(err, &re) {
			_ = answerError(c.Response(), re)
			return
		}
		_ = writeError(c.Response(), 500, newAPIError(500, "internal", ""), 0)
	}
	gpool := Pool{Relay: relay.New(relay.Options{Pool: e.gemini, Upstream: gclient, QueueTimeout: time.Second}), Served: []string{geminiModel}}
	if table != nil {
		gpool.Served = table.Models()
		gpool.Resolve = func(_ echo.Context, name string) (models.Resolution, bool) { return table.Route(name) }
	}
	gr, cr := Routes(Deps{
		Gemini:   gpool,
		Upstream: gclient,
		Codex:    Pool{Relay: relay.New(relay.Options{Pool: e.codex, Upstream: cclient, QueueTimeout: time.Second}), Served: []string{codexModel}},
		Now:      func() time.Time { return time.Unix(1767225600, 0) },
	})
	for _, rt := range gr {
		ec.Add(rt.Method, "/geminicli/v1beta"+rt.Path, rt.Handler)
	}
	for _, rt := range cr {
		ec.Add(rt.Method, "/codex/v1"+rt.Path, rt.Handler)
	}
	e.srv = httptest.NewServer(ec)
	t.Cleanup(e.srv.Close)
	return e
}

// path is the chat/completions path over a pool.
func path(pool string) string {
	if pool == "gemini" {
		return "/geminicli/v1beta/openai/chat/completions"
	}
	return "/codex/v1/chat/completions"
}

func (e *env) post(t *testing.T, pool, body string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path(pool), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(echo.HeaderXRequestID, "req1")
	resp, err := http.DefaultClient.Do(req)
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

func reports(p *relaytest.Pool) []string {
	var out []string
	for _, r := range p.Reports() {
		out = append(out, r.Outcome.Kind.String())
	}
	return out
}

// geminiChunk is one Code Assist stream event around a Gemini response.
func geminiChunk(response string) string {
	return "data: {\"response\":" + response + "}\n\n"
}

// codexEvents is a Responses stream from (name, data) pairs.
func codexEvents(evs ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(evs); i += 2 {
		b.WriteString("event: " + evs[i] + "\ndata: " + evs[i+1] + "\n\n")
	}
	return b.String()
}

// errorEnvelope decodes the OpenAI error envelope the surface answers in.
type errorEnvelope struct {
	Error apiError `json:"error"`
}
