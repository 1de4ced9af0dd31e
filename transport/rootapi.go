package transport

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/transport/gemini"
	"github.com/pollux-gateway/pollux/transport/messages"
	"github.com/pollux-gateway/pollux/transport/models"
	"github.com/pollux-gateway/pollux/transport/openaierr"
	"github.com/pollux-gateway/pollux/transport/relay"
	"github.com/pollux-gateway/pollux/transport/responses"
)

// The one base URL: the client surfaces again at the root, so a team gives
// its members one URL and one key. Each request goes to the pool that
// serves its model:
//
//	POST /v1/chat/completions                  OpenAI Chat Completions  geminicli, codex
//	POST /v1/messages                          Anthropic Messages       geminicli, codex
//	POST /v1/messages/count_tokens             Anthropic Messages       geminicli, codex
//	POST /v1/responses, /v1/responses/compact  OpenAI Responses         codex
//	POST /v1beta/models/{model}:{method}       Gemini v1beta            geminicli
//	POST /v1/models/{model}:{method}           the same (the Gen AI SDK 3.x default version)
//	GET  /v1/models, /v1/models/{id}           every pool's models: Anthropic's format when
//	                                           anthropic-version is sent, else OpenAI's
//	GET  /v1beta/models, /v1beta/models/{id}   the Gemini pool's models, Gemini's format
//
// The root only routes. It reads the body once (under the server's body
// limit), finds the model (peekModel: the body's top-level "model"; the
// path's on the Gemini routes), asks poolForModel which pool serves it on
// this route, checks the key may use that pool's surface, puts the body
// back (relay.Reread: no second read, no copy) and calls the pool's own
// handler, the one mounted under /geminicli or /codex. Everything after
// that is the pool surface's: the key's model allow-list and limits, body
// checks, failover, streams, and the access log and metrics under the
// pool's provider.
//
// A model no pool serves is a 404, a model only a pool that does not speak
// the route's format serves (a Codex model at /v1beta, a Gemini model at
// /v1/responses) a 400 naming the routes that do serve it; both in the
// caller's envelope (rootFormatOf).

// Prefixes of the root's API routes.
const (
	rootV1     = "/v1"
	rootV1Beta = "/v1beta"
)

// isRootAPI reports whether path lies under the root's API prefixes.
func isRootAPI(path string) bool {
	return hasPathPrefix(path, rootV1) || hasPathPrefix(path, rootV1Beta)
}

// rootRoute is a root route served by model: the handler of each pool's
// own surface for it.
type rootRoute struct {
	s *Server
	// handlers maps a provider to its surface's handler; a pool without
	// one does not speak the route's format.
	handlers map[string]echo.HandlerFunc
	// speaks reports whether handlers has the provider (poolForModel's
	// filter, built once).
	speaks func(provider string) bool
	// api names the route's client API in error messages.
	api string
}

func newRootRoute(s *Server, api string, handlers map[string]echo.HandlerFunc) *rootRoute {
	for p, h := range handlers {
		if h == nil {
			delete(handlers, p)
		}
	}
	r := &rootRoute{s: s, handlers: handlers, api: api}
	r.speaks = func(p string) bool { return r.handlers[p] != nil }
	return r
}

// serveBody routes a request by its body's top-level "model".
func (rr *rootRoute) serveBody(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	model, err := peekModel(body)
	if err != nil {
		return &Error{Kind: KindInvalidArgument, Message: err.Error()}
	}
	relay.Reread(c.Request(), body)
	return rr.route(c, model)
}

// serveGemini routes a Gemini generate request by its path's model
// (models/{model}:{method}). A path without a method goes to the Gemini
// pool's handler, which names the methods it serves.
func (rr *rootRoute) serveGemini(c echo.Context) error {
	action := c.Param("action")
	if u, err := url.PathUnescape(action); err == nil {
		action = u
	}
	action = strings.TrimPrefix(action, "models/")
	i := strings.LastIndexByte(action, ':')
	if i < 0 {
		if h := rr.handlers[providers.GeminiCLI]; h != nil {
			if err := rr.s.routeTo(c, providers.GeminiCLI); err != nil {
				return err
			}
			return h(c)
		}
		return &Error{Kind: KindNotFound, Message: "unknown method: use models/{model}:generateContent, :streamGenerateContent or :countTokens"}
	}
	return rr.route(c, action[:i])
}

