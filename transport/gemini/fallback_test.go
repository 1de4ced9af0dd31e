package gemini

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
	"github.com/pollux-gateway/pollux/providers/geminicli"
	"github.com/pollux-gateway/pollux/transport/models"
	"github.com/pollux-gateway/pollux/transport/relay"
	"github.com/pollux-gateway/pollux/transport/relay/relaytest"
)

// echoCodeAssist answers every call with one candidate whose modelVersion
// is the envelope's model, and keeps the models asked for.
type echoCodeAssist struct {
	mu     sync.Mutex
	models []string
}

func (u *echoCodeAssist) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var env struct{ Model string }
	_ = json.NewDecoder(r.Body).Decode(&env)
	u.mu.Lock()
	u.models = append(u.models, env.Model)
	u.mu.Unlock()
	inner := `{"candidates":[{"content":{"role":"model","parts":[{"text":"hi"}]},"finishReason":"STOP"}],"modelVersion":"` + env.Model + `"}`
	if strings.HasSuffix(r.URL.Path, geminicli.MethodStream) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {\"response\":"+inner+"}\n\n")
		return
	}
	_, _ = io.WriteString(w, `{"response":`+inner+`}`)
}

// TestAliasAndFallback: an alias in the path is served by its model; while
// every credential for the model cools beyond the request's patience, the
// chain's next model serves; the answer's modelVersion and X-Pollux-Model
// name the model that served, and GET models describes the alias.
func TestAliasAndFallback(t *testing.T) {
	pool := relaytest.NewPool(1)
	up := &echoCodeAssist{}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	cfg := config.Default().Providers.GeminiCLI
	cfg.CustomAPIURL = srv.URL
	client := geminicli.New(cfg, srv.Client(), zap.NewNop())
	table := models.New([]string{"gemini-2.5-pro", "gemini-2.5-flash"}, map[string]string{"smart": "gemini-2.5-pro"},
		map[string][]string{"gemini-2.5-pro": {"gemini-2.5-flash"}})
	e := echo.New()
	for _, rt := range Routes(Deps{
		Relay:    relay.New(relay.Options{Pool: pool, Upstream: client, QueueTimeout: time.Second}),
		Upstream: client,
		Served:   table.Models(),
		Resolve:  func(_ echo.Context, name string) (models.Resolution, bool) { return table.Route(name) },
		Names:    table,
	}) {
		e.Add(rt.Method, "/v1beta"+rt.Path, rt.Handler)
	}
	gw := httptest.NewServer(e)
	t.Cleanup(gw.Close)
	post := func(method string) (http.Header, string) {
		t.Helper()
		resp, err := http.Post(gw.URL+"/v1beta/models/smart:"+method, "application/json",
			strings.NewReader(`{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d: %s", method, resp.StatusCode, b)
		}
		return resp.Header, string(b)
	}

	hdr, body := post(geminicli.MethodGenerate)
	if hdr.Get(relay.HeaderServedModel) != "gemini-2.5-pro" || !strings.Contains(body, `"modelVersion":"gemini-2.5-pro"`) {
		t.Errorf("alias: %s=%q %s; want gemini-2.5-pro", relay.HeaderServedModel, hdr.Get(relay.HeaderServedModel), body)
	}
	pool.CoolModel("gemini-2.5-pro", time.Now().Add(time.Hour))
	for _, method := range []string{geminicli.MethodGenerate, geminicli.MethodStream} {
		hdr, body = post(method)
		if hdr.Get(relay.HeaderServedModel) != "gemini-2.5-flash" || !strings.Contains(body, `"modelVersion":"gemini-2.5-flash"`) {
			t.Errorf("fallback (%s): %s=%q %s; want gemini-2.5-flash", method, relay.HeaderServedModel, hdr.Get(relay.HeaderServedModel), body)
		}
	}
	up.mu.Lock()
	asked := strings.Join(up.models, ",")
	up.mu.Unlock()
	if asked != "gemini-2.5-pro,gemini-2.5-flash,gemini-2.5-flash" {
		t.Errorf("upstream asked for %s", asked)
	}

	resp, err := http.Get(gw.URL + "/v1beta/models/smart")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m struct{ Name, Version, DisplayName, Description string }
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	if m.Name != "models/smart" || m.Version != "gemini-2.5-pro" || m.DisplayName != "smart (gemini-2.5-pro)" ||
		!strings.Contains(m.Description, "Alias of the Gemini model gemini-2.5-pro") || !strings.Contains(m.Description, "gemini-2.5-flash serves instead") {
		t.Errorf("GET models/smart = %+v", m)
	}
}
