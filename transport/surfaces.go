package transport

import (
	"context"
	"net/http"
	"net/netip"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/transport/chat"
	"github.com/pollux-gateway/pollux/transport/gemini"
	"github.com/pollux-gateway/pollux/transport/messages"
	"github.com/pollux-gateway/pollux/transport/operations"
	"github.com/pollux-gateway/pollux/transport/relay"
	"github.com/pollux-gateway/pollux/transport/responses"
	"github.com/pollux-gateway/pollux/transport/signin"
)

// Pool is what the server needs of one provider's credential pool: the
// relay's three methods, and what the operations routes use. *actors.Pool
// implements it.
type Pool interface {
	relay.Pool
	QueueTimeout() time.Duration
	Ingest(ctx context.Context, seeds []providers.Credential) (*actors.IngestStarted, error)
	Job(ctx context.Context, id string, wait bool) (*actors.JobStatus, error)
}

// buildSurfaces builds the API surfaces from deps and returns their
// routes: the Gemini surface's relative to each of its version prefixes,
// the OpenAI Responses surface's relative to /codex/v1. Each surface gets
// its Deps here, and nothing of the server.
func (s *Server) buildSurfaces(deps Deps, started time.Time) (geminiRoutes, codexRoutes []route) {
	cfg := deps.Config.Providers
	gd := gemini.Deps{
		Listed:      cfg.GeminiCLI.ModelList,
		Admit:       s.admit,
		Record:      s.recordFor(providers.GeminiCLI),
		ModelFilter: s.listFilter(providers.GeminiCLI),
		Resolve:     s.resolver(providers.GeminiCLI),
		Names:       s.modelTables[providers.GeminiCLI],
	}
	if deps.Gemini != nil {
		gd.Upstream, gd.Served = deps.Gemini, deps.Gemini.Models()
		if deps.GeminiPool != nil {
			gd.Relay = s.newRelay(deps, deps.GeminiPool, deps.Gemini)
		}
	}
	for _, rt := range gemini.Routes(gd) {
		geminiRoutes = append(geminiRoutes, route{rt.Method, rt.Path, rt.Handler})
	}
	// The Gemini surface's OpenAI-style model list (for OpenAI clients
	// pointed at the Gemini prefix).
	geminiOpenAI := responses.NewModelsOf(s.modelTables[providers.GeminiCLI], "google", started)
	geminiRoutes = append(geminiRoutes,
		route{http.MethodGet, "/openai/models", responses.ListHandler(geminiOpenAI, gd.ModelFilter)},
		route{http.MethodGet, "/openai/models/:id", geminiOpenAI.Get})

	rd := responses.Deps{
		Listed:      cfg.Codex.ModelList,
		Created:     started,
		Admit:       s.admit,
		Record:      s.recordFor(providers.Codex),
		ModelFilter: s.listFilter(providers.Codex),
		Logger:      s.log,
		Resolve:     s.resolver(providers.Codex),
		Names:       s.modelTables[providers.Codex],
	}
	if deps.Codex != nil {
		rd.Served = deps.Codex.Models()
		if deps.CodexPool != nil {
			rd.Relay = s.newRelay(deps, deps.CodexPool, deps.Codex)
		}
	}
	for _, rt := range responses.Routes(rd) {
		codexRoutes = append(codexRoutes, route{rt.Method, rt.Path, rt.Handler})
	}

	// OpenAI Chat Completions over both pools (transport/chat): beside the
	// Gemini surface's OpenAI-style model list, and under /codex/v1.
	chatGemini, chatCodex := chat.Routes(chat.Deps{
		Gemini:   chat.Pool{Relay: gd.Relay, Served: gd.Served, Record: gd.Record, Resolve: gd.Resolve},
		Upstream: gd.Upstream,
		Codex:    chat.Pool{Relay: rd.Relay, Served: rd.Served, Record: rd.Record, Resolve: rd.Resolve},
		Admit:    s.admit,
		Logger:   s.log,
	})
	for _, rt := range chatGemini {
		geminiRoutes = append(geminiRoutes, route{rt.Method, rt.Path, rt.Handler})
	}
	for _, rt := range chatCodex {
		codexRoutes = append(codexRoutes, route{rt.Method, rt.Path, rt.Handler})
	}
	return geminiRoutes, codexRoutes
}

