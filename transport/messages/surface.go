package messages

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/codex"
	"github.com/pollux-gateway/pollux/providers/geminicli"
	"github.com/pollux-gateway/pollux/transport/models"
	"github.com/pollux-gateway/pollux/transport/relay"
)

// headerDroppedParams names the request members Pollux left out on
// purpose because the pool's upstream has no place for them.
const headerDroppedParams = "X-Pollux-Dropped-Params"

// headerTokenEstimate marks a count_tokens answer that is an estimate.
const headerTokenEstimate = "X-Pollux-Token-Estimate"

// replyLimit caps an upstream answer collected for a unary reply.
const replyLimit = 64 << 20

// Pools a surface may serve.
const (
	PoolGemini = providers.GeminiCLI
	PoolCodex  = providers.Codex
)

// GeminiUpstream is what the surface needs of the Code Assist client
// besides the relay. *geminicli.Client implements it.
type GeminiUpstream interface {
	TranslateEvent(ev sseEvent) (geminicli.StreamEvent, error)
	RecordSignatures(response []byte)
}

// Deps is what one mount of the surface needs from the assembly.
type Deps struct {
	// Pool is PoolGemini or PoolCodex: the upstream format.
	Pool string
	// Relay relays to the pool; nil answers 503.
	Relay *relay.Relay
	// Gemini reads Code Assist streams (PoolGemini only).
	Gemini GeminiUpstream
	// Served are the models POST messages accepts.
	Served []string
	// Admit applies the request's key once the model is known; nil admits
	// everything.
	Admit func(c echo.Context, model string) error
	// Record returns the request's record; nil records nothing.
	Record func(c echo.Context) relay.Record
	// Logger receives warnings; nil discards.
	Logger *zap.Logger
	// Resolve resolves a requested model name (a model or an alias) to the
	// model that serves it and its fallback chain; nil serves exactly the
	// Served models, without fallbacks.
	Resolve func(c echo.Context, name string) (models.Resolution, bool)
}

// Route is one route of the surface, relative to the pool's /v1 prefix
// (/geminicli/v1, /codex/v1).
type Route struct {
	Method, Path string
	Handler      echo.HandlerFunc
}

// Routes returns the surface's routes for d.
func Routes(d Deps) []Route {
	h := &handler{d: d, models: make(map[string]bool, len(d.Served)), log: d.Logger}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	for _, m := range d.Served {
		h.models[strings.TrimPrefix(m, "models/")] = true
	}
	return []Route{
		{http.MethodPost, "/messages", h.messages},
		{http.MethodPost, "/messages/count_tokens", h.countTokens},
	}
}

type handler struct {
	d      Deps
	models map[string]bool
	log    *zap.Logger
}

func (h *handler) record(c echo.Context) relay.Record {
	if h.d.Record == nil {
		return relay.Discard
	}
	return h.d.Record(c)
}

func requestID(c echo.Context) string { return c.Response().Header().Get(relay.HeaderRequestID) }

// read reads, parses and checks a request and its model, and resolves the
// model: r.Model is the model that serves it, fallbacks its chain. The
// error is the answer.
func (h *handler) read(c echo.Context, rec relay.Record, counting bool) (r *request, fallbacks []string, err error) {
	if h.d.Relay == nil || (h.d.Pool == PoolGemini && h.d.Gemini == nil) {
		return nil, nil, &relay.Error{Kind: relay.KindUnavailable, Message: "the " + h.d.Pool + " pool is not configured"}
	}
	body, err := relay.ReadBody(c.Request())
	if err != nil {
		return nil, nil, err
	}
	r, err = parseRequest(body, counting)
	if err != nil {
		var br *badRequest
		if errors.As(err, &br) {
			return nil, nil, WriteError(c.Response(), http.StatusBadRequest, br.Error(), 0)
		}
		return nil, nil, err
	}
	rec.Model(r.Model)
	res, ok := h.resolve(c, r.Model)
	if !ok {
		return nil, nil, WriteError(c.Response(), http.StatusNotFound,
			fmt.Sprintf("model: %s is not served by this pool: GET models lists the models it serves", r.Model), 0)
	}
	if h.d.Admit != nil {
		if err := h.d.Admit(c, r.Model); err != nil {
			return nil, nil, err
		}
	}
	r.Model = res.Model
	return r, res.Fallbacks, nil
}

