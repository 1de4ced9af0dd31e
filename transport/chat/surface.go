package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/codex"
	"github.com/pollux-gateway/pollux/providers/geminicli"
	"github.com/pollux-gateway/pollux/providers/sse"
	"github.com/pollux-gateway/pollux/transport/models"
	"github.com/pollux-gateway/pollux/transport/openaierr"
	"github.com/pollux-gateway/pollux/transport/relay"
)

// HeaderDroppedParams lists the request members Pollux did not send to the
// pool, comma-separated.
const HeaderDroppedParams = "X-Pollux-Dropped-Params"

// replyLimit caps a non-streamed Gemini reply held in memory.
const replyLimit = 64 << 20

// GeminiUpstream is what the surface needs of the Code Assist client besides
// the relay. *geminicli.Client implements it.
type GeminiUpstream interface {
	TranslateEvent(ev sse.Event) (geminicli.StreamEvent, error)
	RecordSignatures(response []byte)
}

var _ GeminiUpstream = (*geminicli.Client)(nil)

// Pool is one pool the surface serves.
type Pool struct {
	// Relay relays to the pool; nil answers 503.
	Relay *relay.Relay
	// Served are the models the pool accepts (bare ids or "models/...").
	Served []string
	// Record returns the request's record; nil records nothing.
	Record func(c echo.Context) relay.Record
	// Resolve resolves a requested model name (a model or an alias) to the
	// model that serves it and its fallback chain; nil serves exactly the
	// Served models, without fallbacks.
	Resolve func(c echo.Context, name string) (models.Resolution, bool)
}

// Deps is what the surface needs from the assembly.
type Deps struct {
	// Gemini is the Gemini CLI pool and Upstream its client (needed with a
	// Gemini relay); Codex the Codex pool.
	Gemini   Pool
	Upstream GeminiUpstream
	Codex    Pool
	// Admit applies the request's key (model allow-list, limits) once the
	// model is known; its error is the answer. Nil admits everything.
	Admit func(c echo.Context, model string) error
	// Logger receives the surface's warnings; nil discards.
	Logger *zap.Logger
	// Now is the clock of the "created" times; nil is time.Now.
	Now func() time.Time
}

// Route is one route of the surface.
type Route struct {
	Method, Path string
	Handler      echo.HandlerFunc
}

// Routes returns the surface's routes: over the Gemini pool relative to
// each Gemini version prefix (/openai/chat/completions), over the Codex
// pool relative to /codex/v1 (/chat/completions).
func Routes(d Deps) (gemini, codexRoutes []Route) {
	if d.Logger == nil {
		d.Logger = zap.NewNop()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	g := &handler{d: d, pool: d.Gemini, provider: providers.GeminiCLI, models: served(d.Gemini.Served)}
	c := &handler{d: d, pool: d.Codex, provider: providers.Codex, models: served(d.Codex.Served)}
	return []Route{{http.MethodPost, "/openai/chat/completions", g.serve}},
		[]Route{{http.MethodPost, "/chat/completions", c.serve}}
}

func served(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[strings.TrimPrefix(id, "models/")] = true
	}
	return m
}

// handler serves chat/completions over one pool.
type handler struct {
	d        Deps
	pool     Pool
	provider string
	models   map[string]bool
}

func requestID(c echo.Context) string { return c.Response().Header().Get(relay.HeaderRequestID) }

// call is one request in flight.
type call struct {
	c       echo.Context
	req     *request
	relay   relay.Request
	id      string
	created int64
}

