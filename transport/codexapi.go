package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/codex"
	"github.com/pollux-gateway/pollux/providers/sse"
	"github.com/pollux-gateway/pollux/transport/openai"
)

// headerDroppedParams lists the request members Pollux removed because the
// Codex backend rejects them (temperature, max_output_tokens, ...).
const headerDroppedParams = "X-Pollux-Dropped-Params"

// The head of an upstream stream is read before anything reaches the client,
// so that an overload or usage-limit event there can still fail over to
// another account. The peek ends at the first event that is output (or a
// failure), and is bounded in events, bytes and time.
const (
	codexPeekEvents = 8
	codexPeekBytes  = 64 << 10
	// codexPeekWait bounds how long the head of a stream is held back.
	codexPeekWait = 5 * time.Second
)

// Event types that come before any output.
const (
	codexEventCreated    = "response.created"
	codexEventInProgress = "response.in_progress"
)

// codexInterrupted is the code of the error Pollux reports when an upstream
// stream ends without a terminal event.
const codexInterrupted = "stream_interrupted"

// errUnavailableCodex answers when the process runs without a Codex pool.
func errUnavailableCodex() error {
	return &Error{Kind: KindUnavailable, Message: "the codex provider is not configured"}
}

// codexAPI serves the OpenAI Responses surface over the Codex backend.
type codexAPI struct {
	s      *Server
	models map[string]struct{}
	pm     *providerMetrics
}

// codexAPIRoutes returns the OpenAI surface's generate routes, relative to
// /codex/v1.
func (s *Server) codexAPIRoutes() []route {
	a := &codexAPI{s: s, models: make(map[string]struct{}), pm: s.metrics.provider(providers.Codex)}
	if s.codex != nil {
		for _, m := range s.codex.Models() {
			a.models[m] = struct{}{}
		}
	}
	return []route{
		{http.MethodPost, "/responses", a.responses},
		{http.MethodPost, "/responses/compact", a.compact},
	}
}

// codexBodyMeta is what the handlers read out of a request body.
type codexBodyMeta struct {
	Model          string `json:"model"`
	PromptCacheKey string `json:"prompt_cache_key"`
}

// codexRejection remembers the stream error of an attempt the handler
// rejected before any output, so the client can be told about it when that
// attempt turns out to be the last.
// sameOutcome reports whether two outcomes are the same verdict (the usage
// windows they carry do not matter).
func sameOutcome(a, b providers.Outcome) bool {
	return a.Kind == b.Kind && a.Scope == b.Scope && a.RetryAt.Equal(b.RetryAt) && a.Status == b.Status &&
		a.Reason == b.Reason && a.URL == b.URL
}

type codexRejection struct {
	outcome providers.Outcome
	err     codex.APIError
}