// buildMessages builds the Anthropic Messages surface over each configured
// pool (/geminicli/v1/messages, /codex/v1/messages) and makes the pools'
// GET models answer in Anthropic's format to a caller that sends
// anthropic-version. Call after buildSurfaces.
func (s *Server) buildMessages(deps Deps, started time.Time) []route {
	var out []route
	mount := func(prefix, provider string, md messages.Deps, native []route) {
		for _, rt := range messages.Routes(md) {
			out = append(out, route{rt.Method, prefix + rt.Path, rt.Handler})
		}
		// The pool's own model list stays what it was for its own
		// clients; wrapped here, it is mounted where it always was.
		models := messages.NewModelsOf(s.modelTables[provider], started)
		var list, get echo.HandlerFunc
		for _, rt := range native {
			switch {
			case rt.method == http.MethodGet && rt.path == "/models":
				list = rt.handler
			case rt.method == http.MethodGet && rt.path == "/models/:id":
				get = rt.handler
			}
		}
		if list == nil || get == nil {
			return
		}
		list, get = models.Negotiate(list, get, s.listFilter(provider))
		for i, rt := range native {
			switch {
			case rt.method == http.MethodGet && rt.path == "/models":
				native[i].handler = list
			case rt.method == http.MethodGet && rt.path == "/models/:id":
				native[i].handler = get
			}
		}
	}
	gm := messages.Deps{Pool: messages.PoolGemini, Admit: s.admit, Record: s.recordFor(providers.GeminiCLI), Logger: s.log,
		Resolve: s.resolver(providers.GeminiCLI)}
	if deps.Gemini != nil {
		gm.Gemini, gm.Served = deps.Gemini, deps.Gemini.Models()
		if deps.GeminiPool != nil {
			gm.Relay = s.newRelay(deps, deps.GeminiPool, deps.Gemini)
		}
	}
	mount(geminiV1, providers.GeminiCLI, gm, s.geminiAPI)
	cm := messages.Deps{Pool: messages.PoolCodex, Admit: s.admit, Record: s.recordFor(providers.Codex), Logger: s.log,
		Resolve: s.resolver(providers.Codex)}
	if deps.Codex != nil {
		cm.Served = deps.Codex.Models()
		if deps.CodexPool != nil {
			cm.Relay = s.newRelay(deps, deps.CodexPool, deps.Codex)
		}
	}
	mount(codexV1, providers.Codex, cm, s.codexAPI)
	return out
}

// geminiRoutes is the Gemini surface's route table, relative to each of its
// version prefixes.
func (s *Server) geminiRoutes() []route { return s.geminiAPI }

// codexRoutes is the OpenAI Responses surface's route table, relative to
// /codex/v1.
func (s *Server) codexRoutes() []route { return s.codexAPI }

// newRelay is the relay to one provider.
func (s *Server) newRelay(deps Deps, pool Pool, up providers.Upstream) *relay.Relay {
	return relay.New(relay.Options{
		Pool: pool, Upstream: up, QueueTimeout: pool.QueueTimeout(),
		FirstByteTimeout: deps.FirstByteTimeout, KeepAlive: deps.KeepAlive,
		Ending: s.ending, Logger: s.log,
	})
}

// modelFilter is the model allow-list of the request's member key, nil
// when it may see every model.
func modelFilter(c echo.Context) func(string) bool {
	if info := requestInfoOf(c); info != nil && info.team.key != nil && len(info.team.key.Models) > 0 {
		return info.team.key.AllowsModel
	}
	return nil
}

// recordFor returns the request records of a provider's surface: the
// request's access-log record and the provider's series.
func (s *Server) recordFor(provider string) func(echo.Context) relay.Record {
	pm := s.metrics.provider(provider)
	return func(c echo.Context) relay.Record {
		return &requestRecord{info: requestInfoOf(c), pm: pm}
	}
}

// requestRecord is relay.Record over a request's info and its provider's
// metrics; both may be nil.
type requestRecord struct {
	info *requestInfo
	pm   *providerMetrics
}

func (r *requestRecord) Model(model string) { r.info.setModel(model) }
func (r *requestRecord) NoUsage()           { r.info.expectNoUsage() }
func (r *requestRecord) Attempted(credentialID int64, n int, pick string) {
	r.info.attempted(credentialID, n)
	if pick != "" {
		r.info.picked(pick)
	}
}
func (r *requestRecord) Outcome(k providers.Kind)   { r.info.setOutcome(k) }
func (r *requestRecord) Answered(d time.Duration)   { r.pm.upstreamAnswered(d) }
func (r *requestRecord) FirstByte(at time.Time)     { r.info.firstByte(at) }
func (r *requestRecord) FirstEvent(d time.Duration) { r.pm.firstEvent(d) }
func (r *requestRecord) Failover(k providers.Kind)  { r.pm.failover(k) }
func (r *requestRecord) Usage(u relay.Usage) {
	r.info.noteUsage(u.Input, u.Output, u.Cached, u.Reasoning)
}
func (r *requestRecord) Tokens(model string, input, output int64) {
	r.pm.addTokens(r.info.keyName(), model, input, output)
}
func (r *requestRecord) FellBack(model, fallback string) { r.pm.fellBack(model, fallback) }
func (r *requestRecord) Served(model string)             { r.info.setServed(model) }

