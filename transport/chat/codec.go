package chat

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/codex"
	"github.com/pollux-gateway/pollux/providers/geminicli"
	"github.com/pollux-gateway/pollux/providers/sse"
	"github.com/pollux-gateway/pollux/transport/relay"
)

// Client-facing messages of stream failures (terminal error chunks).
const (
	codeInterrupted = "stream_interrupted"
	msgStreamCut    = "upstream stream ended early"
	msgBadEvent     = "upstream sent a malformed stream event"
	msgNoFinish     = "upstream stream ended without a finish reason"
	msgShuttingDown = "Pollux is shutting down and ended this stream; retry the request"
)

var errBadEvent = errors.New("malformed upstream event")

// headLimits bound the held-back head of a stream: it ends at the first
// event with output (or a failure), within 8 events, 64 KiB and 5 s.
var headLimits = relay.HeadLimits{Events: 8, Bytes: 64 << 10, Wait: 5 * time.Second}

// interrupted is the rejection of a stream that ended before any output.
func interrupted(status int) *relay.Rejection {
	return &relay.Rejection{
		Outcome: providers.Outcome{Kind: providers.KindTransient, Status: status, Reason: codeInterrupted},
		Err:     codexError{Message: msgStreamCut, Type: "server_error", Code: codeInterrupted},
	}
}

// geminiHead holds back a Gemini stream until its first response: an error
// object before it rejects the attempt when another credential may serve.
type geminiHead struct{}

func (geminiHead) Judge(ev sse.Event) (bool, *relay.Rejection) {
	se, err := geminicli.TranslateEvent(ev)
	switch {
	case err != nil:
		return true, nil // the codec tells the client
	case se.Failure != nil && se.Failure.Kind.Retryable():
		return false, &relay.Rejection{Outcome: *se.Failure, Err: codexError{
			Message: fmt.Sprintf("upstream failed at the start of the stream (%s)", se.Failure.Reason), Type: "server_error", Code: "upstream_error"}}
	case se.Failure != nil, se.Data != nil:
		return true, nil
	}
	return false, nil
}

func (geminiHead) Cut(status int) *relay.Rejection { return interrupted(status) }

// codexHead holds back response.created and response.in_progress; a
// retryable failure before any output rejects the attempt.
type codexHead struct{}

func (codexHead) Judge(ev sse.Event) (bool, *relay.Rejection) {
	info := codex.InspectEvent(ev)
	switch {
	case info.Failure != nil && info.Failure.Kind.Retryable() && info.Error != nil:
		return false, &relay.Rejection{Outcome: *info.Failure, Err: codexError(*info.Error)}
	case info.Terminal, info.Type != "response.created" && info.Type != "response.in_progress":
		return true, nil
	}
	return false, nil
}

func (codexHead) Cut(status int) *relay.Rejection { return interrupted(status) }

// geminiCodec turns a Code Assist stream into Chat chunks.
type geminiCodec struct {
	up           GeminiUpstream
	status       int
	chunks       *chunker
	stream       geminiStream
	includeUsage bool
	finished     bool
	failure      *providers.Outcome
	usage        *geminicli.Usage
}

func (sc *geminiCodec) Event(ev sse.Event, dst []byte) ([]byte, bool, error) {
	se, err := sc.up.TranslateEvent(ev)
	if err != nil {
		return dst, false, fmt.Errorf("%w: %w", errBadEvent, err)
	}
	if se.Failure != nil {
		sc.failure = se.Failure
		status := relay.FailureKind(*se.Failure, se.Failure.Status).Status()
		return sc.chunks.fail(dst, status, fmt.Sprintf("upstream failed mid-stream (%s)", se.Failure.Reason)), true, nil
	}
	if se.Usage != nil {
		sc.usage = se.Usage
	}
	if se.Data == nil {
		return dst, false, nil
	}
	sc.finished = sc.finished || se.Finished
	dst, err = sc.stream.event(se.Data, dst)
	if err != nil {
		return dst, false, fmt.Errorf("%w: %w", errBadEvent, err)
	}
	return dst, false, nil
}

