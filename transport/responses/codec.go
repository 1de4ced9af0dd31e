package responses

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/codex"
	"github.com/pollux-gateway/pollux/providers/jsonscan"
	"github.com/pollux-gateway/pollux/providers/sse"
	"github.com/pollux-gateway/pollux/transport/relay"
)

// Event types that come before any output.
const (
	eventCreated    = "response.created"
	eventInProgress = "response.in_progress"
)

// codeInterrupted is the code of the error Pollux reports when an upstream
// stream ends without a terminal event.
const codeInterrupted = "stream_interrupted"

// The error event a stream still open when the shutdown's drain deadline
// comes ends with.
const (
	codeShuttingDown = "server_shutting_down"
	msgShuttingDown  = "Pollux is shutting down and ended this stream; retry the request"
)

// headLimits bound the held-back head of a stream: it ends at the first
// event that is output (or a failure), within 8 events, 64 KiB and 5 s.
var headLimits = relay.HeadLimits{Events: 8, Bytes: 64 << 10, Wait: 5 * time.Second}

// head judges the head of a Responses stream: response.created and
// response.in_progress are held back; a retryable failure before any output
// rejects the attempt.
type head struct{}

// Judge implements relay.Head.
func (head) Judge(ev sse.Event) (bool, *relay.Rejection) {
	info := codex.InspectEvent(ev)
	switch {
	case info.Failure != nil && info.Failure.Kind.Retryable() && info.Error != nil:
		return false, &relay.Rejection{Outcome: *info.Failure, Err: apiError(*info.Error)}
	case info.Terminal, info.Type != eventCreated && info.Type != eventInProgress:
		return true, nil
	}
	return false, nil
}

// Cut implements relay.Head.
func (head) Cut(status int) *relay.Rejection { return interrupted(status) }

// interrupted is the rejection of a stream that ended before any output.
func interrupted(status int) *relay.Rejection {
	return &relay.Rejection{
		Outcome: providers.Outcome{Kind: providers.KindTransient, Status: status, Reason: codeInterrupted},
		Err:     apiError(interruptedError()),
	}
}

// streamCodec passes a Responses stream on as it came and notes what it
// means: the response id, the terminal event, its usage and verdict.
type streamCodec struct {
	// status is the upstream answer's HTTP status.
	status   int
	respID   string
	terminal bool
	failure  *providers.Outcome
	usage    *codex.Usage
	// backfill completes an empty final output (store=false) for clients
	// that take the terminal event's response as final.
	backfill codex.OutputBackfill
}

// Event implements relay.Codec.
func (sc *streamCodec) Event(ev sse.Event, dst []byte) ([]byte, bool, error) {
	info := codex.InspectEvent(ev)
	if sc.respID == "" && info.Type == eventCreated {
		sc.respID = responseID(ev.Data)
	}
	sc.backfill.Observe(ev, info)
	data := ev.Data
	if info.Terminal && info.Failure == nil {
		data = sc.backfill.Complete(data)
	}
	dst = sse.AppendEvent(dst, ev.Name, data)
	if !info.Terminal {
		return dst, false, nil
	}
	sc.terminal = true
	sc.usage = info.Usage
	// A usage limit mid-stream still cools the account.
	sc.failure = info.Failure
	return dst, true, nil
}

// End implements relay.Codec.
func (sc *streamCodec) End(how error) relay.Ending {
	switch {
	case errors.Is(how, relay.ErrShuttingDown):
		return relay.Ending{Outcome: providers.Outcome{Kind: providers.KindAbandoned},
			Tail: failedEvent(sc.respID, codeShuttingDown, msgShuttingDown)}
	case errors.Is(how, relay.ErrClientGone):
		return relay.Ending{Outcome: providers.Outcome{Kind: providers.KindAbandoned}}
	case how == nil && sc.terminal:
		end := relay.Ending{Outcome: providers.Outcome{Kind: providers.KindOK, Status: sc.status}}
		if sc.failure != nil {
			end.Outcome = *sc.failure
		}
		if u := sc.usage; u != nil {
			end.Usage = &relay.Usage{Input: u.InputTokens, Output: u.OutputTokens, Cached: u.CachedTokens, Reasoning: u.ReasoningTokens}
		}
		return end
	}
	// The upstream ended or broke without a terminal event: tell the
	// client in its protocol instead of cutting the stream silently.
	e := interruptedError()
	return relay.Ending{Outcome: providers.Outcome{Kind: providers.KindTransient, Status: sc.status, Reason: codeInterrupted},
		Tail: failedEvent(sc.respID, e.Code, e.Message)}
}

// responseID returns the response id of a response.created event.
func responseID(data []byte) string {
	if id, ok := scanResponseID(data); ok {
		return id
	}
	return decodeResponseID(data)
}

// scanResponseID reads the id of a response.created event in one pass.
// ok is false for anything but the plain shape the backend sends (a
// duplicate, escaped or case-folded key, an id that is not a plain string,
// invalid JSON): decodeResponseID then decides.
func scanResponseID(data []byte) (id string, ok bool) {
	o, err := jsonscan.OpenObject(data, jsonscan.SkipSpace(data, 0))
	if err != nil {
		return "", false
	}
	seen := false
	for {
		m, more, err := o.Next()
		if err != nil {
			return "", false
		}
		if !more {
			break
		}
		match, odd := jsonscan.KeyIs(m, "response")
		if odd || match && (seen || data[m.Value] != '{') {
			return "", false
		}
		if !match {
			continue
		}
		seen = true
		r, _ := jsonscan.OpenObject(data, m.Value)
		seenID := false
		for {
			rm, more, err := r.Next()
			if err != nil {
				return "", false
			}
			if !more {
				break
			}
			match, odd := jsonscan.KeyIs(rm, "id")
			if odd || match && (seenID || data[rm.Value] != '"') {
				return "", false
			}
			if !match {
				continue
			}
			seenID = true
			s, end, ok := jsonscan.PlainString(data, rm.Value)
			if !ok {
				return "", false
			}
			r.Resume(end)
			id = string(s)
		}
		o.Resume(r.End())
	}
	if jsonscan.SkipSpace(data, o.End()) != len(data) {
		return "", false
	}
	return id, true
}

// decodeResponseID is responseID by encoding/json.
func decodeResponseID(data []byte) string {
	var d struct {
		Response struct {
			ID string `json:"id"`
		} `json:"response"`
	}
	_ = json.Unmarshal(data, &d)
	return d.Response.ID
}

// interruptedError is the error of a stream that ended early.
func interruptedError() codex.APIError {
	return codex.APIError{
		Message: "upstream stream ended before response.completed",
		Type:    "server_error",
		Code:    codeInterrupted,
	}
}

type failedEventData struct {
	Type     string         `json:"type"`
	Response failedResponse `json:"response"`
}

type failedResponse struct {
	ID     string     `json:"id"`
	Object string     `json:"object"`
	Status string     `json:"status"`
	Error  eventError `json:"error"`
}

type eventError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// failedEvent is a response.failed event with code and message: the end of
// a stream Pollux had to break off (the Codex CLI insists on a terminal
// event).
func failedEvent(respID, code, message string) []byte {
	data, err := json.Marshal(failedEventData{
		Type: codex.EventFailed,
		Response: failedResponse{ID: respID, Object: "response", Status: "failed",
			Error: eventError{Code: code, Message: message}},
	})
	if err != nil {
		// Only strings are encoded; this cannot happen.
		panic("responses: encode response.failed: " + err.Error())
	}
	return sse.AppendEvent(nil, codex.EventFailed, data)
}
