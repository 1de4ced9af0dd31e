package gemini

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/geminicli"
	"github.com/pollux-gateway/pollux/providers/sse"
	"github.com/pollux-gateway/pollux/transport/models"
	"github.com/pollux-gateway/pollux/transport/relay"
)

// Generate routes, under each version prefix:
//
//	POST models/{model}:generateContent        → the inner "response" object as JSON
//	POST models/{model}:streamGenerateContent  → SSE, one "data: <response>" event each
//	POST models/{model}:countTokens            → {"totalTokens":N}
//
// The client body is checked to be one JSON object and forwarded as is
// (providers.Call.Body): unknown fields, parametersJsonSchema,
// thinkingConfig, functionCall ids and thoughtSignature values reach Code
// Assist byte for byte.
//
// streamGenerateContent always answers SSE, whatever ?alt says. Google
// streams a JSON array when alt is absent, but every SDK and the Gemini CLI
// send alt=sse, and an array cannot carry Pollux's in-band error event.

// replyLimit caps a non-streamed upstream reply held in memory.
const replyLimit = 64 << 20

// contentTypeJSON is the Content-Type of the JSON bodies this surface writes.
const contentTypeJSON = "application/json; charset=utf-8"

// Upstream is what the surface needs of the Code Assist client besides
// the relay: reading its stream events and remembering thought signatures.
// *geminicli.Client implements it.
type Upstream interface {
	TranslateEvent(ev sse.Event) (geminicli.StreamEvent, error)
	RecordSignatures(response []byte)
}

var _ Upstream = (*geminicli.Client)(nil)

// Deps is what the surface needs from the assembly.
type Deps struct {
	// Relay relays to the Gemini CLI pool and Upstream reads its answers;
	// with either nil the generate routes answer 503.
	Relay    *relay.Relay
	Upstream Upstream
	// Served are the models the generate routes accept (bare ids or
	// "models/..."); Listed are the models GET models shows.
	Served, Listed []string
	// Admit applies the request's key (model allow-list, limits) once the
	// model is known; its error is the answer. Nil admits everything.
	Admit func(c echo.Context, model string) error
	// Record returns the request's record; nil records nothing.
	Record func(c echo.Context) relay.Record
	// ModelFilter returns the models the request's key may see, or nil
	// when it may see every model. Nil shows every model.
	ModelFilter func(c echo.Context) func(id string) bool
	// Resolve resolves a requested model name (a model or an alias) to the
	// model that serves it and its fallback chain; nil serves exactly the
	// Served models, without fallbacks.
	Resolve func(c echo.Context, name string) (models.Resolution, bool)
	// Names, when set, are what GET models lists instead of Listed: the
	// pool's models and aliases, with their chains.
	Names *models.Table
}

// Route is one route of the surface, relative to a version prefix.
type Route struct {
	Method, Path string
	Handler      echo.HandlerFunc
}

// Routes returns the surface's routes, relative to each version prefix. The
// doubled "models/models/" form covers clients that put the prefix into
// the model name.
func Routes(d Deps) []Route {
	h := &handler{d: d, models: make(map[string]bool, len(d.Served))}
	for _, id := range d.Served {
		h.models[strings.TrimPrefix(id, "models/")] = true
	}
	models := NewModels(d.Listed)
	if d.Names != nil {
		models = NewModelsOf(d.Names)
	}
	list := func(c echo.Context) error {
		if d.ModelFilter != nil {
			if allow := d.ModelFilter(c); allow != nil {
				return models.ListAllowed(c, allow)
			}
		}
		return models.List(c)
	}
	return []Route{
		{http.MethodGet, "/models", list},
		{http.MethodGet, "/models/:id", models.Get},
		{http.MethodGet, "/models/models/:id", models.Get},
		{http.MethodPost, "/models/:action", h.serve},
		{http.MethodPost, "/models/models/:action", h.serve},
	}
}

// handler serves the generate routes.
type handler struct {
	d Deps
	// models are the served models, bare ids.
	models map[string]bool
}

func (h *handler) record(c echo.Context) relay.Record {
	if h.d.Record == nil {
		return relay.Discard
	}
	return h.d.Record(c)
}

// serve validates a generate request and dispatches it by method.
func (h *handler) serve(c echo.Context) error {
	action := c.Param("action")
	if u, err := url.PathUnescape(action); err == nil {
		action = u
	}
	action = strings.TrimPrefix(action, "models/")
	i := strings.LastIndexByte(action, ':')
	if i < 0 {
		return &relay.Error{Kind: relay.KindNotFound, Message: "unknown method: use models/{model}:generateContent, :streamGenerateContent or :countTokens"}
	}
	model, method := action[:i], action[i+1:]
	rec := h.record(c)
	rec.Model(model)
	switch method {
	case geminicli.MethodGenerate, geminicli.MethodStream, geminicli.MethodCountTokens:
	default:
		return &relay.Error{Kind: relay.KindNotFound, Message: fmt.Sprintf("method %q is not supported: use generateContent, streamGenerateContent or countTokens", method)}
	}
	res, ok := h.resolve(c, model)
	if !ok {
		return &relay.Error{Kind: relay.KindNotFound, Message: fmt.Sprintf("models/%s is not found: this gateway serves only the models that GET models lists", model)}
	}
	if method == geminicli.MethodCountTokens {
		rec.NoUsage()
	}
	if h.d.Admit != nil {
		if err := h.d.Admit(c, model); err != nil {
			return err
		}
	}
	body, err := relay.ReadBody(c.Request())
	if err != nil {
		return err
	}
	if err := checkBody(method, body); err != nil {
		return err
	}
	if h.d.Relay == nil || h.d.Upstream == nil {
		return &relay.Error{Kind: relay.KindUnavailable, Message: "the Gemini CLI pool is not configured"}
	}
	req := relay.Request{
		Call:      &providers.Call{Model: res.Model, Method: method, Stream: method == geminicli.MethodStream, Body: body},
		Affinity:  sessionAffinity(body),
		RequestID: c.Response().Header().Get(relay.HeaderRequestID),
		Record:    rec,
		// The body names no model: a fallback is the same call on another
		// model's path.
		Fallbacks: res.Fallbacks,
	}
	switch method {
	case geminicli.MethodStream:
		return h.stream(c, req)
	case geminicli.MethodCountTokens:
		return h.unary(c, req, geminicli.UnwrapCountTokens)
	}
	return h.unary(c, req, geminicli.UnwrapResponse)
}

