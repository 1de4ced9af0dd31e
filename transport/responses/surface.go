package responses

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/codex"
	"github.com/pollux-gateway/pollux/transport/models"
	"github.com/pollux-gateway/pollux/transport/relay"
)

// headerDroppedParams lists the request members Pollux removed because the
// Codex backend rejects them (temperature, max_output_tokens, ...).
const headerDroppedParams = "X-Pollux-Dropped-Params"

// Deps is what the surface needs from the assembly.
type Deps struct {
	// Relay relays to the Codex pool; nil answers 503.
	Relay *relay.Relay
	// Served are the models POST responses accepts; Listed the models GET
	// models shows.
	Served, Listed []string
	// Created is the models' "created" time.
	Created time.Time
	// Admit applies the request's key (model allow-list, limits) once the
	// model is known; its error is the answer. Nil admits everything.
	Admit func(c echo.Context, model string) error
	// Record returns the request's record; nil records nothing.
	Record func(c echo.Context) relay.Record
	// ModelFilter returns the models the request's key may see, or nil
	// when it may see every model. Nil shows every model.
	ModelFilter func(c echo.Context) func(id string) bool
	// Logger receives the surface's debug lines and warnings; nil discards.
	Logger *zap.Logger
	// Resolve resolves a requested model name (a model or an alias) to the
	// model that serves it and its fallback chain; nil serves exactly the
	// Served models, without fallbacks.
	Resolve func(c echo.Context, name string) (models.Resolution, bool)
	// Names, when set, are what GET models lists instead of Listed: the
	// pool's models and aliases, with their chains.
	Names *models.Table
	// Snapshot reads the Codex pool's snapshot for the Codex CLI's usage
	// routes (UsageRoutes); ErrNoPool, or a nil Snapshot, answers 503.
	Snapshot func(ctx context.Context) (*actors.Snapshot, error)
}

// Route is one route of the surface, relative to /codex/v1.
type Route struct {
	Method, Path string
	Handler      echo.HandlerFunc
}

// Routes returns the surface's routes, relative to its prefix (/codex/v1).
func Routes(d Deps) []Route {
	h := &handler{d: d, models: make(map[string]struct{}, len(d.Served)), log: d.Logger}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	for _, m := range d.Served {
		h.models[m] = struct{}{}
	}
	models := NewModels(d.Listed, "openai", d.Created)
	if d.Names != nil {
		models = NewModelsOf(d.Names, "openai", d.Created)
	}
	return []Route{
		{http.MethodGet, "/models", ListHandler(models, d.ModelFilter)},
		{http.MethodGet, "/models/:id", models.Get},
		{http.MethodPost, "/responses", h.responses},
		{http.MethodPost, "/responses/compact", h.compact},
	}
}

// ListHandler serves GET models from m, only the allowed models for a key
// limited to some.
func ListHandler(m *Models, filter func(c echo.Context) func(id string) bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		if filter != nil {
			if allow := filter(c); allow != nil {
				return m.ListAllowed(c, allow)
			}
		}
		return m.List(c)
	}
}

// handler serves the Responses API over the Codex backend.
type handler struct {
	d      Deps
	models map[string]struct{}
	log    *zap.Logger
}

func (h *handler) record(c echo.Context) relay.Record {
	if h.d.Record == nil {
		return relay.Discard
	}
	return h.d.Record(c)
}

func requestID(c echo.Context) string { return c.Response().Header().Get(relay.HeaderRequestID) }

// errUnavailable answers when the process runs without a Codex pool.
func errUnavailable() error {
	return &relay.Error{Kind: relay.KindUnavailable, Message: "the codex provider is not configured"}
}

// bodyMeta is what the handlers read out of a request body.
type bodyMeta struct {
	Model          string `json:"model"`
	PromptCacheKey string `json:"prompt_cache_key"`
}

// responses serves POST /responses, streamed or not as the body's "stream"
// says (never the Accept header: the OpenAI SDK sends application/json even
// when it streams).
func (h *handler) responses(c echo.Context) error {
	if h.d.Relay == nil {
		return errUnavailable()
	}
	body, err := relay.ReadBody(c.Request())
	if err != nil {
		return err
	}
	norm, stream, dropped, err := codex.Normalize(body)
	if err != nil {
		return badBody(c, err)
	}
	if len(dropped) > 0 {
		list := strings.Join(dropped, ",")
		c.Response().Header().Set(headerDroppedParams, list)
		if ce := h.log.Check(zap.DebugLevel, "codex: dropped request params the backend rejects"); ce != nil {
			ce.Write(zap.String("request_id", requestID(c)), zap.String("params", list))
		}
	}
	req, name, ok := h.prepare(c, norm, codex.MethodResponses)
	if !ok {
		return modelNotFound(c, name)
	}
	if err := h.admit(c, name); err != nil {
		return err
	}
	if stream {
		return h.stream(c, req)
	}
	return h.collect(c, req)
}

