package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/actors/keyring"
	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers/codex"
	"github.com/pollux-gateway/pollux/providers/geminicli"
	"github.com/pollux-gateway/pollux/transport/models"
	"github.com/pollux-gateway/pollux/transport/operations"
	"github.com/pollux-gateway/pollux/transport/signin"
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
	// AccessLog, when set, receives the access log instead of Logger: the
	// process gives it a buffered writer (one write a second, not one per
	// request) that it flushes when it stops.
	AccessLog *zap.Logger
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
	// Keys are the member keys (teamkeys.go); nil serves the operator key
	// only and counts no per-key usage.
	Keys KeyStore
}

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
	// bodyReadBase is the fixed part of a body's read deadline; tests
	// lower it.
	bodyReadBase time.Duration
	// ending closes when a shutdown's drain deadline is near: the streams
	// still open send their terminal error event and end.
	ending    chan struct{}
	endStream sync.Once
	// guard bounds the connections without accepted work (connguard.go).
	guard *connGuard

	geminiPool Pool
	gemini     *geminicli.Client
	codexPool  Pool
	codex      *codex.Client
	// geminiAPI and codexAPI are the API surfaces' routes (surfaces.go),
	// relative to their prefixes.
	geminiAPI, codexAPI []route
	// messagesAPI are the Anthropic Messages surface's routes, full paths
	// (surfaces.go).
	messagesAPI []route
	// rootAPI are the root's routes (the one base URL, rootapi.go), full
	// paths; router picks their pools, and rootServes lists, per
	// provider, the root routes that reach it (for error messages).
	rootAPI    []route
	router     *modelRouter
	rootServes map[string][]string

	// signin serves the sign-in routes; EnableOAuth turns them on.
	signin *signin.API

	// access maps each mounted route to its group; filled by routes,
	// read-only after New.
	access map[routeID]access
	// adminKey, when set, is the only key of the operator routes.
	adminKey      config.Secret
	metricsPublic bool
	metrics       *metrics
	// modelLists maps each provider to its model_list (bare ids).
	modelLists map[string][]string
	// modelTables maps each provider to its model names: models, aliases
	// and fallback chains (modelnames.go).
	modelTables map[string]*models.Table
	logLevel    zap.AtomicLevel

	// accessLogger writes the access log lines (Deps.AccessLog, else log).
	accessLogger *zap.Logger

	// Member keys (teamkeys.go); nil without Deps.Keys.
	keys           KeyStore
	ring           *keyring.Ring
	operatorDigest [32]byte
	hasOperator    bool
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
		log:          log,
		accessLogger: log,
		key:          deps.Config.Basic.PolluxKey,
		ready:        deps.Ready,
		echo:         echo.New(),
		bodyLimit:    defaultBodyLimit,
		bodyReadBase: bodyReadBase,
		geminiPool:   deps.GeminiPool,
		gemini:       deps.Gemini,
		codexPool:    deps.CodexPool,
		codex:        deps.Codex,
		access:       make(map[routeID]access),
		ending:       make(chan struct{}),
	}
	if deps.AccessLog != nil {
		s.accessLogger = deps.AccessLog.Named("transport")
	}
	s.adminKey, s.metricsPublic = deps.Config.Basic.AdminKey, deps.Config.Basic.MetricsPublic
	s.logLevel = deps.LogLevel
	s.modelLists = modelListsOf(providers)
	s.modelTables = modelTablesOf(providers)
	s.initKeys(deps.Keys)
	reg := deps.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	s.metrics = newMetrics(reg, log, s.modelLists, newPoolCollector(s))
	s.geminiAPI, s.codexAPI = s.buildSurfaces(deps, started)
	s.messagesAPI = s.buildMessages(deps, started)
	s.rootAPI = s.buildRoot(started)
	if deps.Gemini != nil {
		if err := reg.Register(newSignatureCollector(deps.Gemini.SignatureStats)); err != nil {
			log.Warn("metrics: thought-signature collector not registered", zap.Error(err))
		}
	}
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
	// recoverPanics, assignRequestID, accessLog, requireKey, limitBody.
	e.Use(s.front)
	s.routes()

	errLog, err := zap.NewStdLogAt(log.Named("http"), zapcore.WarnLevel)
	if err != nil {
		errLog = zap.NewStdLog(log.Named("http"))
	}
	s.guard = newConnGuard(maxUnsettledConns)
	s.http = &http.Server{
		Handler:           e,
		ConnContext:       s.guard.connContext,
		ConnState:         s.guard.connState,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          errLog,
	}
	// Shutdown cancels the device sign-ins still polling.
	s.http.RegisterOnShutdown(s.signin.StopDevices)
	return s
}

// route is one entry of a route table.
type route struct {
	method  string
	path    string
	handler echo.HandlerFunc
}