func (sc *geminiCodec) End(how error) relay.Ending {
	var end relay.Ending
	if u := sc.usage; u != nil {
		end.Usage = &relay.Usage{Input: u.Prompt, Output: u.Candidates + u.Thoughts, Cached: u.Cached, Reasoning: u.Thoughts}
	}
	switch {
	case sc.failure != nil:
		end.Outcome = *sc.failure
	case errors.Is(how, relay.ErrClientGone):
		end.Outcome = providers.Outcome{Kind: providers.KindAbandoned}
	case errors.Is(how, relay.ErrShuttingDown):
		end.Outcome = providers.Outcome{Kind: providers.KindAbandoned}
		end.Tail = sc.chunks.fail(nil, http.StatusServiceUnavailable, msgShuttingDown)
	case how != nil:
		msg, reason := msgStreamCut, "stream_cut"
		if errors.Is(how, errBadEvent) {
			msg, reason = msgBadEvent, "bad_stream_event"
		}
		end.Outcome = providers.Outcome{Kind: providers.KindTransient, Status: sc.status, Reason: reason}
		end.Tail = sc.chunks.fail(nil, http.StatusBadGateway, msg)
	case !sc.finished && sc.stream.finish == "":
		end.Outcome = providers.Outcome{Kind: providers.KindTransient, Status: sc.status, Reason: "no_finish_reason"}
		end.Tail = sc.chunks.fail(nil, http.StatusBadGateway, msgNoFinish)
	default:
		end.Outcome = providers.Outcome{Kind: providers.KindOK, Status: sc.status}
		finish := sc.stream.finish
		if finish == "" {
			finish = "stop"
		}
		var u *usage
		if g := sc.usage; g != nil {
			u = newUsage(g.Prompt, g.Candidates+g.Thoughts, g.Cached, g.Thoughts)
		}
		end.Tail = sc.chunks.end(nil, finish, u, sc.includeUsage)
	}
	return end
}

// codexCodec turns a Responses stream into Chat chunks.
type codexCodec struct {
	status       int
	chunks       *chunker
	stream       codexStream
	includeUsage bool
	terminal     bool
	failure      *providers.Outcome
	usage        *codex.Usage
}

func (sc *codexCodec) Event(ev sse.Event, dst []byte) ([]byte, bool, error) {
	info := codex.InspectEvent(ev)
	if info.Failure != nil {
		sc.terminal, sc.failure = true, info.Failure
		status := relay.PassThroughStatus(*info.Failure, 0)
		msg := "upstream failed mid-stream (" + info.Failure.Reason + ")"
		if info.Error != nil && info.Error.Message != "" {
			msg = info.Error.Message
		}
		return sc.chunks.fail(dst, status, msg), true, nil
	}
	dst, finish, u, err := sc.stream.event(ev.Data, dst)
	if err != nil {
		return dst, false, fmt.Errorf("%w: %w", errBadEvent, err)
	}
	if !info.Terminal {
		return dst, false, nil
	}
	sc.terminal, sc.usage = true, info.Usage
	return sc.chunks.end(dst, finish, u, sc.includeUsage), true, nil
}

func (sc *codexCodec) End(how error) relay.Ending {
	var end relay.Ending
	if u := sc.usage; u != nil {
		end.Usage = &relay.Usage{Input: u.InputTokens, Output: u.OutputTokens, Cached: u.CachedTokens, Reasoning: u.ReasoningTokens}
	}
	switch {
	case sc.failure != nil:
		end.Outcome = *sc.failure
	case errors.Is(how, relay.ErrClientGone):
		end.Outcome = providers.Outcome{Kind: providers.KindAbandoned}
	case errors.Is(how, relay.ErrShuttingDown):
		end.Outcome = providers.Outcome{Kind: providers.KindAbandoned}
		end.Tail = sc.chunks.fail(nil, http.StatusServiceUnavailable, msgShuttingDown)
	case how == nil && sc.terminal:
		end.Outcome = providers.Outcome{Kind: providers.KindOK, Status: sc.status}
	default:
		msg := msgStreamCut
		if errors.Is(how, errBadEvent) {
			msg = msgBadEvent
		}
		end.Outcome = providers.Outcome{Kind: providers.KindTransient, Status: sc.status, Reason: codeInterrupted}
		end.Tail = sc.chunks.fail(nil, http.StatusBadGateway, msg)
	}
	return end
}