// resolve returns the model and fallbacks that serve the requested name.
func (h *handler) resolve(c echo.Context, name string) (models.Resolution, bool) {
	if h.d.Resolve != nil {
		return h.d.Resolve(c, name)
	}
	return models.Resolution{Model: name}, h.models[name]
}

// translate builds the upstream call of r; the error is the answer.
func (h *handler) translate(c echo.Context, r *request) (*providers.Call, error) {
	call, dropped, err := h.build(c, r)
	if err != nil {
		var br *badRequest
		if errors.As(err, &br) {
			return nil, WriteError(c.Response(), http.StatusBadRequest, br.Error(), 0)
		}
		return nil, &relay.Error{Kind: relay.KindInternal, Err: err}
	}
	if len(dropped) > 0 {
		c.Response().Header().Set(headerDroppedParams, strings.Join(dropped, ","))
	}
	return call, nil
}

// build translates r into the pool's upstream call for r.Model and names
// the members it dropped.
func (h *handler) build(c echo.Context, r *request) (*providers.Call, []string, error) {
	var (
		body    []byte
		dropped []string
		err     error
		call    = &providers.Call{Model: r.Model, Stream: true}
	)
	if h.d.Pool == PoolGemini {
		body, dropped, err = toGemini(r)
		call.Method = geminicli.MethodGenerate
	} else {
		body, dropped, err = toResponses(r)
		call.Method, call.Header = codex.MethodResponses, c.Request().Header
		if err == nil {
			// The backend's own rules (store=false, instructions) apply.
			body, _, _, err = codex.Normalize(body)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	call.Body = body
	return call, dropped, nil
}

// messages serves POST messages.
func (h *handler) messages(c echo.Context) error {
	rec := h.record(c)
	r, fallbacks, err := h.read(c, rec, false)
	if r == nil {
		return err
	}
	call, err := h.translate(c, r)
	if call == nil {
		return err
	}
	req := relay.Request{Call: call, Affinity: affinity(r.Metadata), RequestID: requestID(c), Record: rec, Fallbacks: fallbacks}
	if len(fallbacks) > 0 {
		req.Retarget = func(model string) (*providers.Call, error) {
			// The translation depends on the model (Gemini's thinking
			// levels): the fallback's call is built anew.
			fr := *r
			fr.Model = model
			call, _, err := h.build(c, &fr)
			return call, err
		}
	}
	if r.Stream {
		return h.stream(c, r, req)
	}
	return h.unary(c, r, req)
}

// affinity keeps a conversation on one credential by the metadata's
// user_id (Claude Code puts its session there).
func affinity(metadata json.RawMessage) string {
	if id := metadataUserID(metadata); id != "" {
		return actors.AffinityKey(id)
	}
	return ""
}

// metadataUserID is the request metadata's user_id, "" when none.
func metadataUserID(metadata json.RawMessage) string {
	var m struct {
		UserID string `json:"user_id"`
	}
	if len(metadata) == 0 || json.Unmarshal(metadata, &m) != nil {
		return ""
	}
	return m.UserID
}

// newTranslator returns the pool's translator writing to out, for an
// answer of model.
func (h *handler) newTranslator(model string, out sink) translator {
	b := builder{out: out, model: model, id: "msg_" + randomID()}
	if h.d.Pool == PoolGemini {
		return &geminiStream{t: geminiTranslator{b: b, newID: func() string { return "toolu_" + randomID() }}, up: h.d.Gemini}
	}
	return &codexStream{t: codexTranslator{b: b}}
}

// stream serves a streamed answer: the head of the upstream stream is held
// back so a failure there fails over, then every upstream event becomes
// Anthropic events.
func (h *handler) stream(c echo.Context, r *request, req relay.Request) error {
	req.Check = relay.HoldHead(h.head(), headLimits)
	ctx := c.Request().Context()
	reply, err := h.d.Relay.Do(ctx, req)
	if err != nil {
		return h.failed(c, err)
	}
	defer reply.Finish()
	relay.SetServedModel(c.Response().Header(), reply)
	codec := &streamCodec{status: reply.Resp.StatusCode}
	codec.tr = h.newTranslator(reply.Model(), &codec.sink)
	if how := h.d.Relay.Stream(ctx, c.Response(), reply, codec); errors.Is(how, relay.ErrClientGone) {
		c.Response().Status = relay.StatusClientClosed
	}
	return nil
}

// unary serves an answer that was not asked to stream: the upstream stream
// is read whole and judged before anything is written, so a failure
// anywhere in it may still fail over.
func (h *handler) unary(c echo.Context, r *request, req relay.Request) error {
	var col *collector
	var tr translator
	var final *providers.Outcome
	req.Check = func(resp *http.Response) (*http.Response, error) {
		col, final = &collector{}, nil
		tr = h.newTranslator(r.Model, col)
		raw, err := io.ReadAll(io.LimitReader(resp.Body, replyLimit))
		if err != nil {
			return nil, cut(resp.StatusCode)
		}
		events := newEventReader(bytes.NewReader(raw))
		for {
			ev, err := events.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, cut(resp.StatusCode)
			}
			done, fail, err := tr.event(ev)
			if err != nil {
				return nil, cut(resp.StatusCode)
			}
			if fail != nil {
				if fail.Kind.Retryable() {
					return nil, &relay.Rejection{Outcome: *fail, Err: upstreamError(tr.failMessage())}
				}
				final = fail
				break
			}
			if done {
				break
			}
		}
		if final == nil && !col.done {
			return nil, cut(resp.StatusCode)
		}
		return resp, nil
	}
	reply, err := h.d.Relay.Do(c.Request().Context(), req)
	if err != nil {
		return h.failed(c, err)
	}
	defer reply.Finish()
	relay.SetServedModel(c.Response().Header(), reply)
	// The translator was made before the relay knew which model would
	// serve: the answer names the one that did.
	col.msg.Model = reply.Model()
	if final != nil {
		reply.Settle(*final)
		status := relay.PassThroughStatus(*final, 0)
		return WriteError(c.Response(), status, tr.failMessage(), relay.RetryAfterSecs(status, relay.RetryAfter(*final)))
	}
	u := col.msg.Usage
	reply.SetUsage(relay.Usage{Input: u.InputTokens + u.CacheReadInputTokens, Output: u.OutputTokens, Cached: u.CacheReadInputTokens, Reasoning: u.reasoning})
	reply.Settle(providers.Outcome{Kind: providers.KindOK, Status: reply.Resp.StatusCode})
	body, err := json.Marshal(col.msg)
	if err != nil {
		return &relay.Error{Kind: relay.KindInternal, Err: err}
	}
	return c.Blob(http.StatusOK, contentTypeJSON, body)
}

// upstreamError is the client's message of a rejected attempt.
type upstreamError string

func (e upstreamError) Error() string { return string(e) }

// cut is the rejection of an upstream stream that broke before its end.
func cut(status int) *relay.Rejection {
	return &relay.Rejection{
		Outcome: providers.Outcome{Kind: providers.KindTransient, Status: status, Reason: "stream_cut"},
		Err:     upstreamError(msgStreamCut),
	}
}

// failed answers a relay error in the Anthropic envelope. Pollux's own
// errors (every credential cooling, none usable) go to the server's
// renderer, which picks this envelope by path.
func (h *handler) failed(c echo.Context, err error) error {
	var f *relay.Failure
	if !errors.As(err, &f) {
		return err
	}
	status := relay.PassThroughStatus(f.Outcome, f.Status)
	var msg string
	var told upstreamError
	switch {
	case errors.As(f.Err, &told):
		msg = string(told)
	case f.Outcome.Kind == providers.KindBadRequest && len(f.Body) > 0:
		msg = "upstream refused the request: " + upstreamMessage(h.d.Pool, f.Body)
	default:
		reason := f.Outcome.Reason
		if reason == "" {
			reason = f.Outcome.Kind.String()
		}
		msg = fmt.Sprintf("upstream answered %d (%s) and no other credential could take the request", f.Status, reason)
	}
	if status >= http.StatusInternalServerError {
		h.log.Warn("messages: request failed upstream", zap.String("request_id", requestID(c)),
			zap.String("pool", h.d.Pool), zap.Int("status", status), zap.Int("upstream_status", f.Status),
			zap.String("outcome", f.Outcome.Kind.String()), zap.Int("attempts", f.Attempts))
	}
	return WriteError(c.Response(), status, msg, relay.RetryAfterSecs(status, f.RetryAfter()))
}

// upstreamMessage is the message of an upstream client error.
func upstreamMessage(pool string, body []byte) string {
	if pool == PoolCodex {
		return codex.ClientError(body).Message
	}
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		return e.Error.Message
	}
	return "bad request"
}