func (h *handler) serve(c echo.Context) error {
	w := c.Response()
	body, err := relay.ReadBody(c.Request())
	if err != nil {
		return err
	}
	r, err := parseRequest(body)
	if err != nil {
		return answerError(w, err)
	}
	model := strings.TrimPrefix(r.Model, "models/")
	rec := relay.Discard
	if h.pool.Record != nil {
		rec = h.pool.Record(c)
	}
	rec.Model(model)
	res, ok := h.resolve(c, model)
	if !ok {
		e := newAPIError(http.StatusNotFound, fmt.Sprintf("the model %q does not exist or is not served here", r.Model), "model")
		e.Code = openaierr.Nullable("model_not_found")
		return writeError(w, http.StatusNotFound, e, 0)
	}
	if h.d.Admit != nil {
		if err := h.d.Admit(c, model); err != nil {
			return err
		}
	}
	r.Model = res.Model
	dropped := slices.Clone(r.dropped)
	if h.provider == providers.Codex {
		dropped = append(dropped, codexDropped(r)...)
	} else if r.Verbosity != "" {
		dropped = append(dropped, "verbosity")
	}
	pc, err := h.upstreamCall(r)
	if err != nil {
		return answerError(w, err)
	}
	if len(dropped) > 0 {
		w.Header().Set(HeaderDroppedParams, strings.Join(dropped, ","))
	}
	if h.pool.Relay == nil || (h.provider == providers.GeminiCLI && h.d.Upstream == nil) {
		return answerError(w, &relay.Error{Kind: relay.KindUnavailable, Message: "the " + h.provider + " pool is not configured"})
	}
	reqID := requestID(c)
	k := &call{c: c, req: r, id: "chatcmpl-" + reqID, created: h.d.Now().Unix(),
		relay: relay.Request{Call: pc, Affinity: affinity(r), RequestID: reqID, Record: rec, Fallbacks: res.Fallbacks}}
	if len(res.Fallbacks) > 0 {
		k.relay.Retarget = func(model string) (*providers.Call, error) {
			// The translation depends on the model (Gemini's thinking
			// levels): the fallback's call is built anew.
			fr := *r
			fr.Model = model
			return h.upstreamCall(&fr)
		}
	}
	if reqID == "" {
		k.id = "chatcmpl-pollux"
	}
	switch {
	case h.provider == providers.Codex && r.Stream:
		return h.codexStream(k)
	case h.provider == providers.Codex:
		return h.codexUnary(k)
	case r.Stream:
		return h.geminiStream(k)
	}
	return h.geminiUnary(k)
}

// resolve returns the model and fallbacks that serve the requested name.
func (h *handler) resolve(c echo.Context, name string) (models.Resolution, bool) {
	if h.pool.Resolve != nil {
		return h.pool.Resolve(c, name)
	}
	return models.Resolution{Model: name}, h.models[name]
}

// upstreamCall translates r into the pool's upstream call for r.Model.
func (h *handler) upstreamCall(r *request) (*providers.Call, error) {
	if h.provider == providers.Codex {
		body, err := toResponses(r)
		if err != nil {
			return nil, err
		}
		return &providers.Call{Model: r.Model, Method: codex.MethodResponses, Stream: true, Header: http.Header{}, Body: body}, nil
	}
	body, err := toGemini(r)
	if err != nil {
		return nil, err
	}
	pc := &providers.Call{Model: r.Model, Method: geminicli.MethodGenerate, Stream: r.Stream, Body: body}
	if r.Stream {
		pc.Method = geminicli.MethodStream
	}
	return pc, nil
}

// affinity keeps a conversation on one credential when the client names
// it (prompt_cache_key, else user).
func affinity(r *request) string {
	switch {
	case r.PromptCacheKey != "":
		return actors.AffinityKey(r.PromptCacheKey)
	case r.User != "":
		return actors.AffinityKey(r.User)
	}
	return ""
}