// route hands the request to the pool poolForModel picks, or answers why
// none can take it.
func (rr *rootRoute) route(c echo.Context, model string) error {
	provider, servedBy, ok := rr.s.router.poolForModel(model, rr.speaks)
	if !ok {
		requestInfoOf(c).setModel(model)
		return rr.s.unroutable(c, rr.api, model, servedBy)
	}
	if err := rr.s.routeTo(c, provider); err != nil {
		return err
	}
	return rr.handlers[provider](c)
}

// routeTo makes the request the pool's: its access log and metrics count
// under the pool's provider, and a member key must be allowed that pool's
// surface (as on the pool's own prefix, where requireKey checks it).
func (s *Server) routeTo(c echo.Context, provider string) error {
	info := requestInfoOf(c)
	if info == nil {
		return nil
	}
	info.routed = surfaceOfProvider(provider)
	if k := info.team.key; k != nil && !k.AllowsSurface(provider) {
		return surfaceDenied(k, provider)
	}
	return nil
}

// unroutable answers a model the route cannot take: 404 when no pool
// serves it, else 400 naming the root routes that reach its pools.
func (s *Server) unroutable(c echo.Context, api, model string, servedBy []string) error {
	f := rootFormatOf(c.Request())
	if len(servedBy) == 0 {
		msg := fmt.Sprintf("the model %q is not served by this gateway: GET /v1/models lists every model it serves", model)
		if f == formatGemini {
			msg = fmt.Sprintf("models/%s is not found: GET /v1beta/models lists the Gemini models, GET /v1/models every model this gateway serves", strings.TrimPrefix(model, "models/"))
		}
		return writeRootError(c.Response(), f, http.StatusNotFound, msg, 0, "model_not_found")
	}
	var where []string
	for _, p := range servedBy {
		where = append(where, fmt.Sprintf("the %s pool (%s)", p, strings.Join(s.rootServes[p], ", ")))
	}
	msg := fmt.Sprintf("the model %q is served by %s, not by %s at this path", model, strings.Join(where, " and "), api)
	return writeRootError(c.Response(), f, http.StatusBadRequest, msg, 0, "model_not_supported")
}

// rootFormat is the client format of a root path: its error envelope.
type rootFormat uint8

const (
	formatOpenAI rootFormat = iota
	formatAnthropic
	formatGemini
)

// rootFormatOf returns the error envelope of a request to a root path:
// Gemini's under /v1beta and for the Gemini generate routes under /v1,
// Anthropic's on the Messages routes and for any other /v1 request that
// carries anthropic-version (GET /v1/models from Claude Code), OpenAI's
// otherwise.
func rootFormatOf(r *http.Request) rootFormat {
	path := echo.GetPath(r)
	switch {
	case hasPathPrefix(path, rootV1Beta),
		r.Method == http.MethodPost && hasPathPrefix(path, rootV1+"/models"):
		return formatGemini
	case messages.IsPath(path):
		return formatAnthropic
	case hasPathPrefix(path, rootV1+"/chat"), hasPathPrefix(path, rootV1+"/responses"):
		return formatOpenAI
	case r.Header.Get(messages.HeaderVersion) != "":
		return formatAnthropic
	}
	return formatOpenAI
}

// writeRootError answers in envelope f. code is the OpenAI error code
// ("" derives it from the status); the other envelopes derive their
// types from the status.
func writeRootError(w http.ResponseWriter, f rootFormat, status int, message string, retryAfterSecs int, code string) error {
	switch f {
	case formatAnthropic:
		return messages.WriteError(w, status, message, retryAfterSecs)
	case formatGemini:
		return gemini.WriteError(w, status, message, retryAfterSecs)
	case formatOpenAI:
	}
	if code == "" {
		return responses.WriteError(w, status, message, retryAfterSecs)
	}
	o := openaierr.New(status, message, code, "model")
	o.Type = "invalid_request_error" // as OpenAI types an unknown model
	return openaierr.Write(w, status, openaierr.Encode(o), retryAfterSecs)
}

