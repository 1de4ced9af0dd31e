package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers/codex"
	"github.com/pollux-gateway/pollux/providers/geminicli"
	"github.com/pollux-gateway/pollux/transport/gemini"
	"github.com/pollux-gateway/pollux/transport/openai"
)

// Limits of the HTTP server. There is deliberately no write timeout: a
// streamed answer may run for many minutes.
const (
	defaultBodyLimit  = 50 << 20
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 1 << 20
)

// Route prefixes of the API surfaces. The Gemini surface is served under both
// versions from one route table: the Gen AI SDK 3.x defaults to v1.
const (
	geminiV1Beta = geminiRoot + "/v1beta"
	geminiV1     = geminiRoot + "/v1"
	codexV1      = openAIRoot + "/v1"
)

// Deps is what the server needs from the rest of the process.
type Deps struct {
	// Config supplies the client key ([basic].pollux_key) and the model
	// lists of the providers.
	Config config.Config
	// Logger receives the access log and server errors; nil discards them.
	Logger *zap.Logger
	// Ready reports whether the process can serve (database reachable, actor
	// system up). Its error text is shown by /readyz, so it must hold no
	// secrets. Nil means always ready.
	Ready func(ctx context.Context) error

	// GeminiPool and Gemini serve the Gemini surface's generate routes;
	// CodexPool and Codex the OpenAI surface's. A nil pool answers 503.
	GeminiPool Pool
	Gemini     *geminicli.Client
	CodexPool  Pool
	Codex      *codex.Client

	// KeepAlive is the interval of SSE keep-alive comments while an upstream
	// is silent; default 15 s (the Codex CLI gives up after 300 s).
	KeepAlive time.Duration
	// FirstByteTimeout bounds the wait for an upstream's response headers;
	// default 5 min (a non-streamed generation arrives all at once).
	FirstByteTimeout time.Duration

	// Metrics is the registry GET /metrics serves; New registers its
	// collectors there. Nil means a fresh registry of the server's own
	// (never Prometheus's global one).
	Metrics *prometheus.Registry
	// LogLevel is the level of Logger, changed at run time through POST
	// /admin/v1/loglevel. The zero value makes the level fixed.
	LogLevel zap.AtomicLevel
}

// Defaults of the streaming knobs.
const (
	defaultKeepAlive        = 15 * time.Second
	defaultFirstByteTimeout = 5 * time.Minute
)

// Server is Pollux's HTTP server: an Echo instance with the middleware chain
// and routes, behind an http.Server with stream-friendly timeouts.
type Server struct {
	log   *zap.Logger
	key   config.Secret
	ready func(ctx context.Context) error
	echo  *echo.Echo
	http  *http.Server

	// bodyLimit caps request bodies in bytes; tests lower it.
	bodyLimit int64

	geminiPool       Pool
	gemini           *geminicli.Client
	codexPool        Pool
	codex            *codex.Client
	keepAlive        time.Duration
	firstByteTimeout time.Duration

	geminiModels       *gemini.Models
	geminiOpenAIModels *openai.Models
	codexModels        *openai.Models
	oauth              *oauthFlows

	// adminKey, when set, is the only key of the admin API.
	adminKey      config.Secret
	metricsPublic bool
	metrics       *metrics
	// modelLists maps each provider to its model_list (bare ids).
	modelLists map[string][]string
	logLevel   zap.AtomicLevel
	levelSet   bool
}

// New builds the server and its routes; it does not listen yet.
func New(deps Deps) *Server {
	log := deps.Logger
	if log == nil {
		log = zap.NewNop()
	}
	log = log.Named("transport")
	started := time.Now()
	providers := deps.Config.Providers

	s := &Server{
		log:                log,
		key:                deps.Config.Basic.PolluxKey,
		ready:              deps.Ready,
		echo:               echo.New(),
		bodyLimit:          defaultBodyLimit,
		geminiModels:       gemini.NewModels(providers.GeminiCLI.ModelList),
		geminiOpenAIModels: openai.NewModels(providers.GeminiCLI.ModelList, "google", started),
		codexModels:        openai.NewModels(providers.Codex.ModelList, "openai", started),
		geminiPool:         deps.GeminiPool,
		gemini:             deps.Gemini,
		codexPool:          deps.CodexPool,
		codex:              deps.Codex,
		keepAlive:          deps.KeepAlive,
		firstByteTimeout:   deps.FirstByteTimeout,
	}
	if s.keepAlive <= 0 {
		s.keepAlive = defaultKeepAlive
	}
	if s.firstByteTimeout <= 0 {
		s.firstByteTimeout = defaultFirstByteTimeout
	}
	s.adminKey, s.metricsPublic = deps.Config.Basic.AdminKey, deps.Config.Basic.MetricsPublic
	s.logLevel, s.levelSet = deps.LogLevel, deps.LogLevel != (zap.AtomicLevel{})
	s.modelLists = modelListsOf(providers)
	reg := deps.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	s.metrics = newMetrics(reg, log, s.modelLists, newPoolCollector(s))
	for _, p := range []Pool{s.geminiPool, s.codexPool} {
		if o, ok := p.(interface{ SetObserver(actors.Observer) }); ok {
			o.SetObserver(s.metrics)
		}
	}

	e := s.echo
	e.HideBanner = true
	e.HidePort = true
	e.Logger.SetOutput(io.Discard)
	// Log the peer address, not a client-supplied X-Forwarded-For.
	e.IPExtractor = echo.ExtractIPDirect()
	e.HTTPErrorHandler = s.handleError
	// Outermost first.
	e.Use(s.recoverPanics, s.assignRequestID, s.accessLog, s.limitBody, s.requireKey)
	s.routes()

	errLog, err := zap.NewStdLogAt(log.Named("http"), zapcore.WarnLevel)
	if err != nil {
		errLog = zap.NewStdLog(log.Named("http"))
	}
	s.http = &http.Server{
		Handler:           e,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          errLog,
	}
	return s
}

