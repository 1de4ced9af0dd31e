package transport

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/transport/gemini"
	"github.com/pollux-gateway/pollux/transport/relay"
	"github.com/pollux-gateway/pollux/transport/responses"
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
		ModelFilter: modelFilter,
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
	geminiOpenAI := responses.NewModels(cfg.GeminiCLI.ModelList, "google", started)
	geminiRoutes = append(geminiRoutes,
		route{http.MethodGet, "/openai/models", responses.ListHandler(geminiOpenAI, modelFilter)},
		route{http.MethodGet, "/openai/models/:id", geminiOpenAI.Get})

	rd := responses.Deps{
		Listed:      cfg.Codex.ModelList,
		Created:     started,
		Admit:       s.admit,
		Record:      s.recordFor(providers.Codex),
		ModelFilter: modelFilter,
		Logger:      s.log,
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
	return geminiRoutes, codexRoutes
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
