package geminicli

import "github.com/pollux-gateway/pollux/providers/jsonscan"

// One pass over a Code Assist event.
//
// Most of a stream's events are text deltas the gateway only unwraps:
// scanEvent validates the event, finds its "response" value and reads the
// finish reasons and usage counts on the way, without decoding anything
// into maps or structs. It models the shapes Code Assist sends; anything
// else (an error member, a duplicate or escaped key, a field of an
// unexpected type, a key that differs from the expected one only in case)
// makes it report !ok, and the caller decodes the event with encoding/json
// as before, so odd input keeps exactly its former handling
// (FuzzScanEvent holds the two to the same answers).

// summary is what Pollux reads of a Gemini response.
type summary struct {
	// finished: some candidate carries a non-empty finishReason.
	finished bool
	hasUsage bool
	usage    Usage
}

// scanEvent reads the envelope {"response": {...}, ...}. resp is the
// response value's span (nil when the member is absent or null), not a
// copy.
func scanEvent(data []byte) (resp []byte, sum summary, ok bool) {
	start := jsonscan.SkipSpace(data, 0)
	o, err := jsonscan.OpenObject(data, start)
	if err != nil {
		return nil, summary{}, false
	}
	seen := false
	for {
		m, more, err := o.Next()
		if err != nil {
			return nil, summary{}, false
		}
		if !more {
			break
		}
		if match, odd := jsonscan.KeyIs(m, "response"); odd {
			return nil, summary{}, false
		} else if match {
			if seen {
				return nil, summary{}, false
			}
			seen = true
			switch data[m.Value] {
			case 'n':
				if _, err := o.Skip(); err != nil {
					return nil, summary{}, false
				}
			case '{':
				end, s, ok := scanResponse(data, m.Value)
				if !ok {
					return nil, summary{}, false
				}
				o.Resume(end)
				resp, sum = data[m.Value:end], s
			default:
				return nil, summary{}, false
			}
			continue
		}
		if match, odd := jsonscan.KeyIs(m, "error"); match || odd {
			return nil, summary{}, false
		}
	}
	if jsonscan.SkipSpace(data, o.End()) != len(data) {
		return nil, summary{}, false
	}
	return resp, sum, true
}

// scanResponse reads the Gemini response object at b[i] and returns the
// index just past it.
func scanResponse(b []byte, i int) (end int, sum summary, ok bool) {
	o, err := jsonscan.OpenObject(b, i)
	if err != nil {
		return 0, summary{}, false
	}
	var seenCandidates bool
	for {
		m, more, err := o.Next()
		if err != nil {
			return 0, summary{}, false
		}
		if !more {
			return o.End(), sum, true
		}
		if match, odd := jsonscan.KeyIs(m, "candidates"); odd {
			return 0, summary{}, false
		} else if match {
			if seenCandidates {
				return 0, summary{}, false
			}
			seenCandidates = true
			end, finished, ok := scanCandidates(b, m.Value)
			if !ok {
				return 0, summary{}, false
			}
			o.Resume(end)
			sum.finished = finished
			continue
		}
		if match, odd := jsonscan.KeyIs(m, "usageMetadata"); odd {
			return 0, summary{}, false
		} else if match {
			if sum.hasUsage {
				return 0, summary{}, false
			}
			end, u, ok := scanUsage(b, m.Value)
			if !ok {
				return 0, summary{}, false
			}
			o.Resume(end)
			sum.usage, sum.hasUsage = u, true
		}
	}
}

// scanCandidates reads the candidates array at b[i]: finished reports a
// non-empty finishReason on any of them.
func scanCandidates(b []byte, i int) (end int, finished, ok bool) {
	a, err := jsonscan.OpenArray(b, i)
	if err != nil {
		return 0, false, false
	}
	for {
		v, more, err := a.Next()
		if err != nil {
			return 0, false, false
		}
		if !more {
			return a.End(), finished, true
		}
		o, err := jsonscan.OpenObject(b, v)
		if err != nil {
			return 0, false, false
		}
		seenReason := false
		for {
			m, more, err := o.Next()
			if err != nil {
				return 0, false, false
			}
			if !more {
				break
			}
			match, odd := jsonscan.KeyIs(m, "finishReason")
			if odd || match && (seenReason || b[m.Value] != '"') {
				return 0, false, false
			}
			if !match {
				continue
			}
			seenReason = true
			end, err := o.Skip()
			if err != nil {
				return 0, false, false
			}
			// Any escape decodes to at least one character, so a
			// reason is empty exactly when its quotes are adjacent.
			finished = finished || end-m.Value > 2
		}
		a.Resume(o.End())
	}
}

// usageFields are the usageMetadata members Pollux reads, in the order of
// the bits scanUsage keeps for them.
var usageFields = [...]string{"promptTokenCount", "candidatesTokenCount", "totalTokenCount", "thoughtsTokenCount", "cachedContentTokenCount"}

// scanUsage reads the usageMetadata object at b[i].
func scanUsage(b []byte, i int) (end int, u Usage, ok bool) {
	o, err := jsonscan.OpenObject(b, i)
	if err != nil {
		return 0, Usage{}, false
	}
	var seen uint8
	for {
		m, more, err := o.Next()
		if err != nil {
			return 0, Usage{}, false
		}
		if !more {
			return o.End(), u, true
		}
		for f, name := range usageFields {
			match, odd := jsonscan.KeyIs(m, name)
			if odd || match && seen&(1<<f) != 0 {
				return 0, Usage{}, false
			}
			if !match {
				continue
			}
			seen |= 1 << f
			n, end, ok := jsonscan.Int64(b, m.Value)
			if !ok {
				return 0, Usage{}, false
			}
			o.Resume(end)
			*usageField(&u, f) = n
			break
		}
	}
}

func usageField(u *Usage, f int) *int64 {
	switch f {
	case 0:
		return &u.Prompt
	case 1:
		return &u.Candidates
	case 2:
		return &u.Total
	case 3:
		return &u.Thoughts
	}
	return &u.Cached
}

// scanUsageOf reads the usage of a bare Gemini response (a unary reply).
func scanUsageOf(response []byte) (*Usage, bool) {
	start := jsonscan.SkipSpace(response, 0)
	if start >= len(response) || response[start] != '{' {
		return nil, false
	}
	end, sum, ok := scanResponse(response, start)
	if !ok || jsonscan.SkipSpace(response, end) != len(response) {
		return nil, false
	}
	if !sum.hasUsage {
		return nil, true
	}
	u := sum.usage
	return &u, true
}