func (h *handler) admit(c echo.Context, model string) error {
	if h.d.Admit == nil {
		return nil
	}
	return h.d.Admit(c, model)
}

// compact serves POST /responses/compact: the body goes upstream as it came
// and the upstream's JSON answer comes back verbatim.
func (h *handler) compact(c echo.Context) error {
	if h.d.Relay == nil {
		return errUnavailable()
	}
	body, err := relay.ReadBody(c.Request())
	if err != nil {
		return err
	}
	body, err = codex.NormalizeCompact(body)
	if err != nil {
		return badBody(c, err)
	}
	req, name, ok := h.prepare(c, body, codex.MethodCompact)
	if !ok {
		return modelNotFound(c, name)
	}
	if err := h.admit(c, name); err != nil {
		return err
	}
	ctx := c.Request().Context()
	reply, err := h.d.Relay.Do(ctx, req)
	if err != nil {
		return h.failed(c, err)
	}
	defer reply.Finish()
	relay.SetServedModel(c.Response().Header(), reply)
	reply.SetWindows(h.observeRateLimits(req.RequestID, reply.CredentialID(), reply.Resp.Header))
	out, err := io.ReadAll(reply.Resp.Body)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		reply.Settle(providers.Outcome{Kind: providers.KindTransient, Status: reply.Resp.StatusCode, Reason: "body_read_failed"})
		return &relay.Error{Kind: relay.KindUpstream, Message: "the upstream answer broke off", Err: err}
	}
	reply.Settle(providers.Outcome{Kind: providers.KindOK, Status: reply.Resp.StatusCode})
	ct := reply.Resp.Header.Get(echo.HeaderContentType)
	if ct == "" {
		ct = echo.MIMEApplicationJSON
	}
	return c.Blob(reply.Resp.StatusCode, ct, out)
}

// prepare builds the relay request for a valid body. ok is false when the
// model is not served; name is the model the body named (an alias, or the
// model itself).
func (h *handler) prepare(c echo.Context, body []byte, method string) (req relay.Request, name string, ok bool) {
	var meta bodyMeta
	// A mistyped prompt_cache_key only loses the affinity; the model was
	// already checked to be a string.
	_ = json.Unmarshal(body, &meta)
	rec := h.record(c)
	rec.Model(meta.Model)
	res, ok := h.resolve(c, meta.Model)
	if ok && res.Model != meta.Model {
		// The backend reads the model from the body: an alias's model
		// goes there.
		if b, err := codex.WithModel(body, res.Model); err == nil {
			body = b
		}
	}
	hdr := c.Request().Header
	call := &providers.Call{
		Model:  res.Model,
		Method: method,
		Stream: method == codex.MethodResponses,
		Body:   body,
		Header: hdr,
	}
	req = relay.Request{
		Call:      call,
		Affinity:  affinity(hdr, meta.PromptCacheKey),
		RequestID: requestID(c),
		Record:    rec,
		Fallbacks: res.Fallbacks,
	}
	if len(res.Fallbacks) > 0 {
		req.Retarget = func(model string) (*providers.Call, error) {
			b, err := codex.WithModel(call.Body, model)
			if err != nil {
				return nil, err
			}
			next := *call
			next.Model, next.Body = model, b
			return &next, nil
		}
	}
	return req, meta.Model, ok
}

// resolve returns the model and fallbacks that serve the requested name.
func (h *handler) resolve(c echo.Context, name string) (models.Resolution, bool) {
	if h.d.Resolve != nil {
		return h.d.Resolve(c, name)
	}
	_, ok := h.models[name]
	return models.Resolution{Model: name}, ok
}

// modelNotFound answers 404 for a model the surface does not serve.
func modelNotFound(c echo.Context, model string) error {
	return writeAPIError(c.Response(), http.StatusNotFound, codex.APIError{
		Message: fmt.Sprintf("the model %q does not exist or is not served here", model),
		Type:    "invalid_request_error",
		Code:    "model_not_found",
		Param:   "model",
	}, 0)
}

// affinity is the key that keeps a conversation on one account: the Codex
// CLI's session id, else the body's prompt_cache_key.
//
// Long keys are hashed and short ones copied (actors.AffinityKey): the
// scheduler's table keeps nothing of the request.
func affinity(h http.Header, promptCacheKey string) string {
	if v := h.Get("Session_id"); v != "" {
		return actors.AffinityKey(v)
	}
	if v := h.Get("Session-Id"); v != "" {
		return actors.AffinityKey(v)
	}
	if promptCacheKey == "" {
		return ""
	}
	return actors.AffinityKey(promptCacheKey)
}

// stream relays the upstream's events to the client one by one, verbatim,
// once the head of the stream showed no failure another account could
// avoid.
func (h *handler) stream(c echo.Context, req relay.Request) error {
	req.Check = relay.HoldHead(head{}, headLimits)
	ctx := c.Request().Context()
	reply, err := h.d.Relay.Do(ctx, req)
	if err != nil {
		return h.failed(c, err)
	}
	defer reply.Finish()
	relay.SetServedModel(c.Response().Header(), reply)
	reply.SetWindows(h.observeRateLimits(req.RequestID, reply.CredentialID(), reply.Resp.Header))
	sc := &streamCodec{status: reply.Resp.StatusCode}
	if how := h.d.Relay.Stream(ctx, c.Response(), reply, sc); how == nil && sc.terminal {
		h.logUsage(req.RequestID, sc.usage)
	}
	return nil
}

