package transport

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/geminicli"
	"github.com/pollux-gateway/pollux/providers/sse"
	"github.com/pollux-gateway/pollux/transport/gemini"
)

// Gemini generate routes, under each version prefix:
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

// geminiReplyLimit caps a non-streamed upstream reply held in memory.
const geminiReplyLimit = 64 << 20

// geminiMaxAffinityLen is the longest session id used verbatim as an affinity
// key; longer ones are hashed so the scheduler keeps short keys.
const geminiMaxAffinityLen = 128

// Client-facing messages of stream failures (in-band error events).
const (
	geminiMsgStreamCut = "upstream stream ended early"
	geminiMsgBadEvent  = "upstream sent a malformed stream event"
	geminiMsgNoFinish  = "upstream stream ended without a finishReason"
	// geminiMsgShuttingDown ends a stream still open at the drain deadline.
	geminiMsgShuttingDown = "Pollux is shutting down and ended this stream; retry the request"
)

// geminiAPI serves the generate routes of the Gemini surface.
type geminiAPI struct {
	s *Server
	// models is the geminicli model_list, bare ids.
	models map[string]bool
	pm     *providerMetrics
}

// geminiAPIRoutes returns the Gemini surface's generate routes, relative to
// each version prefix. The doubled "models/models/" form covers clients that
// put the prefix into the model name.
func (s *Server) geminiAPIRoutes() []route {
	g := &geminiAPI{s: s, models: map[string]bool{}, pm: s.metrics.provider(providers.GeminiCLI)}
	if s.gemini != nil {
		for _, id := range s.gemini.Models() {
			g.models[strings.TrimPrefix(id, "models/")] = true
		}
	}
	return []route{
		{http.MethodPost, "/models/:action", g.serve},
		{http.MethodPost, "/models/models/:action", g.serve},
	}
}