// route is one entry of a route table.
type route struct {
	method  string
	path    string
	handler echo.HandlerFunc
}

// geminiRoutes is the Gemini surface's route table, relative to each of its
// version prefixes.
func (s *Server) geminiRoutes() []route {
	return append([]route{
		{http.MethodGet, "/models", s.geminiModels.List},
		{http.MethodGet, "/models/:id", s.geminiModels.Get},
		{http.MethodGet, "/models/models/:id", s.geminiModels.Get},
		{http.MethodGet, "/openai/models", s.geminiOpenAIModels.List},
		{http.MethodGet, "/openai/models/:id", s.geminiOpenAIModels.Get},
	}, s.geminiAPIRoutes()...)
}

// codexRoutes is the OpenAI surface's route table, relative to /codex/v1.
func (s *Server) codexRoutes() []route {
	return append([]route{
		{http.MethodGet, "/models", s.codexModels.List},
		{http.MethodGet, "/models/:id", s.codexModels.Get},
	}, s.codexAPIRoutes()...)
}

// routes registers every route. Anything under /geminicli or /codex needs
// the key (requireKey decides by path, so new routes there are guarded
// without further wiring).
func (s *Server) routes() {
	e := s.echo
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	for _, prefix := range []string{geminiV1Beta, geminiV1} {
		for _, rt := range s.geminiRoutes() {
			e.Add(rt.method, prefix+rt.path, rt.handler)
		}
	}
	for _, rt := range s.codexRoutes() {
		e.Add(rt.method, codexV1+rt.path, rt.handler)
	}
	// Routes outside the versioned API prefixes: ingestion, the OAuth
	// browser flows, the admin API and the status page (full paths).
	for _, rt := range slices.Concat(s.ingestRoutes(), s.oauthRoutes(), s.adminRoutes(), s.statusRoutes(), s.poolUsageRoutes()) {
		e.Add(rt.method, rt.path, rt.handler)
	}
}

// handleError is Echo's HTTPErrorHandler: it renders every error, including
// Echo's own 404 and 405, in the surface's envelope.
func (s *Server) handleError(err error, c echo.Context) {
	p := problemOf(err)
	if p.status >= http.StatusInternalServerError {
		s.log.Warn("request failed",
			zap.String(keyRequestID, requestID(c)),
			zap.Int(keyStatus, p.status),
			zap.Error(err),
		)
	}
	if c.Response().Committed {
		// Too late for an envelope; the stream writer ends the body itself.
		return
	}
	if werr := writeError(c, err); werr != nil {
		s.log.Debug("write error response", zap.String(keyRequestID, requestID(c)), zap.Error(werr))
	}
}

// Handler returns the Echo instance as an http.Handler.
func (s *Server) Handler() http.Handler { return s.echo }

// Echo returns the Echo instance, for route registration inside transport.
func (s *Server) Echo() *echo.Echo { return s.echo }

// Serve accepts connections on ln until Shutdown. It returns nil once
// Shutdown has begun; Shutdown's own return says when the drain ended.
func (s *Server) Serve(ln net.Listener) error {
	s.log.Info("serving", zap.String("addr", ln.Addr().String()))
	if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("transport: serve: %w", err)
	}
	return nil
}

// Shutdown stops accepting connections and waits for in-flight requests
// until ctx ends; then it closes the connections still open and reports
// ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if err == nil {
		return nil
	}
	return errors.Join(fmt.Errorf("transport: graceful shutdown: %w", err), s.http.Close())
}
