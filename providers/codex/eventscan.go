package codex

import (
	"math"

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
		end, escaped, err := jsonscan.String(data, m.Value)
		if err != nil || escaped {
			return "", false
		}
		o.Resume(end)
		typ = data[m.Value+1 : end-1]
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

// outputFilled reports whether a terminal event's response has a non-empty
// "output" array, which OutputBackfill leaves as it is. false means only
// "not shown by the scan": the caller decodes the event.
func outputFilled(data []byte) bool {
	o, err := jsonscan.OpenObject(data, jsonscan.SkipSpace(data, 0))
	if err != nil {
		return false
	}
	filled, seen := false, false
	for {
		m, more, err := o.Next()
		if err != nil {
			return false
		}
		if !more {
			break
		}
		match, odd := jsonscan.KeyIs(m, "response")
		if odd || match && (seen || data[m.Value] != '{') {
			return false
		}
		if !match {
			continue
		}
		seen = true
		end, f, ok := scanOutput(data, m.Value)
		if !ok {
			return false
		}
		o.Resume(end)
		filled = f
	}
	return filled && jsonscan.SkipSpace(data, o.End()) == len(data)
}

// scanOutput reads the response object at b[i]: filled reports an "output"
// array with at least one element.
func scanOutput(b []byte, i int) (end int, filled, ok bool) {
	o, err := jsonscan.OpenObject(b, i)
	if err != nil {
		return 0, false, false
	}
	seen := false
	for {
		m, more, err := o.Next()
		if err != nil {
			return 0, false, false
		}
		if !more {
			return o.End(), filled, true
		}
		match, odd := jsonscan.KeyIs(m, "output")
		if odd || match && (seen || b[m.Value] != '[') {
			return 0, false, false
		}
		if !match {
			continue
		}
		seen = true
		a, err := jsonscan.OpenArray(b, m.Value)
		if err != nil {
			return 0, false, false
		}
		for {
			_, more, err := a.Next()
			if err != nil {
				return 0, false, false
			}
			if !more {
				break
			}
			filled = true
		}
		o.Resume(a.End())
	}
}