// routes mounts every route in its access group: who may call a route is
// decided here, where it is mounted, and nowhere else. Each part of the
// gateway mounts its routes through the group function it is handed; a
// route joins the group of the line that mounts it.
//
//   - open: no key. Health, the status page's shell, and the sign-in
//     callbacks, which a browser reaches from the provider's redirect (the
//     signed flow cookie guards them).
//   - client: the Pollux key or a member key. The model APIs and /v1/me.
//   - operator: the admin key when one is set (the Pollux key is then
//     refused), else the Pollux key. Everything that changes or reveals the
//     pool: adding credentials, the sign-ins, the admin API.
//   - monitor: the Pollux key or the admin key, or none with
//     metrics_public. /metrics.
//
// A path under /geminicli or /codex, or under the root's /v1 or /v1beta,
// that matches no route is treated as client (requireKey), so a wrong path
// without a key answers 401, not 404.
func (s *Server) routes() {
	open, client, operator := s.group(accessOpen), s.group(accessClient), s.group(accessOperator)
	monitor := s.group(accessMonitor)
	if s.metricsPublic {
		monitor = open
	}

	// The root's own routes; uptime checkers may use HEAD.
	openWithHead := withHead(open)
	openWithHead(http.MethodGet, "/healthz", s.healthz)
	openWithHead(http.MethodGet, "/readyz", s.readyz)
	monitor(http.MethodGet, "/metrics", s.serveMetrics)

	// The client surfaces, one line each.
	s.mountGemini(client)                // Gemini v1beta (transport/gemini)
	s.mountCodex(client)                 // OpenAI Responses (transport/responses)
	s.mountRoutes(client, s.messagesAPI) // Anthropic Messages over both pools (transport/messages)
	s.mountRoutes(client, s.rootAPI)     // the same surfaces at the root, routed by model (rootapi.go)

	// Sign-in: the starts are the operator's, the callbacks open.
	s.signin = signin.New(s.signinDeps())
	s.signin.MountOperator(operator)
	s.signin.MountOpen(open)

	// Operations: admin API, member keys, resource:add, status page.
	ops := operations.New(s.operationsDeps())
	ops.MountOperator(operator)
	ops.MountClient(client)
	ops.MountOpen(openWithHead)
}

// addRoute mounts one route (full path) in the access group it was made
// for (Server.group).
type addRoute = func(method, path string, h echo.HandlerFunc)

// group returns the function that mounts routes in access group a.
func (s *Server) group(a access) addRoute {
	return func(method, path string, h echo.HandlerFunc) {
		r := s.echo.Add(method, path, h)
		s.access[routeID{r.Method, r.Path}] = a
	}
}

// mountRoutes mounts a route table (full paths) with add.
func (s *Server) mountRoutes(add addRoute, routes []route) {
	for _, rt := range routes {
		add(rt.method, rt.path, rt.handler)
	}
}

// mountGemini mounts the Gemini surface under both of its version
// prefixes.
func (s *Server) mountGemini(add addRoute) {
	for _, prefix := range []string{geminiV1Beta, geminiV1} {
		for _, rt := range s.geminiRoutes() {
			add(rt.method, prefix+rt.path, rt.handler)
		}
	}
}

// mountCodex mounts the OpenAI Responses surface and the Codex CLI's usage
// routes.
func (s *Server) mountCodex(add addRoute) {
	for _, rt := range s.codexRoutes() {
		add(rt.method, codexV1+rt.path, rt.handler)
	}
	s.mountRoutes(add, s.codexUsageRoutes())
}

// withHead makes add mount a HEAD route beside each GET route: uptime
// checkers use HEAD, which net/http answers with the GET's status and
// headers and no body.
func withHead(add addRoute) addRoute {
	return func(method, path string, h echo.HandlerFunc) {
		add(method, path, h)
		if method == http.MethodGet {
			add(http.MethodHead, path, h)
		}
	}
}

// access is a route group: the keys its routes accept.
type access uint8

const (
	accessOpen access = iota + 1
	accessClient
	accessOperator
	accessMonitor
)

// keys returns the key set of the group; guarded is false for open.
func (a access) keys() (set keySet, guarded bool) {
	switch a {
	case accessClient:
		return keysClient, true
	case accessOperator:
		return keysAdmin, true
	case accessMonitor:
		return keysOperator, true
	}
	return 0, false
}

// routeID identifies a route by method and path template, as Echo reports
// them for a matched request (a struct key: the lookup allocates nothing).
type routeID struct{ method, path string }

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

// streamEndGrace is how long before the drain deadline the streams still
// open are told to end (at most a quarter of the drain): time to write
// their terminal error events.
const streamEndGrace = 2 * time.Second

// Shutdown stops accepting connections and waits for in-flight requests
// until ctx ends. Shortly before ctx's deadline the streams still open send
// their surface's terminal error event and end; whatever is open at the
// deadline is closed, and ctx's error reported.
func (s *Server) Shutdown(ctx context.Context) error {
	dctx := ctx
	if dl, ok := ctx.Deadline(); ok {
		grace := min(streamEndGrace, time.Until(dl)/4)
		var cancel context.CancelFunc
		dctx, cancel = context.WithDeadline(ctx, dl.Add(-grace))
		defer cancel()
	}
	err := s.http.Shutdown(dctx)
	if err == nil {
		return nil
	}
	s.EndStreams()
	if ctx.Err() == nil {
		if err = s.http.Shutdown(ctx); err == nil {
			return nil
		}
	}
	return errors.Join(fmt.Errorf("transport: graceful shutdown: %w", err), s.http.Close())
}

// EndStreams makes every open stream send its terminal error event and end
// (Shutdown calls it before its deadline; a second signal calls it at once).
func (s *Server) EndStreams() { s.endStream.Do(func() { close(s.ending) }) }