// What each part mounted in routes gets of the server: its Deps, built
// from the server's own fields.

// operationsDeps is what the operations routes get of the server.
func (s *Server) operationsDeps() operations.Deps {
	d := operations.Deps{
		Logger:     s.log,
		Pools:      s.poolList,
		ModelLists: s.acceptedNames(),
		LogLevel:   s.logLevel,
		ReadBody:   readBody,
		RequestID:  requestID,
		Caller:     s.caller,
		Keys:       s.keys, // nil without member keys
	}
	return d
}

// poolList returns the configured pools, geminicli first. It reads the
// pools per call: tests may set them after New.
func (s *Server) poolList() []operations.Pool {
	out := make([]operations.Pool, 0, 2)
	for _, p := range [...]struct {
		name string
		pool Pool
	}{{providers.GeminiCLI, s.geminiPool}, {providers.Codex, s.codexPool}} {
		if p.pool == nil {
			continue
		}
		ap, _ := p.pool.(operations.AdminPool)
		out = append(out, operations.Pool{Name: p.name, Ingest: p.pool, Admin: ap, Models: s.modelLists[p.name],
			Names: s.modelTables[p.name]})
	}
	return out
}

// signinDeps is what the sign-in routes get of the server.
func (s *Server) signinDeps() signin.Deps {
	d := signin.Deps{
		Logger:    s.log,
		RequestID: requestID,
		Pool: func(provider string) signin.Ingester {
			for _, p := range s.poolList() {
				if p.Name == provider {
					return p.Ingest
				}
			}
			return nil
		},
	}
	d.Devices = func() signin.DevicePoller {
		if p, ok := s.codexPool.(signin.DevicePoller); ok && s.codexPool != nil {
			return p
		}
		return nil
	}
	// A nil client stays a nil interface: the provider is not configured.
	if s.gemini != nil {
		d.Gemini = s.gemini
	}
	if s.codex != nil {
		d.Codex = s.codex
	}
	return d
}

// SettingsStore persists small server settings (the OAuth cookie signing
// key).
type SettingsStore = signin.SettingsStore

// OAuthOptions tunes the browser flows.
type OAuthOptions struct {
	// InsecureCookie never marks the flow cookies Secure
	// ([basic].insecure_cookie). Without it they are Secure exactly when
	// the request came over HTTPS.
	InsecureCookie bool
	// TrustedProxies are the peers whose X-Forwarded-Proto is believed
	// ([basic].trusted_proxies).
	TrustedProxies []netip.Prefix

	// now and devicePollInterval are the tests' clock and device polling
	// pace.
	now                func() time.Time
	devicePollInterval time.Duration
}

// EnableOAuth turns on the sign-in flows (package signin); call before
// serving. It loads the cookie signing key from store, creating and saving
// a random one on first use.
func (s *Server) EnableOAuth(ctx context.Context, store SettingsStore, opts OAuthOptions) error {
	return s.signin.Enable(ctx, store, signin.Options{
		InsecureCookie: opts.InsecureCookie, TrustedProxies: opts.TrustedProxies,
		Now: opts.now, DevicePollInterval: opts.devicePollInterval,
	})
}

// bodyLimitOf is the body limit of the request's route: the paste page's
// form is small.
func (s *Server) bodyLimitOf(c echo.Context) int64 {
	if c.Path() == signin.PastePath && c.Request().Method == http.MethodPost {
		return min(signin.PasteBodyLimit, s.bodyLimit)
	}
	return s.bodyLimit
}

// codexUsageRoutes is the Codex CLI's usage routes (package responses),
// full paths under /codex: client routes, mounted with the surface.
func (s *Server) codexUsageRoutes() []route {
	var out []route
	for _, rt := range responses.UsageRoutes(responses.Deps{Snapshot: s.codexSnapshot}) {
		out = append(out, route{rt.Method, openAIRoot + rt.Path, rt.Handler})
	}
	return out
}

// codexSnapshot reads the Codex pool's snapshot, looking the pool up per
// call (tests may set it after New).
func (s *Server) codexSnapshot(ctx context.Context) (*actors.Snapshot, error) {
	for _, p := range s.poolList() {
		if p.Name == providers.Codex && p.Admin != nil {
			return p.Admin.Snapshot(ctx)
		}
	}
	return nil, responses.ErrNoPool
}