// serve validates a generate request and dispatches it by method.
func (g *geminiAPI) serve(c echo.Context) error {
	action := c.Param("action")
	if u, err := url.PathUnescape(action); err == nil {
		action = u
	}
	action = strings.TrimPrefix(action, "models/")
	i := strings.LastIndexByte(action, ':')
	if i < 0 {
		return &Error{Kind: KindNotFound, Message: "unknown method: use models/{model}:generateContent, :streamGenerateContent or :countTokens"}
	}
	model, method := action[:i], action[i+1:]
	info := requestInfoOf(c)
	info.setModel(model)
	switch method {
	case geminicli.MethodGenerate, geminicli.MethodStream, geminicli.MethodCountTokens:
	default:
		return &Error{Kind: KindNotFound, Message: fmt.Sprintf("method %q is not supported: use generateContent, streamGenerateContent or countTokens", method)}
	}
	if !g.models[model] {
		return &Error{Kind: KindNotFound, Message: fmt.Sprintf("models/%s is not found: this gateway serves only the models that GET models lists", model)}
	}
	if method == geminicli.MethodCountTokens {
		info.expectNoUsage()
	}
	if err := g.s.admit(c, model); err != nil {
		return err
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	if err := geminiCheckBody(method, body); err != nil {
		return err
	}
	if g.s.geminiPool == nil || g.s.gemini == nil {
		return &Error{Kind: KindUnavailable, Message: "the Gemini CLI pool is not configured"}
	}
	rc := relayCall{
		pool:     g.s.geminiPool,
		upstream: g.s.gemini,
		call:     &providers.Call{Model: model, Method: method, Stream: method == geminicli.MethodStream, Body: body},
		affinity: geminiSessionAffinity(body),
		reqID:    requestID(c),
		info:     info,
		pm:       g.pm,
	}
	switch method {
	case geminicli.MethodStream:
		return g.stream(c, rc)
	case geminicli.MethodCountTokens:
		return g.unary(c, rc, geminicli.UnwrapCountTokens)
	}
	return g.unary(c, rc, geminicli.UnwrapResponse)
}

// unary serves generateContent and countTokens: relay, read the whole
// reply, unwrap it, answer JSON.
func (g *geminiAPI) unary(c echo.Context, rc relayCall, unwrap func([]byte) ([]byte, error)) error {
	ctx := c.Request().Context()
	reply, err := g.s.relay(ctx, rc)
	if err != nil {
		return g.failure(c, err)
	}
	status := reply.resp.StatusCode
	raw, err := io.ReadAll(io.LimitReader(reply.resp.Body, geminiReplyLimit+1))
	switch {
	case err != nil && ctx.Err() != nil:
		reply.finish(providers.Outcome{Kind: providers.KindAbandoned})
		return ctx.Err()
	case err != nil:
		reply.finish(providers.Outcome{Kind: providers.KindTransient, Status: status, Reason: "reply_cut"})
		return &Error{Kind: KindUpstream, Message: "the upstream reply was cut short", Err: err}
	case len(raw) > geminiReplyLimit:
		// The credential served; the reply is only too big for us.
		reply.finish(providers.Outcome{Kind: providers.KindOK, Status: status})
		return &Error{Kind: KindUpstream, Message: fmt.Sprintf("the upstream reply is larger than %d bytes", geminiReplyLimit)}
	}
	inner, err := unwrap(raw)
	if err != nil {
		reply.finish(providers.Outcome{Kind: providers.KindTransient, Status: status, Reason: "bad_envelope"})
		return &Error{Kind: KindUpstream, Message: "the upstream reply was not a valid Code Assist response", Err: err}
	}
	if rc.call.Method == geminicli.MethodGenerate {
		g.s.gemini.RecordSignatures(inner)
		if u := geminiReplyUsage(inner); u != nil {
			reply.setUsage(u.Prompt, u.Candidates+u.Thoughts)
			rc.info.noteUsage(u.Prompt, u.Candidates+u.Thoughts, u.Cached, u.Thoughts)
		}
	}
	reply.finish(providers.Outcome{Kind: providers.KindOK, Status: status})
	return c.Blob(http.StatusOK, contentTypeJSON, inner)
}

// stream serves streamGenerateContent: every upstream event is unwrapped and
// relayed as "data: <response>" at once. A failure after the headers ends
// the stream with one in-band error event in Google's shape.
func (g *geminiAPI) stream(c echo.Context, rc relayCall) error {
	ctx := c.Request().Context()
	reply, err := g.s.relay(ctx, rc)
	if err != nil {
		return g.failure(c, err)
	}
	var (
		finished bool
		failure  *providers.Outcome
		usage    *geminicli.Usage
	)
	translate := func(ev sse.Event, dst []byte) ([]byte, bool, error) {
		reply.firstEvent()
		se, err := g.s.gemini.TranslateEvent(ev)
		if err != nil {
			return dst, false, fmt.Errorf("%w: %w", errGeminiBadEvent, err)
		}
		if se.Failure != nil {
			failure = se.Failure
			return appendGeminiStreamFailure(dst, se.Failure), true, nil
		}
		if se.Usage != nil {
			// Each report is cumulative; the last one counts.
			usage = se.Usage
		}
		if se.Data == nil {
			return dst, false, nil
		}
		finished = finished || se.Finished
		return sse.AppendEvent(dst, "", se.Data), false, nil
	}
	sw := newSSEWriter(c.Response(), g.s.keepAlive)
	err = sw.pump(ctx, g.s.ending, sse.NewReader(reply.resp.Body), translate)
	upstreamStatus := reply.resp.StatusCode
	if usage != nil {
		reply.setUsage(usage.Prompt, usage.Candidates+usage.Thoughts)
		rc.info.noteUsage(usage.Prompt, usage.Candidates+usage.Thoughts, usage.Cached, usage.Thoughts)
	}
	if errors.Is(err, errClientGone) {
		// The 200 is on the wire; the access log still records 499.
		c.Response().Status = statusClientClosed
	}
	switch {
	case failure != nil:
		// The error event went out (or the client left meanwhile); either
		// way the upstream's verdict on the credential stands.
		reply.finish(*failure)
	case errors.Is(err, errClientGone):
		reply.finish(providers.Outcome{Kind: providers.KindAbandoned})
	case errors.Is(err, errShuttingDown):
		g.endStream(sw, rc.reqID, gemini.ErrorBody(http.StatusServiceUnavailable, geminiMsgShuttingDown, 0))
		reply.finish(providers.Outcome{Kind: providers.KindAbandoned})
	case err != nil:
		msg, reason := geminiMsgStreamCut, "stream_cut"
		if errors.Is(err, errGeminiBadEvent) {
			msg, reason = geminiMsgBadEvent, "bad_stream_event"
		}
		g.s.log.Warn("gemini stream failed", zap.String(keyRequestID, rc.reqID),
			zap.Int64("credential_id", reply.lease.Grant.CredentialID), zap.Error(err))
		g.endStream(sw, rc.reqID, gemini.ErrorBody(http.StatusBadGateway, msg, 0))
		reply.finish(providers.Outcome{Kind: providers.KindTransient, Status: upstreamStatus, Reason: reason})
	case !finished:
		// The Gemini CLI fails a stream that ends without a finishReason
		// anyway (PROTOCOLS §6); an explicit error event tells it, and
		// anyone reading the stream, that the upstream broke off.
		g.endStream(sw, rc.reqID, gemini.ErrorBody(http.StatusBadGateway, geminiMsgNoFinish, 0))
		reply.finish(providers.Outcome{Kind: providers.KindTransient, Status: upstreamStatus, Reason: "no_finish_reason"})
	default:
		reply.finish(providers.Outcome{Kind: providers.KindOK, Status: upstreamStatus})
	}
	return nil
}

// geminiUsageKey is the member of a Gemini response with its token counts.
const geminiUsageKey = `"usageMetadata"`

// geminiReplyUsage reads the usageMetadata of a generateContent reply
// without decoding the whole (possibly large) reply again: Google writes it
// after the candidates, so the members from its last occurrence to the end
// form a small object of their own. When they do not (the key also occurs
// deeper, say in function-call arguments), the whole reply is decoded.
func geminiReplyUsage(inner []byte) *geminicli.Usage {
	i := bytes.LastIndex(inner, []byte(geminiUsageKey))
	if i < 0 {
		return nil
	}
	tail := make([]byte, 0, len(inner)-i+1)
	tail = append(append(tail, '{'), inner[i:]...)
	if json.Valid(tail) {
		return geminicli.UsageOf(tail)
	}
	return geminicli.UsageOf(inner)
}

// errGeminiBadEvent marks an upstream event that could not be decoded.
var errGeminiBadEvent = errors.New("malformed upstream event")

// endStream writes a final in-band error event.
func (g *geminiAPI) endStream(sw *sseWriter, reqID string, errBody []byte) {
	if err := sw.write(sse.AppendEvent(nil, "", errBody)); err != nil {
		g.s.log.Debug("write final stream error", zap.String(keyRequestID, reqID), zap.Error(err))
	}
}

// appendGeminiStreamFailure appends the in-band error event for an error object
// that arrived mid-stream. It is rendered from the classification, not
// copied, so no upstream text (which may name the Cloud project) leaks.
func appendGeminiStreamFailure(dst []byte, o *providers.Outcome) []byte {
	code := o.Status
	if code < 400 {
		code = http.StatusInternalServerError
	}
	f := &upstreamFailure{status: code, outcome: *o}
	msg := fmt.Sprintf("upstream failed mid-stream (%s)", o.Reason)
	return sse.AppendEvent(dst, "", gemini.ErrorBody(code, msg, retryAfterSecs(code, failureRetryAfter(f))))
}

// failure turns a relay error into the client's answer. A client error from
// Code Assist is passed through as Google wrote it (it is already a Gemini
// error envelope with the upstream's own message); every other upstream
// failure is rendered by the error map.
func (g *geminiAPI) failure(c echo.Context, err error) error {
	var f *upstreamFailure
	if !errors.As(err, &f) {
		return err
	}
	if f.outcome.Kind == providers.KindBadRequest && isGoogleErrorBody(f.body) {
		return c.Blob(f.status, contentTypeJSON, f.body)
	}
	return &Error{Kind: failureKind(f), Message: geminiFailureMessage(f), RetryAfter: failureRetryAfter(f), Err: f}
}

// geminiFailureMessage describes an upstream failure without any upstream text.
func geminiFailureMessage(f *upstreamFailure) string {
	reason := f.outcome.Reason
	if reason == "" {
		reason = f.outcome.Kind.String()
	}
	if f.outcome.Status == 0 {
		return fmt.Sprintf("upstream unreachable (%s) and no other credential could take the request", reason)
	}
	return fmt.Sprintf("upstream answered %d (%s) and no other credential could take the request", f.outcome.Status, reason)
}

// isGoogleErrorBody reports whether body is a JSON object with an "error" object.
func isGoogleErrorBody(body []byte) bool {
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	return json.Unmarshal(body, &env) == nil && len(env.Error) > 0 && env.Error[0] == '{'
}

// geminiBodyIsObject reports whether b is one valid JSON object (surrounding
// whitespace allowed). The first byte is checked before the full scan.
func geminiBodyIsObject(b []byte) bool {
	for _, ch := range b {
		switch ch {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return ch == '{' && json.Valid(b)
	}
	return false
}

// geminiCheckBody decides, before any credential is leased, that the
// upstream envelope of method can be built from body: a body the wrapper
// would refuse is the client's 400, not an upstream failure on every
// credential. (FuzzGeminiCheckedBodyWraps holds it to that.)
func geminiCheckBody(method string, body []byte) error {
	if !geminiBodyIsObject(body) {
		return &Error{Kind: KindInvalidArgument, Message: "Invalid JSON payload received: the request body must be a JSON object"}
	}
	if method == geminicli.MethodCountTokens {
		if _, err := geminicli.WrapCountTokens("m", body); err != nil {
			return &Error{Kind: KindInvalidArgument, Err: err,
				Message: "Invalid JSON payload received: generateContentRequest must be a JSON object (the request whose tokens to count)"}
		}
	}
	return nil
}

// geminiSessionAffinity returns the affinity key of a Gemini request: its
// top-level session_id (the Gemini CLI sends one per conversation), or ""
// without one. Bodies that do not mention session_id skip the decode.
func geminiSessionAffinity(body []byte) string {
	if !bytes.Contains(body, []byte(`"session_id"`)) {
		return ""
	}
	var v struct {
		SessionID json.RawMessage `json:"session_id"`
	}
	if json.Unmarshal(body, &v) != nil || len(v.SessionID) == 0 || v.SessionID[0] != '"' {
		return ""
	}
	var id string
	if json.Unmarshal(v.SessionID, &id) != nil || id == "" {
		return ""
	}
	if len(id) > geminiMaxAffinityLen {
		sum := sha256.Sum256([]byte(id))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	return id
}
