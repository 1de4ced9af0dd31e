package messages

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/codex"
	"github.com/pollux-gateway/pollux/providers/geminicli"
	"github.com/pollux-gateway/pollux/providers/sse"
	"github.com/pollux-gateway/pollux/transport/relay"
)

type sseEvent = sse.Event

func newEventReader(r io.Reader) *sse.Reader { return sse.NewReader(r) }

// Client-facing messages of stream failures.
const (
	msgStreamCut    = "upstream stream ended early"
	msgBadEvent     = "upstream sent a malformed stream event"
	msgShuttingDown = "Pollux is shutting down and ended this stream; retry the request"
)

// headLimits bound the held-back head of a stream: it ends at the first
// event with output (or a failure), within 8 events, 64 KiB and 5 s.
var headLimits = relay.HeadLimits{Events: 8, Bytes: 64 << 10, Wait: 5 * time.Second}

// translator reads one pool's upstream events into Anthropic events.
type translator interface {
	// event translates one upstream event: done at the end of the
	// message, fail for an upstream failure in the stream.
	event(ev sse.Event) (done bool, fail *providers.Outcome, err error)
	// failMessage describes the last failure for the client.
	failMessage() string
	// usage is the answer's usage so far.
	usage() usage
}

// geminiStream is the Gemini pool's translator.
type geminiStream struct {
	t    geminiTranslator
	up   GeminiUpstream
	fail *providers.Outcome
}

func (g *geminiStream) event(ev sse.Event) (bool, *providers.Outcome, error) {
	se, err := g.up.TranslateEvent(ev)
	if err != nil {
		return false, nil, err
	}
	if se.Failure != nil {
		g.fail = se.Failure
		return true, se.Failure, nil
	}
	if se.Data == nil {
		return false, nil, nil
	}
	done, err := g.t.chunk(se.Data)
	return done, nil, err
}

func (g *geminiStream) failMessage() string {
	if g.fail == nil {
		return msgStreamCut
	}
	return fmt.Sprintf("upstream failed (%s)", g.fail.Reason)
}

func (g *geminiStream) usage() usage { return g.t.usage }

// codexStream is the Codex pool's translator.
type codexStream struct {
	t    codexTranslator
	err  *codex.APIError
	last usage
}

func (x *codexStream) event(ev sse.Event) (bool, *providers.Outcome, error) {
	info := codex.InspectEvent(ev)
	if info.Usage != nil {
		u := info.Usage
		x.last = usage{InputTokens: u.InputTokens - u.CachedTokens, CacheReadInputTokens: u.CachedTokens, OutputTokens: u.OutputTokens, reasoning: u.ReasoningTokens}
	}
	done, err := x.t.event(ev, info)
	if err != nil {
		return false, nil, err
	}
	if info.Failure != nil {
		x.err = info.Error
		return true, info.Failure, nil
	}
	if info.Terminal && !x.t.b.stopped {
		// A terminal event that is neither a failure nor an answer.
		return true, &providers.Outcome{Kind: providers.KindTransient, Reason: "stream_failed"}, nil
	}
	return done, nil, nil
}

func (x *codexStream) failMessage() string {
	if x.err != nil && x.err.Message != "" {
		return x.err.Message
	}
	return "upstream stream failed"
}

func (x *codexStream) usage() usage { return x.last }

// streamCodec writes a translated stream as Anthropic SSE, ending it with
// an error event when the upstream fails or breaks off.
type streamCodec struct {
	tr     translator
	sink   sseSink
	status int
	done   bool
	fail   *providers.Outcome
}

// Event implements relay.Codec.
func (sc *streamCodec) Event(ev sse.Event, dst []byte) ([]byte, bool, error) {
	sc.sink.buf = dst
	done, fail, err := sc.tr.event(ev)
	out := sc.sink.buf
	sc.sink.buf = nil
	if err != nil {
		return out, false, fmt.Errorf("%w: %w", errBadEvent, err)
	}
	if fail != nil {
		sc.fail = fail
		status := fail.Status
		if status < 400 {
			status = http.StatusBadGateway
		}
		return append(out, errorEvent(status, sc.tr.failMessage())...), true, nil
	}
	sc.done = sc.done || done
	return out, done, nil
}

var errBadEvent = errors.New("malformed upstream event")

// End implements relay.Codec.
func (sc *streamCodec) End(how error) relay.Ending {
	var end relay.Ending
	if u := sc.tr.usage(); u.InputTokens+u.OutputTokens+u.CacheReadInputTokens > 0 {
		end.Usage = &relay.Usage{Input: u.InputTokens + u.CacheReadInputTokens, Output: u.OutputTokens, Cached: u.CacheReadInputTokens, Reasoning: u.reasoning}
	}
	switch {
	case sc.fail != nil:
		end.Outcome = *sc.fail
	case errors.Is(how, relay.ErrClientGone):
		end.Outcome = providers.Outcome{Kind: providers.KindAbandoned}
	case errors.Is(how, relay.ErrShuttingDown):
		end.Outcome = providers.Outcome{Kind: providers.KindAbandoned}
		end.Tail = errorEvent(http.StatusServiceUnavailable, msgShuttingDown)
	case how != nil:
		msg, reason := msgStreamCut, "stream_cut"
		if errors.Is(how, errBadEvent) {
			msg, reason = msgBadEvent, "bad_stream_event"
		}
		end.Outcome = providers.Outcome{Kind: providers.KindTransient, Status: sc.status, Reason: reason}
		end.Tail = errorEvent(http.StatusBadGateway, msg)
	case !sc.done:
		end.Outcome = providers.Outcome{Kind: providers.KindTransient, Status: sc.status, Reason: "stream_cut"}
		end.Tail = errorEvent(http.StatusBadGateway, msgStreamCut)
	default:
		end.Outcome = providers.Outcome{Kind: providers.KindOK, Status: sc.status}
	}
	return end
}

// head returns the pool's judge of a stream's head.
func (h *handler) head() relay.Head {
	if h.d.Pool == PoolGemini {
		return geminiHead{}
	}
	return codexHead{}
}

// geminiHead serves a Code Assist stream at its first response chunk and
// rejects a retryable error object before it.
type geminiHead struct{}

func (geminiHead) Judge(ev sse.Event) (bool, *relay.Rejection) {
	se, err := geminicli.TranslateEvent(ev)
	switch {
	case err != nil:
		return false, cut(0)
	case se.Failure != nil && se.Failure.Kind.Retryable():
		return false, &relay.Rejection{Outcome: *se.Failure, Err: upstreamError(fmt.Sprintf("upstream failed (%s)", se.Failure.Reason))}
	case se.Failure != nil, se.Data != nil:
		return true, nil
	}
	return false, nil
}

func (geminiHead) Cut(status int) *relay.Rejection { return cut(status) }

// codexHead holds response.created and response.in_progress back and
// rejects a retryable failure before any output.
type codexHead struct{}

func (codexHead) Judge(ev sse.Event) (bool, *relay.Rejection) {
	info := codex.InspectEvent(ev)
	switch {
	case info.Failure != nil && info.Failure.Kind.Retryable():
		msg := "upstream failed"
		if info.Error != nil && info.Error.Message != "" {
			msg = info.Error.Message
		}
		return false, &relay.Rejection{Outcome: *info.Failure, Err: upstreamError(msg)}
	case info.Terminal, info.Type != "response.created" && info.Type != "response.in_progress":
		return true, nil
	}
	return false, nil
}

func (codexHead) Cut(status int) *relay.Rejection { return cut(status) }
