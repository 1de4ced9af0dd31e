package gemini

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/geminicli"
	"github.com/pollux-gateway/pollux/providers/sse"
	"github.com/pollux-gateway/pollux/transport/relay"
)

// Client-facing messages of stream failures (in-band error events).
const (
	msgStreamCut = "upstream stream ended early"
	msgBadEvent  = "upstream sent a malformed stream event"
	msgNoFinish  = "upstream stream ended without a finishReason"
	// msgShuttingDown ends a stream still open at the drain deadline.
	msgShuttingDown = "Pollux is shutting down and ended this stream; retry the request"
)

// errBadEvent marks an upstream event that could not be decoded.
var errBadEvent = errors.New("malformed upstream event")

// streamCodec turns a Code Assist stream into the Gemini client stream:
// each event's inner response as "data: <response>", and one in-band error
// event in Google's shape when the stream fails.
type streamCodec struct {
	up Upstream
	// status is the upstream answer's HTTP status.
	status   int
	finished bool
	failure  *providers.Outcome
	// usage is the last usage report (each is cumulative).
	usage *geminicli.Usage
}

// Event implements relay.Codec.
func (sc *streamCodec) Event(ev sse.Event, dst []byte) ([]byte, bool, error) {
	se, err := sc.up.TranslateEvent(ev)
	if err != nil {
		return dst, false, fmt.Errorf("%w: %w", errBadEvent, err)
	}
	if se.Failure != nil {
		sc.failure = se.Failure
		return appendStreamFailure(dst, se.Failure), true, nil
	}
	if se.Usage != nil {
		sc.usage = se.Usage
	}
	if se.Data == nil {
		return dst, false, nil
	}
	sc.finished = sc.finished || se.Finished
	return sse.AppendEvent(dst, "", se.Data), false, nil
}

// End implements relay.Codec.
func (sc *streamCodec) End(how error) relay.Ending {
	var end relay.Ending
	if u := sc.usage; u != nil {
		end.Usage = &relay.Usage{Input: u.Prompt, Output: u.Candidates + u.Thoughts, Cached: u.Cached, Reasoning: u.Thoughts}
	}
	switch {
	case sc.failure != nil:
		// The error event went out (or the client left meanwhile); either
		// way the upstream's verdict on the credential stands.
		end.Outcome = *sc.failure
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
	case !sc.finished:
		// The Gemini CLI fails a stream that ends without a finishReason
		// anyway (PROTOCOLS §6); an explicit error event tells it, and
		// anyone reading the stream, that the upstream broke off.
		end.Outcome = providers.Outcome{Kind: providers.KindTransient, Status: sc.status, Reason: "no_finish_reason"}
		end.Tail = errorEvent(http.StatusBadGateway, msgNoFinish)
	default:
		end.Outcome = providers.Outcome{Kind: providers.KindOK, Status: sc.status}
	}
	return end
}

// errorEvent is an in-band error event with no retry delay.
func errorEvent(code int, msg string) []byte {
	return sse.AppendEvent(nil, "", ErrorBody(code, msg, 0))
}

// appendStreamFailure appends the in-band error event for an error object
// that arrived mid-stream. It is rendered from the classification, not
// copied, so no upstream text (which may name the Cloud project) leaks.
func appendStreamFailure(dst []byte, o *providers.Outcome) []byte {
	code := o.Status
	if code < 400 {
		code = http.StatusInternalServerError
	}
	msg := fmt.Sprintf("upstream failed mid-stream (%s)", o.Reason)
	return sse.AppendEvent(dst, "", ErrorBody(code, msg, relay.RetryAfterSecs(code, relay.RetryAfter(*o))))
}