func (h *handler) geminiUnary(k *call) error {
	ctx := k.c.Request().Context()
	reply, err := h.pool.Relay.Do(ctx, k.relay)
	if err != nil {
		return h.failed(k.c, err)
	}
	defer reply.Finish()
	relay.SetServedModel(k.c.Response().Header(), reply)
	status := reply.Resp.StatusCode
	raw, err := io.ReadAll(io.LimitReader(reply.Resp.Body, replyLimit+1))
	switch {
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		reply.Settle(providers.Outcome{Kind: providers.KindTransient, Status: status, Reason: "reply_cut"})
		return answerError(k.c.Response(), &relay.Error{Kind: relay.KindUpstream, Message: "the upstream reply was cut short"})
	case len(raw) > replyLimit:
		reply.Settle(providers.Outcome{Kind: providers.KindOK, Status: status})
		return answerError(k.c.Response(), &relay.Error{Kind: relay.KindUpstream, Message: "the upstream reply is too large"})
	}
	inner, err := geminicli.UnwrapResponse(raw)
	if err != nil {
		reply.Settle(providers.Outcome{Kind: providers.KindTransient, Status: status, Reason: "bad_envelope"})
		return answerError(k.c.Response(), &relay.Error{Kind: relay.KindUpstream, Message: "the upstream reply was not a valid Code Assist response"})
	}
	h.d.Upstream.RecordSignatures(inner)
	out, u, err := geminiCompletion(inner, k.id, reply.Model(), k.created)
	if err != nil {
		reply.Settle(providers.Outcome{Kind: providers.KindTransient, Status: status, Reason: "bad_response"})
		return answerError(k.c.Response(), &relay.Error{Kind: relay.KindUpstream, Message: "the upstream reply was not a valid Gemini response"})
	}
	if u != nil {
		reply.SetUsage(relayUsage(u))
	}
	reply.Settle(providers.Outcome{Kind: providers.KindOK, Status: status})
	return k.c.Blob(http.StatusOK, contentTypeJSON, out)
}

func relayUsage(u *usage) relay.Usage {
	return relay.Usage{Input: u.PromptTokens, Output: u.CompletionTokens,
		Cached: u.PromptTokensDetails.CachedTokens, Reasoning: u.CompletionTokensDetails.ReasoningTokens}
}

func (h *handler) geminiStream(k *call) error {
	k.relay.Check = relay.HoldHead(geminiHead{}, headLimits)
	ctx := k.c.Request().Context()
	reply, err := h.pool.Relay.Do(ctx, k.relay)
	if err != nil {
		return h.failed(k.c, err)
	}
	defer reply.Finish()
	relay.SetServedModel(k.c.Response().Header(), reply)
	ch := &chunker{id: k.id, model: reply.Model(), created: k.created}
	codec := &geminiCodec{up: h.d.Upstream, status: reply.Resp.StatusCode, chunks: ch,
		stream: geminiStream{chunks: ch}, includeUsage: k.req.includeUsage()}
	return h.pump(k, reply, codec)
}

func (h *handler) pump(k *call, reply *relay.Reply, codec relay.Codec) error {
	if how := h.pool.Relay.Stream(k.c.Request().Context(), k.c.Response(), reply, codec); errors.Is(how, relay.ErrClientGone) {
		k.c.Response().Status = relay.StatusClientClosed
	}
	return nil
}

func (h *handler) codexStream(k *call) error {
	k.relay.Check = relay.HoldHead(codexHead{}, headLimits)
	ctx := k.c.Request().Context()
	reply, err := h.pool.Relay.Do(ctx, k.relay)
	if err != nil {
		return h.failed(k.c, err)
	}
	defer reply.Finish()
	reply.SetWindows(rateLimits(reply.Resp.Header))
	relay.SetServedModel(k.c.Response().Header(), reply)
	ch := &chunker{id: k.id, model: reply.Model(), created: k.created}
	codec := &codexCodec{status: reply.Resp.StatusCode, chunks: ch, stream: codexStream{chunks: ch},
		includeUsage: k.req.includeUsage()}
	return h.pump(k, reply, codec)
}

func rateLimits(hdr http.Header) []providers.QuotaWindow {
	if rl, ok := codex.ParseRateLimits(hdr); ok {
		return rl.Windows()
	}
	return nil
}