// collect serves a client that did not ask to stream: the upstream stream is
// read to its end before anything is written, so a failure anywhere in it
// may still fail over to another account.
func (h *handler) collect(c echo.Context, req relay.Request) error {
	var col collected
	req.Check = col.check
	reply, err := h.d.Relay.Do(c.Request().Context(), req)
	if err != nil {
		return h.failed(c, err)
	}
	defer reply.Finish()
	relay.SetServedModel(c.Response().Header(), reply)
	reply.SetWindows(h.observeRateLimits(req.RequestID, reply.CredentialID(), reply.Resp.Header))
	if col.failed {
		reply.Settle(*col.info.Failure)
		return writeAPIError(c.Response(), relay.PassThroughStatus(*col.info.Failure, 0), *col.info.Error, relay.RetryAfter(*col.info.Failure))
	}
	if u := col.info.Usage; u != nil {
		reply.SetUsage(relay.Usage{Input: u.InputTokens, Output: u.OutputTokens, Cached: u.CachedTokens, Reasoning: u.ReasoningTokens})
	}
	reply.Settle(providers.Outcome{Kind: providers.KindOK, Status: reply.Resp.StatusCode})
	h.logUsage(req.RequestID, col.info.Usage)
	return c.JSONBlob(http.StatusOK, col.out)
}

// collected is the whole of an upstream stream, read by check before the
// answer is accepted.
type collected struct {
	out    []byte
	info   codex.EventInfo
	failed bool
}

// check reads the whole stream: a retryable failure anywhere in it rejects
// the attempt; a final one is kept to be told (failed).
func (col *collected) check(resp *http.Response) (*http.Response, error) {
	body, inf, err := codex.Collect(resp.Body)
	switch {
	case err == nil:
		col.out, col.info, col.failed = body, inf, false
		return resp, nil
	case errors.Is(err, codex.ErrStreamFailed) && inf.Failure != nil && inf.Error != nil:
		if inf.Failure.Kind.Retryable() {
			return nil, &relay.Rejection{Outcome: *inf.Failure, Err: apiError(*inf.Error)}
		}
		col.info, col.failed = inf, true
		return resp, nil
	}
	return nil, interrupted(resp.StatusCode)
}

// apiError is an upstream error event's fields as an error: what the
// client is told when the attempt it ended is the last.
type apiError codex.APIError

func (e apiError) Error() string { return "codex: " + e.Code + ": " + e.Message }

// failed answers a relay error. An upstream failure is told in the OpenAI
// envelope with the upstream's own error fields (the Codex CLI shows
// resets_at and resets_in_seconds of a usage limit); anything else (all
// credentials cooling, none usable, the client gone) goes to the common
// renderer.
func (h *handler) failed(c echo.Context, err error) error {
	var f *relay.Failure
	if !errors.As(err, &f) {
		return err
	}
	var e codex.APIError
	var told apiError
	switch {
	case len(f.Body) > 0:
		e = codex.ClientError(f.Body)
	case errors.As(f.Err, &told):
		e = codex.APIError(told)
	default:
		e = codex.APIError{Message: "the upstream request failed (" + f.Outcome.Kind.String() + ")", Type: "server_error", Code: "upstream_error"}
	}
	e = withPoolReset(e, f.Outcome, time.Now())
	status := relay.PassThroughStatus(f.Outcome, f.Status)
	if status >= http.StatusInternalServerError {
		h.log.Warn("codex: request failed upstream",
			zap.String("request_id", requestID(c)), zap.Int("status", status),
			zap.Int("upstream_status", f.Status), zap.String("outcome", f.Outcome.Kind.String()),
			zap.String("reason", f.Outcome.Reason), zap.Int("attempts", f.Attempts))
	}
	return writeAPIError(c.Response(), status, e, f.RetryAfter())
}

// badBody answers 400 for a body Normalize refused, naming the member at
// fault when the message does.
func badBody(c echo.Context, err error) error {
	if !errors.Is(err, codex.ErrBadRequestBody) {
		return &relay.Error{Kind: relay.KindInternal, Err: err}
	}
	msg := strings.TrimPrefix(err.Error(), codex.ErrBadRequestBody.Error()+": ")
	var param string
	if rest, ok := strings.CutPrefix(msg, `"`); ok {
		if i := strings.IndexByte(rest, '"'); i > 0 {
			param = rest[:i]
		}
	}
	return writeAPIError(c.Response(), http.StatusBadRequest, codex.APIError{
		Message: msg,
		Type:    "invalid_request_error",
		Code:    "invalid_request",
		Param:   param,
	}, 0)
}