// responses serves POST /responses, streamed or not as the body's "stream"
// says (never the Accept header: the OpenAI SDK sends application/json even
// when it streams).
func (a *codexAPI) responses(c echo.Context) error {
	if a.s.codexPool == nil || a.s.codex == nil {
		return errUnavailableCodex()
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	norm, stream, dropped, err := codex.Normalize(body)
	if err != nil {
		return codexBadBody(c, err)
	}
	if len(dropped) > 0 {
		list := strings.Join(dropped, ",")
		c.Response().Header().Set(headerDroppedParams, list)
		if ce := a.s.log.Check(zap.DebugLevel, "codex: dropped request params the backend rejects"); ce != nil {
			ce.Write(zap.String(keyRequestID, requestID(c)), zap.String("params", list))
		}
	}
	rc, ok := a.prepare(c, norm, codex.MethodResponses)
	if !ok {
		return codexModelNotFound(c, rc.call.Model)
	}
	if err := a.s.admit(c, rc.call.Model); err != nil {
		return err
	}
	if stream {
		return a.stream(c, rc)
	}
	return a.collect(c, rc)
}

// compact serves POST /responses/compact: the body goes upstream as it came
// and the upstream's JSON answer comes back verbatim.
func (a *codexAPI) compact(c echo.Context) error {
	if a.s.codexPool == nil || a.s.codex == nil {
		return errUnavailableCodex()
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	body, err = codex.NormalizeCompact(body)
	if err != nil {
		return codexBadBody(c, err)
	}
	rc, ok := a.prepare(c, body, codex.MethodCompact)
	if !ok {
		return codexModelNotFound(c, rc.call.Model)
	}
	if err := a.s.admit(c, rc.call.Model); err != nil {
		return err
	}
	ctx := c.Request().Context()
	reply, err := a.s.relay(ctx, rc)
	if err != nil {
		return a.failed(c, err, nil)
	}
	reply.windows = a.s.observeCodexRateLimits(rc.reqID, reply.lease.Grant.CredentialID, reply.resp.Header)
	out, err := io.ReadAll(reply.resp.Body)
	if err != nil {
		if ctx.Err() != nil {
			reply.finish(providers.Outcome{Kind: providers.KindAbandoned})
			return ctx.Err()
		}
		reply.finish(providers.Outcome{Kind: providers.KindTransient, Status: reply.resp.StatusCode, Reason: "body_read_failed"})
		return &Error{Kind: KindUpstream, Message: "the upstream answer broke off", Err: err}
	}
	reply.finish(providers.Outcome{Kind: providers.KindOK, Status: reply.resp.StatusCode})
	ct := reply.resp.Header.Get(echo.HeaderContentType)
	if ct == "" {
		ct = echo.MIMEApplicationJSON
	}
	return c.Blob(reply.resp.StatusCode, ct, out)
}

// prepare builds the relay call for a valid body. ok is false when the
// model is not in the codex model list.
func (a *codexAPI) prepare(c echo.Context, body []byte, method string) (rc relayCall, ok bool) {
	var meta codexBodyMeta
	// A mistyped prompt_cache_key only loses the affinity; the model was
	// already checked to be a string.
	_ = json.Unmarshal(body, &meta)
	_, ok = a.models[meta.Model]
	info := requestInfoOf(c)
	info.setModel(meta.Model)
	hdr := c.Request().Header
	return relayCall{
		pool:     a.s.codexPool,
		upstream: a.s.codex,
		call: &providers.Call{
			Model:  meta.Model,
			Method: method,
			Stream: method == codex.MethodResponses,
			Body:   body,
			Header: hdr,
		},
		affinity: codexAffinity(hdr, meta.PromptCacheKey),
		reqID:    requestID(c),
		info:     info,
		pm:       a.pm,
	}, ok
}

// codexModelNotFound answers 404 for a model outside the codex model list.
func codexModelNotFound(c echo.Context, model string) error {
	return writeCodexError(c.Response(), http.StatusNotFound, codex.APIError{
		Message: fmt.Sprintf("the model %q does not exist or is not served here", model),
		Type:    "invalid_request_error",
		Code:    "model_not_found",
		Param:   "model",
	}, 0)
}

// codexAffinity is the key that keeps a conversation on one account: the
// Codex CLI's session id, else the body's prompt_cache_key.
//
// Long keys are hashed and short ones copied (actors.AffinityKey): the
// scheduler's table keeps nothing of the request.
func codexAffinity(h http.Header, promptCacheKey string) string {
	if v := h.Get("session_id"); v != "" {
		return actors.AffinityKey(v)
	}
	if v := h.Get("session-id"); v != "" {
		return actors.AffinityKey(v)
	}
	if promptCacheKey == "" {
		return ""
	}
	return actors.AffinityKey(promptCacheKey)
}

// stream relays the upstream's events to the client one by one, verbatim.
func (a *codexAPI) stream(c echo.Context, rc relayCall) error {
	var rej *codexRejection
	rc.accept = func(resp *http.Response) (*http.Response, *providers.Outcome, error) {
		return codexPeek(resp, &rej)
	}
	ctx := c.Request().Context()
	reply, err := a.s.relay(ctx, rc)
	if err != nil {
		return a.failed(c, err, rej)
	}
	reply.windows = a.s.observeCodexRateLimits(rc.reqID, reply.lease.Grant.CredentialID, reply.resp.Header)

	st := codexStreamState{reply: reply, outcome: providers.Outcome{Kind: providers.KindOK, Status: reply.resp.StatusCode}}
	sw := newSSEWriter(c.Response(), a.s.keepAlive)
	err = sw.pump(ctx, a.s.ending, sse.NewReader(reply.resp.Body), st.translate)
	switch {
	case errors.Is(err, errShuttingDown):
		werr := sw.write(codexFailedEventOf(st.respID, codexShuttingDown, codexMsgShuttingDown))
		reply.finish(providers.Outcome{Kind: providers.KindAbandoned})
		a.s.log.Info("codex: stream ended by shutdown", zap.String(keyRequestID, rc.reqID), zap.NamedError("write_error", werr))
	case errors.Is(err, errClientGone):
		reply.finish(providers.Outcome{Kind: providers.KindAbandoned})
		a.s.log.Debug("codex: client left during the stream", zap.String(keyRequestID, rc.reqID))
	case err == nil && st.terminal:
		if st.usage != nil {
			reply.setUsage(st.usage.InputTokens, st.usage.OutputTokens)
			rc.info.noteUsage(st.usage.InputTokens, st.usage.OutputTokens, st.usage.CachedTokens, st.usage.ReasoningTokens)
		}
		reply.finish(st.outcome)
		a.logUsage(rc.reqID, st.usage)
	default:
		// The upstream ended or broke without a terminal event: tell the
		// client in its protocol instead of cutting the stream silently.
		werr := sw.write(codexInterruptedEvent(st.respID))
		reply.finish(providers.Outcome{Kind: providers.KindTransient, Status: reply.resp.StatusCode, Reason: codexInterrupted})
		a.s.log.Warn("codex: upstream stream ended before a terminal event",
			zap.String(keyRequestID, rc.reqID), zap.Int64("credential_id", reply.lease.Grant.CredentialID),
			zap.NamedError("cause", err), zap.NamedError("write_error", werr))
	}
	return nil
}

// codexStreamState follows one relayed stream.
type codexStreamState struct {
	reply    *upstreamReply
	respID   string
	terminal bool
	outcome  providers.Outcome
	usage    *codex.Usage
	// backfill completes an empty final output (store=false) for clients
	// that take the terminal event's response as final.
	backfill codex.OutputBackfill
}

// translate passes an event on as it came and notes what it means.
func (st *codexStreamState) translate(ev sse.Event, dst []byte) ([]byte, bool, error) {
	st.reply.firstEvent()
	info := codex.InspectEvent(ev)
	if st.respID == "" && info.Type == codexEventCreated {
		st.respID = codexResponseID(ev.Data)
	}
	st.backfill.Observe(ev, info)
	data := ev.Data
	if info.Terminal && info.Failure == nil {
		data = st.backfill.Complete(data)
	}
	dst = sse.AppendEvent(dst, ev.Name, data)
	if !info.Terminal {
		return dst, false, nil
	}
	st.terminal = true
	st.usage = info.Usage
	if info.Failure != nil {
		// A usage limit mid-stream still cools the account.
		st.outcome = *info.Failure
	}
	return dst, true, nil
}

// collect serves a client that did not ask to stream: the upstream stream is
// read to its end before anything is written, so a failure anywhere in it
// may still fail over to another account.
func (a *codexAPI) collect(c echo.Context, rc relayCall) error {
	var (
		rej    *codexRejection
		out    []byte
		info   codex.EventInfo
		failed bool
	)
	rc.accept = func(resp *http.Response) (*http.Response, *providers.Outcome, error) {
		body, inf, err := codex.Collect(resp.Body)
		switch {
		case err == nil:
			out, info, failed = body, inf, false
			return resp, nil, nil
		case errors.Is(err, codex.ErrStreamFailed) && inf.Failure != nil && inf.Error != nil:
			if inf.Failure.Kind.Retryable() {
				rej = &codexRejection{outcome: *inf.Failure, err: *inf.Error}
				return nil, inf.Failure, nil
			}
			info, failed = inf, true
			return resp, nil, nil
		}
		o := providers.Outcome{Kind: providers.KindTransient, Status: resp.StatusCode, Reason: codexInterrupted}
		rej = &codexRejection{outcome: o, err: codexInterruptedError()}
		return nil, &o, nil
	}
	reply, err := a.s.relay(c.Request().Context(), rc)
	if err != nil {
		return a.failed(c, err, rej)
	}
	reply.windows = a.s.observeCodexRateLimits(rc.reqID, reply.lease.Grant.CredentialID, reply.resp.Header)
	if failed {
		reply.finish(*info.Failure)
		return writeCodexError(c.Response(), codexFailureStatus(*info.Failure, 0), *info.Error, codexRetryAfter(*info.Failure))
	}
	if info.Usage != nil {
		reply.setUsage(info.Usage.InputTokens, info.Usage.OutputTokens)
		rc.info.noteUsage(info.Usage.InputTokens, info.Usage.OutputTokens, info.Usage.CachedTokens, info.Usage.ReasoningTokens)
	}
	reply.finish(providers.Outcome{Kind: providers.KindOK, Status: reply.resp.StatusCode})
	a.logUsage(rc.reqID, info.Usage)
	return c.JSONBlob(http.StatusOK, out)
}

// failed answers a relay error. An upstream failure is told in the OpenAI
// envelope with the upstream's own error fields (the Codex CLI shows
// resets_at and resets_in_seconds of a usage limit); anything else (all
// credentials cooling, none usable, the client gone) goes to the common
// renderer.
func (a *codexAPI) failed(c echo.Context, err error, rej *codexRejection) error {
	var f *upstreamFailure
	if !errors.As(err, &f) {
		return err
	}
	var e codex.APIError
	switch {
	case len(f.body) > 0:
		e = codex.ClientError(f.body)
	case rej != nil && sameOutcome(rej.outcome, f.outcome):
		e = rej.err
	default:
		e = codex.APIError{Message: "the upstream request failed (" + f.outcome.Kind.String() + ")", Type: "server_error", Code: "upstream_error"}
	}
	e = withPoolReset(e, f.outcome, time.Now())
	status := codexFailureStatus(f.outcome, f.status)
	if status >= http.StatusInternalServerError {
		a.s.log.Warn("codex: request failed upstream",
			zap.String(keyRequestID, requestID(c)), zap.Int(keyStatus, status),
			zap.Int("upstream_status", f.status), zap.String("outcome", f.outcome.Kind.String()),
			zap.String("reason", f.outcome.Reason), zap.Int("attempts", f.attempts))
	}
	return writeCodexError(c.Response(), status, e, codexRetryAfter(f.outcome))
}

// withPoolReset moves the usage-limit reset an upstream body states (one
// account's) to the pool's earliest reset when that comes more than a second
// sooner, so the Codex CLI waits for the pool, not for the last account
// tried.
func withPoolReset(e codex.APIError, o providers.Outcome, now time.Time) codex.APIError {
	if o.RetryAt.IsZero() || (e.ResetsAt == nil && e.ResetsInSeconds == nil) {
		return e
	}
	var stated time.Time
	switch {
	case e.ResetsInSeconds != nil:
		stated = now.Add(time.Duration(*e.ResetsInSeconds) * time.Second)
	case e.ResetsAt != nil:
		stated = time.Unix(*e.ResetsAt, 0)
	}
	if stated.Sub(o.RetryAt) <= time.Second {
		return e
	}
	secs := max(0, int64((o.RetryAt.Sub(now)+time.Second-1)/time.Second))
	at := now.Unix() + secs
	if e.ResetsInSeconds != nil {
		e.ResetsInSeconds = &secs
	}
	if e.ResetsAt != nil {
		e.ResetsAt = &at
	}
	return e
}

// codexFailureStatus is the client's status for a final upstream failure:
// limits are 429, overload 503, the client's own mistakes keep the
// upstream's 4xx (400 when the failure came inside a stream), the rest 502.
func codexFailureStatus(o providers.Outcome, upstreamStatus int) int {
	switch o.Kind {
	case providers.KindRateLimited, providers.KindQuotaExhausted:
		return http.StatusTooManyRequests
	case providers.KindOverloaded:
		return http.StatusServiceUnavailable
	case providers.KindBadRequest, providers.KindModelUnsupported:
		if upstreamStatus >= 400 && upstreamStatus < 500 {
			return upstreamStatus
		}
		return http.StatusBadRequest
	case providers.KindOK, providers.KindAuthExpired, providers.KindAuthRevoked, providers.KindBanned,
		providers.KindIneligible, providers.KindTransient, providers.KindAbandoned:
	}
	return http.StatusBadGateway
}

// codexRetryAfter is how long the client should wait after o.
func codexRetryAfter(o providers.Outcome) time.Duration {
	return failureRetryAfter(&upstreamFailure{outcome: o})
}

// logUsage notes the token accounting of a finished response.
func (a *codexAPI) logUsage(reqID string, u *codex.Usage) {
	if u == nil {
		return
	}
	if ce := a.s.log.Check(zap.DebugLevel, "codex: usage"); ce != nil {
		ce.Write(zap.String(keyRequestID, reqID),
			zap.Int64("input_tokens", u.InputTokens), zap.Int64("cached_tokens", u.CachedTokens),
			zap.Int64("output_tokens", u.OutputTokens), zap.Int64("reasoning_tokens", u.ReasoningTokens))
	}
}

// observeCodexRateLimits is the one place the OpenAI surface reads an
// account's usage windows (the x-codex-primary-* and x-codex-secondary-*
// headers of every 2xx answer). Credential-side tracking, such as cooling an
// account whose window is spent before it starts answering 429, hooks in
// here with the credential id.
func (s *Server) observeCodexRateLimits(reqID string, credentialID int64, h http.Header) []providers.QuotaWindow {
	rl, ok := codex.ParseRateLimits(h)
	if !ok {
		return nil
	}
	if ce := s.log.Check(zap.DebugLevel, "codex: usage windows"); ce != nil {
		ce.Write(zap.String(keyRequestID, reqID), zap.Int64("credential_id", credentialID),
			zap.Float64("primary_used_percent", rl.Primary.UsedPercent),
			zap.Int("primary_window_minutes", rl.Primary.WindowMinutes),
			zap.Time("primary_reset_at", rl.Primary.ResetAt),
			zap.Float64("secondary_used_percent", rl.Secondary.UsedPercent),
			zap.Int("secondary_window_minutes", rl.Secondary.WindowMinutes),
			zap.Time("secondary_reset_at", rl.Secondary.ResetAt))
	}
	return rl.Windows()
}

// codexPeek reads the head of a stream, up to the first event that is not
// response.created or response.in_progress. A retryable failure there rejects
// the attempt (nothing has reached the client); otherwise the response comes
// back with a body that replays the peeked bytes, then the rest.
func codexPeek(resp *http.Response, rej **codexRejection) (*http.Response, *providers.Outcome, error) {
	return codexPeekWithin(resp, rej, codexPeekWait)
}

// codexPeekWithin is codexPeek with a bound on how long the head may take.
// Past wait the attempt is accepted as it is (a model that thinks before its
// first output item must not leave the client without a byte, and without
// keep-alives, for minutes): the rest of the peek then feeds the client
// through a pipe, and a failure it finds is relayed in-stream.
func codexPeekWithin(resp *http.Response, rej **codexRejection, wait time.Duration) (*http.Response, *providers.Outcome, error) {
	orig := resp.Body
	rec := &codexRecorder{r: orig}
	type verdict struct {
		outcome *providers.Outcome
		rej     *codexRejection
	}
	done := make(chan verdict, 1)
	go func() {
		var v verdict
		v.outcome, v.rej = codexPeekHead(sse.NewReader(rec), resp.StatusCode)
		done <- v
	}()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case v := <-done:
		if v.outcome != nil {
			*rej = v.rej
			return nil, v.outcome, nil
		}
		resp.Body = codexReplayBody{Reader: io.MultiReader(bytes.NewReader(rec.buf), orig), Closer: orig}
		return resp, nil, nil
	case <-timer.C:
	}
	pr, pw := io.Pipe()
	go func() {
		<-done // the peek goroutine owns rec until it reports
		if _, err := pw.Write(rec.buf); err != nil {
			return
		}
		_, err := io.Copy(pw, orig)
		pw.CloseWithError(err)
	}()
	resp.Body = codexReplayBody{Reader: pr, Closer: codexPipeCloser{pr: pr, orig: orig}}
	return resp, nil, nil
}

// codexPeekHead reads the head of a stream, up to the first event that is
// not response.created or response.in_progress, and returns a rejection when
// a retryable failure (or the end of the stream) comes before any output.
func codexPeekHead(rd *sse.Reader, status int) (*providers.Outcome, *codexRejection) {
	for range codexPeekEvents {
		ev, err := rd.Next()
		if err != nil {
			if errors.Is(err, errCodexPeekFull) {
				return nil, nil
			}
			// The stream ended or broke before any output: another
			// account may do better.
			o := providers.Outcome{Kind: providers.KindTransient, Status: status, Reason: codexInterrupted}
			return &o, &codexRejection{outcome: o, err: codexInterruptedError()}
		}
		info := codex.InspectEvent(ev)
		switch {
		case info.Failure != nil && info.Failure.Kind.Retryable() && info.Error != nil:
			return info.Failure, &codexRejection{outcome: *info.Failure, err: *info.Error}
		case info.Terminal, info.Type != codexEventCreated && info.Type != codexEventInProgress:
			return nil, nil
		}
	}
	return nil, nil
}

// codexPipeCloser closes the upstream body (ending the copy) and the pipe.
type codexPipeCloser struct {
	pr   *io.PipeReader
	orig io.Closer
}

func (c codexPipeCloser) Close() error {
	err := c.orig.Close()
	_ = c.pr.Close()
	return err
}

// errCodexPeekFull ends a peek that reached codexPeekBytes.
var errCodexPeekFull = errors.New("codex: stream head is larger than the peek limit")

// codexRecorder keeps every byte read through it, so a peek can be replayed.
type codexRecorder struct {
	r   io.Reader
	buf []byte
}

func (p *codexRecorder) Read(b []byte) (int, error) {
	if len(p.buf) >= codexPeekBytes {
		return 0, errCodexPeekFull
	}
	n, err := p.r.Read(b)
	p.buf = append(p.buf, b[:n]...)
	return n, err
}

// codexReplayBody reads the replay but closes the original body.
type codexReplayBody struct {
	io.Reader
	io.Closer
}

// codexResponseID returns the response id of a response.created event.
func codexResponseID(data []byte) string {
	var d struct {
		Response struct {
			ID string `json:"id"`
		} `json:"response"`
	}
	_ = json.Unmarshal(data, &d)
	return d.Response.ID
}

// codexInterruptedError is the error of a stream that ended early.
func codexInterruptedError() codex.APIError {
	return codex.APIError{
		Message: "upstream stream ended before response.completed",
		Type:    "server_error",
		Code:    codexInterrupted,
	}
}

type codexFailedEvent struct {
	Type     string              `json:"type"`
	Response codexFailedResponse `json:"response"`
}

type codexFailedResponse struct {
	ID     string          `json:"id"`
	Object string          `json:"object"`
	Status string          `json:"status"`
	Error  codexEventError `json:"error"`
}

type codexEventError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// codexInterruptedEvent is the response.failed event that ends a stream the
// upstream left without a terminal event (the Codex CLI insists on one).
func codexInterruptedEvent(respID string) []byte {
	e := codexInterruptedError()
	return codexFailedEventOf(respID, e.Code, e.Message)
}

// codexShuttingDown is the code of the error event a stream still open when
// the shutdown's drain deadline comes ends with.
const (
	codexShuttingDown    = "server_shutting_down"
	codexMsgShuttingDown = "Pollux is shutting down and ended this stream; retry the request"
)

// codexFailedEventOf is a response.failed event with code and message.
func codexFailedEventOf(respID, code, message string) []byte {
	data, err := json.Marshal(codexFailedEvent{
		Type: codex.EventFailed,
		Response: codexFailedResponse{ID: respID, Object: "response", Status: "failed",
			Error: codexEventError{Code: code, Message: message}},
	})
	if err != nil {
		// Only strings are encoded; this cannot happen.
		panic("transport: encode response.failed: " + err.Error())
	}
	return sse.AppendEvent(nil, codex.EventFailed, data)
}

// codexBadBody answers 400 for a body Normalize refused, naming the member
// at fault when the message does.
func codexBadBody(c echo.Context, err error) error {
	if !errors.Is(err, codex.ErrBadRequestBody) {
		return &Error{Kind: KindInternal, Err: err}
	}
	msg := strings.TrimPrefix(err.Error(), codex.ErrBadRequestBody.Error()+": ")
	var param string
	if rest, ok := strings.CutPrefix(msg, `"`); ok {
		if i := strings.IndexByte(rest, '"'); i > 0 {
			param = rest[:i]
		}
	}
	return writeCodexError(c.Response(), http.StatusBadRequest, codex.APIError{
		Message: msg,
		Type:    "invalid_request_error",
		Code:    "invalid_request",
		Param:   param,
	}, 0)
}

// codexErrorEnvelope is the OpenAI error envelope with the usage-limit
// fields the Codex CLI shows:
//
//	{"error":{"message","type","code","param","plan_type","resets_at","resets_in_seconds"}}
//
// code and param are null when unknown, as OpenAI writes them.
type codexErrorEnvelope struct {
	Error codexErrorBody `json:"error"`
}

type codexErrorBody struct {
	Message         string  `json:"message"`
	Type            string  `json:"type"`
	Code            *string `json:"code"`
	Param           *string `json:"param"`
	PlanType        string  `json:"plan_type,omitempty"`
	ResetsAt        *int64  `json:"resets_at,omitempty"`
	ResetsInSeconds *int64  `json:"resets_in_seconds,omitempty"`
}

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// writeCodexError writes e in the OpenAI envelope with status, and a
// Retry-After header for a 429 (at least 1 s) or a known wait.
func writeCodexError(w *echo.Response, status int, e codex.APIError, retryAfter time.Duration) error {
	typ := e.Type
	if typ == "" {
		typ = openai.ErrorType(status)
	}
	msg := e.Message
	if msg == "" {
		msg = strings.ToLower(http.StatusText(status))
	}
	body, err := json.Marshal(codexErrorEnvelope{Error: codexErrorBody{
		Message:         msg,
		Type:            typ,
		Code:            nilIfEmpty(e.Code),
		Param:           nilIfEmpty(e.Param),
		PlanType:        e.PlanType,
		ResetsAt:        e.ResetsAt,
		ResetsInSeconds: e.ResetsInSeconds,
	}})
	if err != nil {
		return fmt.Errorf("transport: encode codex error: %w", err)
	}
	h := w.Header()
	h.Set(echo.HeaderContentType, contentTypeJSON)
	h.Set(echo.HeaderXContentTypeOptions, "nosniff")
	if secs := retryAfterSecs(status, retryAfter); secs > 0 {
		h.Set(echo.HeaderRetryAfter, strconv.Itoa(secs))
	}
	w.WriteHeader(status)
	_, err = w.Write(body)
	return err
}
