package codex

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/sse"
)

// Stream event types Pollux acts on.
const (
	EventCompleted      = "response.completed"
	EventFailed         = "response.failed"
	EventIncomplete     = "response.incomplete"
	EventError          = "error"
	eventOutputItemDone = "response.output_item.done"
)

var (
	// ErrStreamTruncated: the upstream stream ended (or broke) before a
	// terminal event.
	ErrStreamTruncated = errors.New("codex: stream ended before a terminal event")
	// ErrStreamFailed: the stream ended with response.failed or error.
	ErrStreamFailed = errors.New("codex: upstream stream failed")
)

// Usage is the token accounting of a finished response.
type Usage struct {
	InputTokens     int64
	OutputTokens    int64
	TotalTokens     int64
	CachedTokens    int64
	ReasoningTokens int64
}

type tokenUsageJSON struct {
	InputTokens        int64 `json:"input_tokens"`
	OutputTokens       int64 `json:"output_tokens"`
	TotalTokens        int64 `json:"total_tokens"`
	InputTokensDetails struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokensDetails struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
}

// EventInfo is what one upstream event means to the relay. Events themselves
// pass to the client verbatim; this only inspects them.
type EventInfo struct {
	// Type is the event name, or the data's "type" when the name is absent.
	Type string
	// Terminal: response.completed, response.failed, response.incomplete or
	// error; nothing follows it.
	Terminal bool
	// Completed: response.completed.
	Completed bool
	// Failure classifies response.failed and error events: the relay may
	// rotate when nothing reached the client yet.
	Failure *providers.Outcome
	// Error is the failure in the client envelope's fields.
	Error *APIError
	// Usage is the token accounting of response.completed or
	// response.incomplete, when present.
	Usage *Usage
}

// InspectEvent reads one upstream event. Deltas cost a prefix check; only
// terminal events are decoded. A relative reset (resets_in_seconds) is
// measured from the wall clock.
func InspectEvent(ev sse.Event) EventInfo {
	info, _ := inspect(ev, time.Now())
	return info
}

// inspect is InspectEvent with the clock passed in; it also returns the
// "response" object of a completed or incomplete event (a span of
// ev.Data, not a copy).
func inspect(ev sse.Event, now time.Time) (EventInfo, json.RawMessage) {
	info := EventInfo{Type: ev.Name}
	if info.Type == "" {
		info.Type = dataType(ev.Data)
	}
	switch info.Type {
	case EventCompleted, EventIncomplete:
		info.Terminal = true
		info.Completed = info.Type == EventCompleted
		if resp, usage, ok := scanTerminal(ev.Data); ok && resp != nil {
			info.Usage = usage
			return info, resp
		}
		return decodeTerminal(info, ev.Data)
	case EventFailed:
		info.Terminal = true
		var d struct {
			Response struct {
				Error json.RawMessage `json:"error"`
			} `json:"response"`
		}
		var e APIError
		if json.Unmarshal(ev.Data, &d) == nil {
			e, _ = errorValue(d.Response.Error, nil, true)
		}
		info.setFailure(e, "response_failed", now)
	case EventError:
		info.Terminal = true
		info.setFailure(parseAPIError(ev.Data), "error", now)
	}
	return info, nil
}

// decodeTerminal reads a completed or incomplete event by encoding/json,
// for the events scanTerminal leaves to it.
func decodeTerminal(info EventInfo, data []byte) (EventInfo, json.RawMessage) {
	var d struct {
		Response json.RawMessage `json:"response"`
	}
	if json.Unmarshal(data, &d) != nil || len(d.Response) == 0 || isNull(d.Response) {
		f := providers.Outcome{Kind: providers.KindTransient, Status: http.StatusOK, Reason: "malformed_terminal_event"}
		info.Failure = &f
		info.Error = &APIError{Message: "upstream sent a malformed " + info.Type + " event", Type: "upstream_error"}
		return info, nil
	}
	var r struct {
		Usage *tokenUsageJSON `json:"usage"`
	}
	if json.Unmarshal(d.Response, &r) == nil && r.Usage != nil {
		info.Usage = &Usage{
			InputTokens:     r.Usage.InputTokens,
			OutputTokens:    r.Usage.OutputTokens,
			TotalTokens:     r.Usage.TotalTokens,
			CachedTokens:    r.Usage.InputTokensDetails.CachedTokens,
			ReasoningTokens: r.Usage.OutputTokensDetails.ReasoningTokens,
		}
	}
	return info, d.Response
}

func (info *EventInfo) setFailure(e APIError, fallback string, now time.Time) {
	f := streamFailure(e, fallback, now)
	info.Failure = &f
	e = e.withDefaults()
	info.Error = &e
}

// streamFailure classifies the error of a failed stream. The HTTP status was
// 200; the error code says what went wrong.
func streamFailure(e APIError, fallback string, now time.Time) providers.Outcome {
	out := providers.Outcome{Kind: providers.KindTransient, Scope: providers.ScopeModel, Status: http.StatusOK, Reason: e.reason(fallback)}
	switch {
	case e.is(codeServerOverloaded, codeSlowDown):
		out.Kind = providers.KindOverloaded
	case e.is(codeRateLimitExceeded):
		out.Kind, out.Scope, out.RetryAt = providers.KindRateLimited, providers.ScopeCredential, e.resetTime(nil, now)
	case e.is(codeUsageLimitReached):
		out.Kind, out.Scope, out.RetryAt = providers.KindQuotaExhausted, providers.ScopeCredential, e.resetTime(nil, now)
	case e.is(codeUsageNotIncluded):
		out.Kind, out.Scope = providers.KindIneligible, providers.ScopeCredential
	case e.is(codeContextLength, codeInvalidPrompt):
		out.Kind = providers.KindBadRequest
	}
	return out
}

