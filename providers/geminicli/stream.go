package geminicli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/sse"
)

// Usage is the token accounting of one reply (usageMetadata).
type Usage struct {
	Prompt     int64
	Candidates int64
	Total      int64
	Thoughts   int64
	// Cached is the part of Prompt served from the context cache.
	Cached int64
}

// StreamEvent is one upstream SSE event translated for the client.
type StreamEvent struct {
	// Data is the inner response JSON to send the client as `data: ...`;
	// nil means there is nothing to send. It is a copy, safe to keep after
	// the reader moves on.
	Data []byte
	// Finished reports that a candidate carried a finishReason: the stream
	// completed well.
	Finished bool
	// Failure is set when the event is an error object (e.g. a quota error
	// mid-stream), classified like a non-2xx answer.
	Failure *providers.Outcome
	// Usage holds the usageMetadata counts when the event carries them.
	Usage *Usage
}

// streamEnvelope is one upstream event: a response envelope or an error.
type streamEnvelope struct {
	Response json.RawMessage `json:"response"`
	Error    *apiError       `json:"error"`
}

// responseSummary is what Pollux reads of a Gemini response; the bytes
// themselves go to the client unchanged.
type responseSummary struct {
	Candidates []struct {
		FinishReason string `json:"finishReason"`
	} `json:"candidates"`
	UsageMetadata *struct {
		PromptTokenCount     int64 `json:"promptTokenCount"`
		CandidatesTokenCount int64 `json:"candidatesTokenCount"`
		TotalTokenCount      int64 `json:"totalTokenCount"`
		ThoughtsTokenCount   int64 `json:"thoughtsTokenCount"`
		CachedContentTokens  int64 `json:"cachedContentTokenCount"`
	} `json:"usageMetadata"`
}

// TranslateEvent unwraps one upstream streamGenerateContent event. A
// mid-stream error's RetryAt is computed from the wall clock; use
// (*Client).TranslateEvent for the client's injected clock.
func TranslateEvent(ev sse.Event) (StreamEvent, error) {
	return translateEvent(time.Now(), ev)
}

// TranslateEvent is the package TranslateEvent with the client's clock.
// It also records the chunk's thought signatures for later repair.
func (c *Client) TranslateEvent(ev sse.Event) (StreamEvent, error) {
	se, err := translateEvent(c.now(), ev)
	if err == nil && se.Data != nil {
		c.sigs.Record(se.Data)
	}
	return se, err
}

// Keys whose presence makes a chunk worth decoding in full.
var (
	finishReasonKey  = []byte(`"finishReason"`)
	usageMetadataKey = []byte(`"usageMetadata"`)
)

func translateEvent(now time.Time, ev sse.Event) (StreamEvent, error) {
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 {
		return StreamEvent{}, nil
	}
	resp, sum, ok := scanEvent(data)
	if !ok {
		return decodeEvent(now, data)
	}
	if resp == nil {
		// An envelope with only metadata (traceId): nothing for the client.
		return StreamEvent{}, nil
	}
	out := StreamEvent{Data: bytes.Clone(resp), Finished: sum.finished}
	if sum.hasUsage {
		u := sum.usage
		out.Usage = &u
	}
	return out, nil
}

// decodeEvent is translateEvent by encoding/json, for the events scanEvent
// leaves to it: error objects, malformed and unusual events.
func decodeEvent(now time.Time, data []byte) (StreamEvent, error) {
	var env streamEnvelope
	if err := json.Unmarshal(data, &env); err != nil {
		return StreamEvent{}, fmt.Errorf("geminicli: stream event: %w", err)
	}
	if env.Error != nil {
		status := env.Error.Code
		if status < 400 {
			status = statusFromRPC(env.Error.Status)
		}
		out := classifyError(now, status, nil, env.Error)
		return StreamEvent{Failure: &out}, nil
	}
	if len(env.Response) == 0 || string(env.Response) == "null" {
		// An envelope with only metadata (traceId): nothing for the client.
		return StreamEvent{}, nil
	}
	out := StreamEvent{Data: env.Response}
	// Most chunks carry neither a finish reason nor usage: a byte search
	// spares them a second full decode. The decode stays authoritative.
	if !bytes.Contains(env.Response, finishReasonKey) && !bytes.Contains(env.Response, usageMetadataKey) {
		return out, nil
	}
	var sum responseSummary
	if err := json.Unmarshal(env.Response, &sum); err != nil {
		return StreamEvent{}, fmt.Errorf("geminicli: stream event response: %w", err)
	}
	out.Usage = sum.usage()
	for _, c := range sum.Candidates {
		if c.FinishReason != "" {
			out.Finished = true
			break
		}
	}
	return out, nil
}

// UsageOf returns the usageMetadata counts of a (non-stream, unwrapped)
// response body, or nil when it has none.
func UsageOf(response []byte) *Usage {
	if u, ok := scanUsageOf(response); ok {
		return u
	}
	return decodeUsageOf(response)
}

// decodeUsageOf is UsageOf by encoding/json.
func decodeUsageOf(response []byte) *Usage {
	var sum responseSummary
	if json.Unmarshal(response, &sum) != nil {
		return nil
	}
	return sum.usage()
}

func (s *responseSummary) usage() *Usage {
	if s.UsageMetadata == nil {
		return nil
	}
	u := s.UsageMetadata
	return &Usage{
		Prompt:     u.PromptTokenCount,
		Candidates: u.CandidatesTokenCount,
		Total:      u.TotalTokenCount,
		Thoughts:   u.ThoughtsTokenCount,
		Cached:     u.CachedContentTokens,
	}
}
