package codex

import (
	"bytes"
	"math"
	"slices"

	"github.com/pollux-gateway/pollux/providers/jsonscan"
)

// One pass over a Codex event.
//
// Deltas are named by the SSE event line and pass untouched. The events
// Pollux reads (the terminal response.completed and response.incomplete,
// whose "response" holds the whole answer, and response.output_item.done)
// are read with jsonscan in one pass, without decoding them into maps or
// structs. The scan models the shapes the backend sends; anything else (a
// duplicate or escaped key, a field of an unexpected type, a key that
// differs from the expected one only in case) makes it report !ok, and the
// caller decodes the event with encoding/json as before, so odd input
// keeps exactly its former handling (FuzzScanCodexEvent holds the two to
// the same answers).

// scanTerminal reads a response.completed or response.incomplete event:
// resp is the span of its "response" object (nil when the member is
// absent), usage its token accounting when it has one.
func scanTerminal(data []byte) (resp []byte, usage *Usage, ok bool) {
	o, err := jsonscan.OpenObject(data, jsonscan.SkipSpace(data, 0))
	if err != nil {
		return nil, nil, false
	}
	for {
		m, more, err := o.Next()
		if err != nil {
			return nil, nil, false
		}
		if !more {
			break
		}
		match, odd := jsonscan.KeyIs(m, "response")
		if odd || match && (resp != nil || data[m.Value] != '{') {
			return nil, nil, false
		}
		if !match {
			continue
		}
		end, u, ok := scanResponseUsage(data, m.Value)
		if !ok {
			return nil, nil, false
		}
		o.Resume(end)
		resp, usage = data[m.Value:end], u
	}
	if jsonscan.SkipSpace(data, o.End()) != len(data) {
		return nil, nil, false
	}
	return resp, usage, true
}

// scanResponseUsage reads the "usage" of the response object at b[i].
func scanResponseUsage(b []byte, i int) (end int, usage *Usage, ok bool) {
	o, err := jsonscan.OpenObject(b, i)
	if err != nil {
		return 0, nil, false
	}
	for {
		m, more, err := o.Next()
		if err != nil {
			return 0, nil, false
		}
		if !more {
			return o.End(), usage, true
		}
		match, odd := jsonscan.KeyIs(m, "usage")
		if odd || match && (usage != nil || b[m.Value] != '{') {
			return 0, nil, false
		}
		if !match {
			continue
		}
		var u Usage
		end, ok := scanMembers(b, m.Value, []intField{
			{"input_tokens", &u.InputTokens, nil},
			{"output_tokens", &u.OutputTokens, nil},
			{"total_tokens", &u.TotalTokens, nil},
			{"input_tokens_details", nil, []intField{{"cached_tokens", &u.CachedTokens, nil}}},
			{"output_tokens_details", nil, []intField{{"reasoning_tokens", &u.ReasoningTokens, nil}}},
		})
		if !ok {
			return 0, nil, false
		}
		o.Resume(end)
		usage = &u
	}
}

// intField is a member read by scanMembers: an integer stored in to, or an
// object whose members are read in turn.
type intField struct {
	name   string
	to     *int64
	nested []intField
}

// scanMembers reads the object at b[i], filling the fields it names; each
// may appear once.
func scanMembers(b []byte, i int, fields []intField) (end int, ok bool) {
	o, err := jsonscan.OpenObject(b, i)
	if err != nil {
		return 0, false
	}
	var seen uint64
	for {
		m, more, err := o.Next()
		if err != nil {
			return 0, false
		}
		if !more {
			return o.End(), true
		}
		for f := range fields {
			match, odd := jsonscan.KeyIs(m, fields[f].name)
			if odd || match && seen&(1<<f) != 0 {
				return 0, false
			}
			if !match {
				continue
			}
			seen |= 1 << f
			var end int
			if fields[f].to != nil {
				var n int64
				if n, end, ok = jsonscan.Int64(b, m.Value); !ok {
					return 0, false
				}
				*fields[f].to = n
			} else if b[m.Value] != '{' {
				return 0, false
			} else if end, ok = scanMembers(b, m.Value, fields[f].nested); !ok {
				return 0, false
			}
			o.Resume(end)
			break
		}
	}
}

// scanType returns the "type" member of an event's data.
func scanType(data []byte) (string, bool) {
	o, err := jsonscan.OpenObject(data, jsonscan.SkipSpace(data, 0))
	if err != nil {
		return "", false
	}
	var typ []byte
	for {
		m, more, err := o.Next()
		if err != nil {
			return "", false
		}
		if !more {
			break
		}
		match, odd := jsonscan.KeyIs(m, "type")
		if odd || match && (typ != nil || data[m.Value] != '"') {
			return "", false
		}
		if !match {
			continue
		}
		s, end, ok := jsonscan.PlainString(data, m.Value)
		if !ok {
			// encoding/json would unescape, or replace invalid UTF-8
			return "", false
		}
		o.Resume(end)
		typ = s
	}
	if jsonscan.SkipSpace(data, o.End()) != len(data) {
		return "", false
	}
	return eventType(typ), true
}