// dataType returns the "type" of an event's data. The backend writes it as
// the first member, so a prefix check avoids decoding deltas.
func dataType(data []byte) string {
	const prefix = `{"type":"`
	if rest, ok := bytes.CutPrefix(data, []byte(prefix)); ok {
		if i := bytes.IndexByte(rest, '"'); i >= 0 && bytes.IndexByte(rest[:i], '\\') < 0 {
			return string(rest[:i])
		}
	}
	if typ, ok := scanType(data); ok {
		return typ
	}
	return decodeType(data)
}

// decodeType is dataType by encoding/json.
func decodeType(data []byte) string {
	var t struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(data, &t) != nil {
		return ""
	}
	return t.Type
}

// Collect reads an upstream stream to its terminal event, for a client that
// did not ask to stream. It returns the "response" object of
// response.completed (or of response.incomplete, whose status says so) and
// the terminal event's info. When the backend leaves the final output empty,
// as it does with store=false, the items of response.output_item.done are
// put back into it in output_index order. A response.failed or error event
// gives an error wrapping ErrStreamFailed with info.Failure and info.Error
// set; a stream that ends without a terminal event gives ErrStreamTruncated.
func Collect(r io.Reader) (response []byte, info EventInfo, err error) {
	return collect(r, time.Now())
}

// OutputBackfill completes the terminal event of a relayed stream. With
// store=false the backend sends response.completed (or .incomplete) with an
// empty "output"; the OpenAI SDK's stream helper takes that response as the
// final one and so loses every item it was shown. Observe the stream's
// events, then pass the terminal event's data through Complete. The zero
// value is ready to use.
type OutputBackfill struct {
	items []outputItem
}

// Observe records the item of a response.output_item.done event.
func (b *OutputBackfill) Observe(ev sse.Event, info EventInfo) {
	if info.Type != eventOutputItemDone {
		return
	}
	if it, ok := readOutputItem(ev.Data); ok {
		it.Item = bytes.Clone(it.Item) // ev.Data is reused by the reader
		b.items = append(b.items, it)
	}
}

// readOutputItem reads a response.output_item.done event; ok is false when
// it has no item. Item is a span of data.
func readOutputItem(data []byte) (outputItem, bool) {
	it, ok := scanOutputItem(data)
	if !ok {
		return decodeOutputItem(data)
	}
	if len(it.Item) == 0 {
		return outputItem{}, false
	}
	return it, true
}

// decodeOutputItem is readOutputItem by encoding/json.
func decodeOutputItem(data []byte) (outputItem, bool) {
	var it outputItem
	if json.Unmarshal(data, &it) != nil || len(it.Item) == 0 {
		return outputItem{}, false
	}
	return it, true
}

// Complete returns a terminal event's data with the response's empty output
// filled from the observed items; any other data comes back unchanged.
func (b *OutputBackfill) Complete(data []byte) []byte {
	if len(b.items) == 0 {
		return data
	}
	sp, ok := findOutput(data)
	switch {
	case !ok:
		return b.completeDecoded(data)
	case sp.filled:
		return data
	}
	return spliceOutput(data, sp, b.items)
}

// completeDecoded is Complete by encoding/json.
func (b *OutputBackfill) completeDecoded(data []byte) []byte {
	var ev map[string]json.RawMessage
	if json.Unmarshal(data, &ev) != nil || len(ev["response"]) == 0 {
		return data
	}
	filled := backfillOutput(ev["response"], b.items)
	if bytes.Equal(filled, ev["response"]) {
		return data
	}
	ev["response"] = filled
	return encodeObject(ev)
}

type outputItem struct {
	Index int             `json:"output_index"`
	Item  json.RawMessage `json:"item"`
}

func collect(r io.Reader, now time.Time) ([]byte, EventInfo, error) {
	rd := sse.NewReader(r)
	var items []outputItem
	var last EventInfo
	for {
		ev, err := rd.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, last, ErrStreamTruncated
			}
			return nil, last, fmt.Errorf("%w: %w", ErrStreamTruncated, err)
		}
		info, resp := inspect(ev, now)
		last = info
		if info.Type == eventOutputItemDone {
			if it, ok := readOutputItem(ev.Data); ok {
				it.Item = bytes.Clone(it.Item) // ev.Data is reused by the reader
				items = append(items, it)
			}
			continue
		}
		if !info.Terminal {
			continue
		}
		if info.Failure != nil {
			return nil, info, fmt.Errorf("%w: %s", ErrStreamFailed, info.Failure.Reason)
		}
		// resp is a span of the reader's buffer; the caller keeps it.
		return backfillOutput(bytes.Clone(resp), items), info, nil
	}
}

// backfillOutput puts streamed items into a final response whose output is
// missing or empty; otherwise the response is returned as it came.
func backfillOutput(resp json.RawMessage, items []outputItem) []byte {
	if len(items) == 0 {
		return resp
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(resp, &m) != nil || m == nil { // "null" decodes to a nil map
		return resp
	}
	if out := bytes.TrimSpace(m["output"]); len(out) > 0 && !isNull(out) && !isEmptyArray(out) {
		return resp
	}
	slices.SortStableFunc(items, func(a, b outputItem) int { return a.Index - b.Index })
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, it := range items {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(bytes.TrimSpace(it.Item))
	}
	buf.WriteByte(']')
	m["output"] = buf.Bytes()
	return encodeObject(m)
}

func isEmptyArray(b []byte) bool {
	var a []json.RawMessage
	return json.Unmarshal(b, &a) == nil && len(a) == 0
}