// codexUnary reads the whole upstream stream before answering, so a
// failure anywhere in it may still fail over.
func (h *handler) codexUnary(k *call) error {
	var col collected
	k.relay.Check = col.check
	reply, err := h.pool.Relay.Do(k.c.Request().Context(), k.relay)
	if err != nil {
		return h.failed(k.c, err)
	}
	defer reply.Finish()
	reply.SetWindows(rateLimits(reply.Resp.Header))
	relay.SetServedModel(k.c.Response().Header(), reply)
	if col.failed {
		reply.Settle(*col.info.Failure)
		status := relay.PassThroughStatus(*col.info.Failure, 0)
		return writeError(k.c.Response(), status, fromCodex(status, *col.info.Error),
			relay.RetryAfterSecs(status, relay.RetryAfter(*col.info.Failure)))
	}
	out, u, err := codexCompletion(col.out, k.id, reply.Model(), k.created)
	if err != nil {
		reply.Settle(providers.Outcome{Kind: providers.KindTransient, Status: reply.Resp.StatusCode, Reason: "bad_response"})
		return answerError(k.c.Response(), &relay.Error{Kind: relay.KindUpstream, Message: "the upstream reply was not a valid response"})
	}
	if u != nil {
		reply.SetUsage(relayUsage(u))
	}
	reply.Settle(providers.Outcome{Kind: providers.KindOK, Status: reply.Resp.StatusCode})
	return k.c.Blob(http.StatusOK, contentTypeJSON, out)
}

// collected is the whole of an upstream Responses stream.
type collected struct {
	out    []byte
	info   codex.EventInfo
	failed bool
}

func (col *collected) check(resp *http.Response) (*http.Response, error) {
	body, inf, err := codex.Collect(resp.Body)
	switch {
	case err == nil:
		col.out, col.info, col.failed = body, inf, false
		return resp, nil
	case errors.Is(err, codex.ErrStreamFailed) && inf.Failure != nil && inf.Error != nil:
		if inf.Failure.Kind.Retryable() {
			return nil, &relay.Rejection{Outcome: *inf.Failure, Err: codexError(*inf.Error)}
		}
		col.info, col.failed = inf, true
		return resp, nil
	}
	return nil, interrupted(resp.StatusCode)
}

// codexError is an upstream error event's fields as an error.
type codexError codex.APIError

func (e codexError) Error() string { return "codex: " + e.Code + ": " + e.Message }

// fromCodex is a Codex error in this surface's envelope.
func fromCodex(status int, e codex.APIError) apiError {
	out := newAPIError(status, e.Message, e.Param)
	// A limit or a server error keeps the type OpenAI's SDKs expect for
	// the status; a client error keeps the upstream's own.
	if e.Type != "" && status != http.StatusTooManyRequests && status < 500 {
		out.Type = e.Type
	}
	if e.Code != "" {
		out.Code = openaierr.Nullable(e.Code)
	}
	return out
}

// failed answers a relay error in the OpenAI envelope.
func (h *handler) failed(c echo.Context, err error) error {
	var f *relay.Failure
	if !errors.As(err, &f) {
		var re *relay.Error
		if errors.As(err, &re) {
			return answerError(c.Response(), re)
		}
		return err
	}
	status := relay.PassThroughStatus(f.Outcome, f.Status)
	e := newAPIError(status, failureMessage(f), "")
	var ce codexError
	switch {
	case h.provider == providers.Codex && len(f.Body) > 0:
		e = fromCodex(status, codex.ClientError(f.Body))
	case errors.As(f.Err, &ce):
		e = fromCodex(status, codex.APIError(ce))
	case f.Outcome.Kind == providers.KindBadRequest:
		if msg := googleMessage(f.Body); msg != "" {
			e.Message = msg
		}
	}
	if status >= http.StatusInternalServerError {
		h.d.Logger.Warn("chat: request failed upstream",
			zap.String("request_id", requestID(c)), zap.String("provider", h.provider), zap.Int("status", status),
			zap.Int("upstream_status", f.Status), zap.String("outcome", f.Outcome.Kind.String()),
			zap.String("reason", f.Outcome.Reason), zap.Int("attempts", f.Attempts))
	}
	return writeError(c.Response(), status, e, relay.RetryAfterSecs(status, f.RetryAfter()))
}

// googleMessage is the message of a Google error body: a client error
// (bad argument) the caller needs to see.
func googleMessage(body []byte) string {
	var v struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	return v.Error.Message
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