// resolve returns the model and fallbacks that serve the requested name.
func (h *handler) resolve(c echo.Context, name string) (models.Resolution, bool) {
	if h.d.Resolve != nil {
		return h.d.Resolve(c, name)
	}
	return models.Resolution{Model: name}, h.models[name]
}

// unary serves generateContent and countTokens: relay, read the whole
// reply, unwrap it, answer JSON.
func (h *handler) unary(c echo.Context, req relay.Request, unwrap func([]byte) ([]byte, error)) error {
	ctx := c.Request().Context()
	reply, err := h.d.Relay.Do(ctx, req)
	if err != nil {
		return failure(c, err)
	}
	defer reply.Finish()
	relay.SetServedModel(c.Response().Header(), reply)
	status := reply.Resp.StatusCode
	raw, err := io.ReadAll(io.LimitReader(reply.Resp.Body, replyLimit+1))
	switch {
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		reply.Settle(providers.Outcome{Kind: providers.KindTransient, Status: status, Reason: "reply_cut"})
		return &relay.Error{Kind: relay.KindUpstream, Message: "the upstream reply was cut short", Err: err}
	case len(raw) > replyLimit:
		// The credential served; the reply is only too big for us.
		reply.Settle(providers.Outcome{Kind: providers.KindOK, Status: status})
		return &relay.Error{Kind: relay.KindUpstream, Message: fmt.Sprintf("the upstream reply is larger than %d bytes", replyLimit)}
	}
	inner, err := unwrap(raw)
	if err != nil {
		reply.Settle(providers.Outcome{Kind: providers.KindTransient, Status: status, Reason: "bad_envelope"})
		return &relay.Error{Kind: relay.KindUpstream, Message: "the upstream reply was not a valid Code Assist response", Err: err}
	}
	if req.Call.Method == geminicli.MethodGenerate {
		h.d.Upstream.RecordSignatures(inner)
		if u := replyUsage(inner); u != nil {
			reply.SetUsage(relay.Usage{Input: u.Prompt, Output: u.Candidates + u.Thoughts, Cached: u.Cached, Reasoning: u.Thoughts})
		}
	}
	reply.Settle(providers.Outcome{Kind: providers.KindOK, Status: status})
	return c.Blob(http.StatusOK, contentTypeJSON, inner)
}

// stream serves streamGenerateContent: every upstream event is unwrapped and
// relayed as "data: <response>" at once. A failure after the headers ends
// the stream with one in-band error event in Google's shape.
func (h *handler) stream(c echo.Context, req relay.Request) error {
	reply, err := h.d.Relay.Do(c.Request().Context(), req)
	if err != nil {
		return failure(c, err)
	}
	defer reply.Finish()
	relay.SetServedModel(c.Response().Header(), reply)
	codec := &streamCodec{up: h.d.Upstream, status: reply.Resp.StatusCode}
	if how := h.d.Relay.Stream(c.Request().Context(), c.Response(), reply, codec); errors.Is(how, relay.ErrClientGone) {
		// The 200 is on the wire; the access log still records 499.
		c.Response().Status = relay.StatusClientClosed
	}
	return nil
}

// failure turns a relay error into the client's answer. A client error from
// Code Assist is passed through as Google wrote it (it is already a Gemini
// error envelope with the upstream's own message); every other upstream
// failure is rendered by the error map.
func failure(c echo.Context, err error) error {
	var f *relay.Failure
	if !errors.As(err, &f) {
		return err
	}
	if f.Outcome.Kind == providers.KindBadRequest && isGoogleErrorBody(f.Body) {
		return c.Blob(f.Status, contentTypeJSON, f.Body)
	}
	return &relay.Error{Kind: f.Kind(), Message: failureMessage(f), RetryAfter: f.RetryAfter(), Err: f}
}

// failureMessage describes an upstream failure without any upstream text.
func failureMessage(f *relay.Failure) string {
	reason := f.Outcome.Reason
	if reason == "" {
		reason = f.Outcome.Kind.String()
	}
	if f.Outcome.Status == 0 {
		return fmt.Sprintf("upstream unreachable (%s) and no other credential could take the request", reason)
	}
	return fmt.Sprintf("upstream answered %d (%s) and no other credential could take the request", f.Outcome.Status, reason)
}