// buildRoot builds the root's routes from the pools' own route tables;
// call after buildSurfaces and buildMessages.
func (s *Server) buildRoot(started time.Time) []route {
	// Aliases route as their models do: alias names are unique across the
	// pools (config.Validate), and the pool's surface resolves them.
	s.router = newModelRouter(s.acceptedNames())
	find := func(routes []route, method, path string) echo.HandlerFunc {
		for _, rt := range routes {
			if rt.method == method && rt.path == path {
				return rt.handler
			}
		}
		return nil
	}
	post := http.MethodPost
	var out []route
	s.rootServes = map[string][]string{}
	byBody := func(path, api string, handlers map[string]echo.HandlerFunc) {
		rr := newRootRoute(s, api, handlers)
		out = append(out, route{post, path, rr.serveBody})
		for p := range rr.handlers {
			s.rootServes[p] = append(s.rootServes[p], "POST "+path)
		}
	}
	byBody(rootV1+"/chat/completions", "the OpenAI Chat Completions API", map[string]echo.HandlerFunc{
		providers.GeminiCLI: find(s.geminiAPI, post, "/openai/chat/completions"),
		providers.Codex:     find(s.codexAPI, post, "/chat/completions"),
	})
	for _, path := range []string{"/messages", "/messages/count_tokens"} {
		byBody(rootV1+path, "the Anthropic Messages API", map[string]echo.HandlerFunc{
			providers.GeminiCLI: find(s.messagesAPI, post, geminiV1+path),
			providers.Codex:     find(s.messagesAPI, post, codexV1+path),
		})
	}
	for _, path := range []string{"/responses", "/responses/compact"} {
		byBody(rootV1+path, "the OpenAI Responses API", map[string]echo.HandlerFunc{
			providers.Codex: find(s.codexAPI, post, path),
		})
	}

	// Gemini v1beta: generate routes by the path's model, under /v1beta
	// and /v1 (POST only: GET /v1/models is the list of every pool); the
	// model list under /v1beta only.
	toGemini := func(h echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := s.routeTo(c, providers.GeminiCLI); err != nil {
				return err
			}
			return h(c)
		}
	}
	for _, rt := range s.geminiAPI {
		switch {
		case rt.method == post && strings.HasPrefix(rt.path, "/models/"):
			rr := newRootRoute(s, "the Gemini API", map[string]echo.HandlerFunc{providers.GeminiCLI: rt.handler})
			out = append(out, route{post, rootV1Beta + rt.path, rr.serveGemini}, route{post, rootV1 + rt.path, rr.serveGemini})
			if rt.path == "/models/:action" {
				s.rootServes[providers.GeminiCLI] = append(s.rootServes[providers.GeminiCLI], "POST "+rootV1Beta+"/models/{model}:generateContent")
			}
		case rt.method == http.MethodGet && strings.HasPrefix(rt.path, "/models"):
			out = append(out, route{rt.method, rootV1Beta + rt.path, toGemini(rt.handler)})
		}
	}

	// GET /v1/models: every pool's models and aliases, in the caller's
	// format.
	gt, ct := s.modelTables[providers.GeminiCLI], s.modelTables[providers.Codex]
	openAI := responses.Join(
		responses.NewModelsOf(gt, "google", started),
		responses.NewModelsOf(ct, "openai", started))
	list, get := messages.NewModelsOf(models.Join(gt, ct), started).Negotiate(
		responses.ListHandler(openAI, s.rootModelFilter), openAI.Get, s.rootModelFilter)
	out = append(out, route{http.MethodGet, rootV1 + "/models", list}, route{http.MethodGet, rootV1 + "/models/:id", get})
	return out
}

// rootModelFilter is the models a member key may see in the root's list:
// those its model allow-list names, served by a pool whose surface it may
// use; nil for a key that may see every model.
func (s *Server) rootModelFilter(c echo.Context) func(string) bool {
	info := requestInfoOf(c)
	if info == nil || info.team.key == nil {
		return nil
	}
	k := info.team.key
	return func(id string) bool {
		if !k.AllowsModel(id) && !s.aliasAllowed(k, id) {
			return false
		}
		_, _, ok := s.router.poolForModel(id, k.AllowsSurface)
		return ok
	}
}
