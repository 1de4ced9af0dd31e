package responses

import (
	"encoding/json"
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
	"github.com/pollux-gateway/pollux/transport/models"
	"github.com/pollux-gateway/pollux/transport/relay"
	"github.com/pollux-gateway/pollux/transport/relay/relaytest"
)

// echoBackend answers every call with a completed stream naming the
// body's model, and keeps the models asked for.
type echoBackend struct {
	mu     sync.Mutex
	models []string
}

func (b *echoBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct{ Model string }
	_ = json.NewDecoder(r.Body).Decode(&body)
	b.mu.Lock()
	b.models = append(b.models, body.Model)
	b.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream")
	_, _ = io.WriteString(w, event("response.created", `{"type":"response.created","response":{"id":"resp_1","model":"`+body.Model+`"}}`)+
		event("response.completed", `{"type":"response.completed","response":{"id":"resp_1","model":"`+body.Model+`","output":[],"usage":{"input_tokens":1,"output_tokens":1}}}`))
}

// TestAliasAndFallback: an alias's model goes into the body the backend
// reads; while every credential for it cools beyond the request's
// patience, the fallback's body goes instead; the client's answer and
// X-Pollux-Model name the model that served.
func TestAliasAndFallback(t *testing.T) {
	pool := relaytest.NewPool(1)
	back := &echoBackend{}
	up := httptest.NewServer(back)
	t.Cleanup(up.Close)
	cfg := config.Default().Providers.Codex
	cfg.CustomAPIURL = up.URL
	client := codex.New(cfg, up.Client(), zap.NewNop())
	table := models.New([]string{"gpt-5.2-codex", "gpt-5.2"}, map[string]string{"codex": "gpt-5.2-codex"},
		map[string][]string{"gpt-5.2-codex": {"gpt-5.2"}})
	e := echo.New()
	for _, rt := range Routes(Deps{
		Relay:   relay.New(relay.Options{Pool: pool, Upstream: client, QueueTimeout: time.Second}),
		Served:  table.Models(),
		Resolve: func(_ echo.Context, name string) (models.Resolution, bool) { return table.Route(name) },
		Names:   table,
	}) {
		e.Add(rt.Method, "/v1"+rt.Path, rt.Handler)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	post := func(stream bool) (http.Header, string) {
		t.Helper()
		body := `{"model":"codex","input":"hi","stream":` + map[bool]string{true: "true", false: "false"}[stream] + `}`
		resp, err := http.Post(srv.URL+"/v1/responses", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		return resp.Header, string(b)
	}

	hdr, body := post(false)
	if got := hdr.Get(relay.HeaderServedModel); got != "gpt-5.2-codex" || !strings.Contains(body, `"model":"gpt-5.2-codex"`) {
		t.Errorf("alias: %s=%q body %s; want gpt-5.2-codex in both", relay.HeaderServedModel, got, body)
	}

	pool.CoolModel("gpt-5.2-codex", time.Now().Add(time.Hour))
	for _, stream := range []bool{false, true} {
		hdr, body = post(stream)
		if got := hdr.Get(relay.HeaderServedModel); got != "gpt-5.2" || !strings.Contains(body, `"model":"gpt-5.2"`) {
			t.Errorf("fallback (stream %v): %s=%q body %s; want gpt-5.2 in both", stream, relay.HeaderServedModel, got, body)
		}
	}
	back.mu.Lock()
	got := strings.Join(back.models, ",")
	back.mu.Unlock()
	if got != "gpt-5.2-codex,gpt-5.2,gpt-5.2" {
		t.Errorf("backend asked for %s, want gpt-5.2-codex,gpt-5.2,gpt-5.2", got)
	}

	// GET models lists the alias with its model and the chain.
	resp, err := http.Get(srv.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	list, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`{"id":"gpt-5.2-codex","object":"model","created":`,
		`"owned_by":"openai","fallbacks":["gpt-5.2"]}`,
		`{"id":"codex","object":"model","created":`,
		`"owned_by":"openai","alias_of":"gpt-5.2-codex","fallbacks":["gpt-5.2"]}`,
	} {
		if !strings.Contains(string(list), want) {
			t.Errorf("models list lacks %s:\n%s", want, list)
		}
	}
}
