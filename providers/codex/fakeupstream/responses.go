package fakeupstream

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// DefaultText is the assistant text of the default stream.
const DefaultText = "Hello, world"

// Stream scripts an SSE answer.
type Stream struct {
	// Events are sent in order; nil means the default answer for the
	// requested model.
	Events []Event
	// CutAfter > 0 ends the body cleanly after that many events, so the
	// stream lacks its terminal event.
	CutAfter int
	// Overloaded sends response.created, then at once response.failed with
	// server_is_overloaded.
	Overloaded bool
}

// Event is one scripted SSE event.
type Event struct {
	Name string
	Data string
	// Gate, when set, holds the event back until it receives or is closed
	// (or the client goes away).
	Gate <-chan struct{}
}

func (s *Server) handleResponses(w http.ResponseWriter, r *http.Request) {
	body, reply := s.record(r, Responses)
	a, ok := s.authorized(r)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, unauthorizedBody)
		return
	}
	over, limited := s.count(a.ID, Responses)
	var req struct {
		Model string `json:"model"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Model == "" {
		writeJSON(w, http.StatusBadRequest, `{"detail":"Invalid request body"}`)
		return
	}
	if limited {
		s.unpop(Responses, reply)
		reply = &over
	}
	if reply == nil {
		reply = &Reply{Stream: &Stream{}}
	}
	s.serveReply(w, r, reply, req.Model)
}

func (s *Server) handleCompact(w http.ResponseWriter, r *http.Request) {
	_, reply := s.record(r, Compact)
	a, ok := s.authorized(r)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, unauthorizedBody)
		return
	}
	s.count(a.ID, Compact)
	if reply == nil {
		reply = &Reply{Body: `{"output":[{"type":"compaction","encrypted_content":"fake-compacted-history"}]}`}
	}
	s.serveReply(w, r, reply, "")
}

// defaultEvents is a complete one-message answer, in the backend's order.
func defaultEvents(respID, model string) []Event {
	m := jsonString(model)
	id := jsonString(respID)
	const item = `"msg_fake0001"`
	text := jsonString(DefaultText)
	resp := func(status, extra string) string {
		return `{"id":` + id + `,"object":"response","created_at":1700000000,"status":"` + status + `","model":` + m + `,"output":[]` + extra + `}`
	}
	part := `{"type":"output_text","text":` + text + `,"annotations":[]}`
	usage := `,"usage":{"input_tokens":12,"input_tokens_details":{"cached_tokens":4},"output_tokens":5,"output_tokens_details":{"reasoning_tokens":2},"total_tokens":17}`
	evs := []struct{ name, rest string }{
		{"response.created", `"response":` + resp("in_progress", "")},
		{"response.in_progress", `"response":` + resp("in_progress", "")},
		{"response.output_item.added", `"output_index":0,"item":{"id":` + item + `,"type":"message","status":"in_progress","role":"assistant","content":[]}`},
		{"response.content_part.added", `"item_id":` + item + `,"output_index":0,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]}`},
		{"response.output_text.delta", `"item_id":` + item + `,"output_index":0,"content_index":0,"delta":` + jsonString(DefaultText[:5])},
		{"response.output_text.delta", `"item_id":` + item + `,"output_index":0,"content_index":0,"delta":` + jsonString(DefaultText[5:])},
		{"response.output_text.done", `"item_id":` + item + `,"output_index":0,"content_index":0,"text":` + text},
		{"response.content_part.done", `"item_id":` + item + `,"output_index":0,"content_index":0,"part":` + part},
		{"response.output_item.done", `"output_index":0,"item":{"id":` + item + `,"type":"message","status":"completed","role":"assistant","content":[` + part + `]}`},
		{"response.completed", `"response":` + resp("completed", usage)},
	}
	out := make([]Event, len(evs))
	for i, e := range evs {
		out[i] = Event{Name: e.name, Data: fmt.Sprintf(`{"type":%q,"sequence_number":%d,%s}`, e.name, i, e.rest)}
	}
	return out
}

// overloadedEvents is response.created followed at once by a failure.
func overloadedEvents(respID, model string) []Event {
	id, m := jsonString(respID), jsonString(model)
	return []Event{
		{Name: "response.created", Data: `{"type":"response.created","sequence_number":0,"response":{"id":` + id + `,"object":"response","created_at":1700000000,"status":"in_progress","model":` + m + `,"output":[]}}`},
		{Name: "response.failed", Data: `{"type":"response.failed","sequence_number":1,"response":{"id":` + id + `,"object":"response","created_at":1700000000,"status":"failed","model":` + m + `,"output":[],` +
			`"error":{"code":"server_is_overloaded","message":"Our servers are currently overloaded. Please try again later."}}}`},
	}
}