// countTokens serves POST messages/count_tokens: Code Assist counts for
// the Gemini pool; the Codex backend has no counter, so the Codex pool
// answers an estimate (a quarter of the translated body's bytes) marked by
// X-Pollux-Token-Estimate.
func (h *handler) countTokens(c echo.Context) error {
	rec := h.record(c)
	rec.NoUsage()
	// A count is not worth a fallback: it is cheap to ask again.
	r, _, err := h.read(c, rec, true)
	if r == nil {
		return err
	}
	call, err := h.translate(c, r)
	if call == nil {
		return err
	}
	c.Response().Header().Del(headerDroppedParams)
	if h.d.Pool == PoolCodex {
		c.Response().Header().Set(headerTokenEstimate, "bytes/4")
		return c.JSON(http.StatusOK, map[string]int64{"input_tokens": int64(len(call.Body)+3) / 4})
	}
	var g gRequest
	if err := json.Unmarshal(call.Body, &g); err != nil {
		return &relay.Error{Kind: relay.KindInternal, Err: err}
	}
	contents := g.Contents
	if g.SystemInstruction != nil {
		contents = append([]gContent{{Role: "user", Parts: g.SystemInstruction.Parts}}, contents...)
	}
	body, err := json.Marshal(map[string]any{"contents": contents})
	if err != nil {
		return &relay.Error{Kind: relay.KindInternal, Err: err}
	}
	call.Method, call.Stream, call.Body = geminicli.MethodCountTokens, false, body
	ctx := c.Request().Context()
	reply, err := h.d.Relay.Do(ctx, relay.Request{Call: call, RequestID: requestID(c), Record: rec})
	if err != nil {
		return h.failed(c, err)
	}
	defer reply.Finish()
	relay.SetServedModel(c.Response().Header(), reply)
	raw, err := io.ReadAll(io.LimitReader(reply.Resp.Body, replyLimit))
	if err != nil {
		reply.Settle(providers.Outcome{Kind: providers.KindTransient, Status: reply.Resp.StatusCode, Reason: "reply_cut"})
		return &relay.Error{Kind: relay.KindUpstream, Message: "the upstream reply was cut short", Err: err}
	}
	inner, err := geminicli.UnwrapCountTokens(raw)
	var n struct {
		TotalTokens int64 `json:"totalTokens"`
	}
	if err == nil {
		err = json.Unmarshal(inner, &n)
	}
	if err != nil {
		reply.Settle(providers.Outcome{Kind: providers.KindTransient, Status: reply.Resp.StatusCode, Reason: "bad_envelope"})
		return &relay.Error{Kind: relay.KindUpstream, Message: "the upstream reply was not a valid countTokens answer", Err: err}
	}
	reply.Settle(providers.Outcome{Kind: providers.KindOK, Status: reply.Resp.StatusCode})
	return c.JSON(http.StatusOK, map[string]int64{"input_tokens": n.TotalTokens})
}

// randomID is 24 hex digits for message and tool_use ids.
func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
