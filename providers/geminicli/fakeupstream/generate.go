package fakeupstream

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Event is one scripted stream event.
type Event struct {
	// Data is the whole data payload (the v1internal envelope or an error
	// object), written as one "data: ..." event.
	Data string
	// Gate, when set, must yield (or be closed) before the event is written.
	Gate <-chan struct{}
}

// Stream is a scripted streamGenerateContent answer (status 200).
type Stream struct {
	// Events are sent in order; nil means DefaultStream for the requested
	// model (so a cut or a delay can apply to the default answer).
	Events []Event
	// CutAfter > 0 aborts the connection after that many events.
	CutAfter int
	// Delay holds the headers back for that long, or until the request is
	// cancelled.
	Delay time.Duration
}

// ScriptGenerate queues answers for the next generateContent,
// streamGenerateContent and countTokens calls (ahead of stream scripts).
func (s *Server) ScriptGenerate(rs ...Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.genScript = append(s.genScript, rs...)
}

// ScriptStream queues streams for the next streamGenerateContent calls.
func (s *Server) ScriptStream(st ...Stream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streamScript = append(s.streamScript, st...)
}

// GenerateCalls returns how many generate-family calls used accessToken.
func (s *Server) GenerateCalls(accessToken string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.generateCalls[accessToken]
}

// AccountCalls returns how many generate-family calls (generateContent and
// streamGenerateContent) the account behind refreshToken has made, whatever
// they were answered.
func (s *Server) AccountCalls(refreshToken string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accountCalls[refreshToken]
}

// SetAccountQuota makes every account answer over to each generate-family
// call after its first n (n <= 0 lifts the quota). Calls made before are
// counted too.
func (s *Server) SetAccountQuota(n int, over Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quota, s.overQuota = n, over
}

// envelope is the v1internal generate request.
type envelope struct {
	Model        string          `json:"model"`
	Project      string          `json:"project"`
	UserPromptID string          `json:"user_prompt_id"`
	Request      json.RawMessage `json:"request"`
}

// generateCall authorizes, counts and validates a generate-family call. It
// returns false when it has answered already (error or scripted reply).
func (s *Server) generateCall(w http.ResponseWriter, r *http.Request) (envelope, bool) {
	_, tok, ok := s.authorize(w, r)
	if !ok {
		return envelope{}, false
	}
	s.mu.Lock()
	s.generateCalls[tok]++
	refresh := s.access[tok]
	s.accountCalls[refresh]++
	over := s.quota > 0 && s.accountCalls[refresh] > s.quota
	overQuota := s.overQuota
	s.mu.Unlock()
	var env envelope
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &env); err != nil || env.Model == "" || env.Project == "" ||
		len(env.Request) == 0 || env.Request[0] != '{' {
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT",
			"Invalid JSON payload received: the envelope needs model, project and request.")
		return envelope{}, false
	}
	if over {
		serveResponse(w, r, overQuota)
		return envelope{}, false
	}
	if s.scripted(w, r) {
		return envelope{}, false
	}
	return env, true
}

// scripted writes the next scripted generate answer, if any, and reports
// whether the request is done with (answered, or cancelled during a delay).
func (s *Server) scripted(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	if len(s.genScript) == 0 {
		s.mu.Unlock()
		return false
	}
	resp := s.genScript[0]
	s.genScript = s.genScript[1:]
	s.mu.Unlock()
	if resp.Delay > 0 && resp.Status == 0 && resp.Body == "" && resp.Header == nil && !resp.Reset {
		// Only a delay: the unscripted answer follows it (unless the
		// client gave up meanwhile, which ends the request).
		return !wait(r, resp.Delay)
	}
	serveResponse(w, r, resp)
	return true
}

func (s *Server) generate(w http.ResponseWriter, r *http.Request) {
	env, ok := s.generateCall(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"response": map[string]any{
			"candidates": []any{map[string]any{
				"content":      map[string]any{"role": "model", "parts": []any{map[string]any{"text": "echo: " + env.Model}}},
				"finishReason": "STOP",
			}},
			"usageMetadata": map[string]any{"promptTokenCount": 4, "candidatesTokenCount": 3, "totalTokenCount": 7},
			"modelVersion":  env.Model,
			"responseId":    "fake-response",
		},
		"traceId": "fake-trace",
	})
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("alt") != "sse" {
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "streamGenerateContent needs alt=sse here.")
		return
	}
	env, ok := s.generateCall(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	var st Stream
	if len(s.streamScript) > 0 {
		st = s.streamScript[0]
		s.streamScript = s.streamScript[1:]
	}
	if st.Events == nil {
		st.Events = DefaultStream(env.Model).Events
	}
	s.mu.Unlock()
	if !wait(r, st.Delay) {
		return
	}

	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	for i, ev := range st.Events {
		if st.CutAfter > 0 && i >= st.CutAfter {
			panic(http.ErrAbortHandler)
		}
		if ev.Gate != nil {
			select {
			case <-ev.Gate:
			case <-r.Context().Done():
				return
			}
		}
		if _, err := fmt.Fprintf(w, "data: %s\r\n\r\n", ev.Data); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
	if st.CutAfter > 0 && len(st.Events) >= st.CutAfter {
		panic(http.ErrAbortHandler)
	}
}

// DefaultStream is the unscripted stream for model: two text chunks, then
// an empty chunk with finishReason STOP and usageMetadata.
func DefaultStream(model string) Stream {
	chunk := func(text, finish string, usage bool) Event {
		cand := map[string]any{"content": map[string]any{"role": "model", "parts": []any{map[string]any{"text": text}}}}
		if finish != "" {
			cand["finishReason"] = finish
		}
		resp := map[string]any{"candidates": []any{cand}, "modelVersion": model, "responseId": "fake-stream"}
		if usage {
			resp["usageMetadata"] = map[string]any{"promptTokenCount": 4, "candidatesTokenCount": 2, "totalTokenCount": 6}
		}
		b, _ := json.Marshal(map[string]any{"response": resp, "traceId": "fake-trace"})
		return Event{Data: string(b)}
	}
	return Stream{Events: []Event{chunk("Hel", "", false), chunk("lo", "", false), chunk("", "STOP", true)}}
}

func (s *Server) countTokens(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := s.authorize(w, r); !ok {
		return
	}
	var env struct {
		Request struct {
			Model    string            `json:"model"`
			Contents []json.RawMessage `json:"contents"`
		} `json:"request"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &env); err != nil || !strings.HasPrefix(env.Request.Model, "models/") {
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT",
			"Invalid JSON payload received: request.model must be models/<id>.")
		return
	}
	if s.scripted(w, r) {
		return
	}
	total := 0
	for _, c := range env.Request.Contents {
		total += len(c)/4 + 1
	}
	writeJSON(w, http.StatusOK, map[string]any{"totalTokens": total})
}