// eventType returns the known event types without allocating.
func eventType(b []byte) string {
	switch string(b) {
	case EventCompleted:
		return EventCompleted
	case EventFailed:
		return EventFailed
	case EventIncomplete:
		return EventIncomplete
	case EventError:
		return EventError
	case eventOutputItemDone:
		return eventOutputItemDone
	}
	return string(b)
}

// scanOutputItem reads a response.output_item.done event: its
// output_index and the span of its item (nil when absent).
func scanOutputItem(data []byte) (it outputItem, ok bool) {
	o, err := jsonscan.OpenObject(data, jsonscan.SkipSpace(data, 0))
	if err != nil {
		return outputItem{}, false
	}
	seenIndex := false
	for {
		m, more, err := o.Next()
		if err != nil {
			return outputItem{}, false
		}
		if !more {
			break
		}
		if match, odd := jsonscan.KeyIs(m, "output_index"); odd || match && seenIndex {
			return outputItem{}, false
		} else if match {
			seenIndex = true
			n, end, ok := jsonscan.Int64(data, m.Value)
			if !ok || n < math.MinInt || n > math.MaxInt {
				return outputItem{}, false
			}
			o.Resume(end)
			it.Index = int(n)
			continue
		}
		if match, odd := jsonscan.KeyIs(m, "item"); odd || match && it.Item != nil {
			return outputItem{}, false
		} else if match {
			end, err := o.Skip()
			if err != nil {
				return outputItem{}, false
			}
			it.Item = data[m.Value:end]
		}
	}
	if jsonscan.SkipSpace(data, o.End()) != len(data) {
		return outputItem{}, false
	}
	return it, true
}

// outputSpan is where a terminal event's response keeps its "output".
type outputSpan struct {
	// filled: the output is present and neither null nor an empty array;
	// OutputBackfill leaves such an event as it is.
	filled bool
	// start and end bound the output value; both are -1 when the response
	// has no output member.
	start, end int
	// close is the index of the response object's closing brace, and
	// empty reports that the object has no members.
	close int
	empty bool
}

// findOutput finds the output of a terminal event's response. ok is false
// when the scan cannot tell (a missing or duplicate response, odd keys,
// invalid JSON): the caller decodes the event.
func findOutput(data []byte) (sp outputSpan, ok bool) {
	o, err := jsonscan.OpenObject(data, jsonscan.SkipSpace(data, 0))
	if err != nil {
		return outputSpan{}, false
	}
	seen := false
	for {
		m, more, err := o.Next()
		if err != nil {
			return outputSpan{}, false
		}
		if !more {
			break
		}
		match, odd := jsonscan.KeyIs(m, "response")
		if odd || match && (seen || data[m.Value] != '{') {
			return outputSpan{}, false
		}
		if !match {
			continue
		}
		seen = true
		end, s, ok := scanOutput(data, m.Value)
		if !ok {
			return outputSpan{}, false
		}
		o.Resume(end)
		sp = s
	}
	if !seen || jsonscan.SkipSpace(data, o.End()) != len(data) {
		return outputSpan{}, false
	}
	return sp, true
}

// scanOutput reads the response object at b[i] for findOutput.
func scanOutput(b []byte, i int) (end int, sp outputSpan, ok bool) {
	o, err := jsonscan.OpenObject(b, i)
	if err != nil {
		return 0, outputSpan{}, false
	}
	sp = outputSpan{start: -1, end: -1, empty: true}
	for {
		m, more, err := o.Next()
		if err != nil {
			return 0, outputSpan{}, false
		}
		if !more {
			sp.close = o.End() - 1
			return o.End(), sp, true
		}
		sp.empty = false
		match, odd := jsonscan.KeyIs(m, "output")
		if odd || match && sp.start >= 0 {
			return 0, outputSpan{}, false
		}
		if !match {
			continue
		}
		end, err := o.Skip()
		if err != nil {
			return 0, outputSpan{}, false
		}
		sp.start, sp.end = m.Value, end
		switch b[m.Value] {
		case 'n':
			// null: filled in
		case '[':
			sp.filled = jsonscan.SkipSpace(b, m.Value+1) != end-1
		default:
			sp.filled = true // not an array: left as it is
		}
	}
}

// spliceOutput returns data with the output at sp (absent, null or empty)
// replaced by the items, in output_index order; every other byte of the
// event stays as it came.
func spliceOutput(data []byte, sp outputSpan, items []outputItem) []byte {
	slices.SortStableFunc(items, func(a, b outputItem) int { return a.Index - b.Index })
	size := len(data) + len(`,"output":[]`)
	for _, it := range items {
		size += len(it.Item) + 1
	}
	out := make([]byte, 0, size)
	start, end := sp.start, sp.end
	if start < 0 {
		start, end = sp.close, sp.close
	}
	out = append(out, data[:start]...)
	if sp.start < 0 {
		if !sp.empty {
			out = append(out, ',')
		}
		out = append(out, `"output":`...)
	}
	out = append(out, '[')
	for i, it := range items {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, bytes.TrimSpace(it.Item)...)
	}
	out = append(out, ']')
	return append(out, data[end:]...)
}
