package codex

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
	"github.com/pollux-gateway/pollux/providers/sse"
)

func outcome(k providers.Kind, s providers.Scope, reason string, retryAt time.Time) *providers.Outcome {
	return &providers.Outcome{Kind: k, Scope: s, Status: 200, Reason: reason, RetryAt: retryAt}
}

func TestInspectEvent(t *testing.T) {
	resetsAt := int64(1700005000)
	tests := []struct {
		name string
		ev   sse.Event
		want EventInfo
	}{
		{
			name: "named delta",
			ev:   sse.Event{Name: "response.output_text.delta", Data: []byte(`{"type":"response.output_text.delta","delta":"hi"}`)},
			want: EventInfo{Type: "response.output_text.delta"},
		},
		{
			name: "type from data",
			ev:   sse.Event{Data: []byte(`{"type":"response.output_item.added","item":{}}`)},
			want: EventInfo{Type: "response.output_item.added"},
		},
		{
			name: "type not first",
			ev:   sse.Event{Data: []byte(`{"sequence_number":3, "type" : "response.in_progress"}`)},
			want: EventInfo{Type: "response.in_progress"},
		},
		{
			name: "completed with usage",
			ev: sse.Event{Name: "response.completed", Data: []byte(`{"type":"response.completed","response":{"id":"r","status":"completed","output":[],` +
				`"usage":{"input_tokens":10,"input_tokens_details":{"cached_tokens":3},"output_tokens":7,"output_tokens_details":{"reasoning_tokens":2},"total_tokens":17}}}`)},
			want: EventInfo{Type: EventCompleted, Terminal: true, Completed: true, Usage: &Usage{InputTokens: 10, OutputTokens: 7, TotalTokens: 17, CachedTokens: 3, ReasoningTokens: 2}},
		},
		{
			name: "incomplete",
			ev:   sse.Event{Data: []byte(`{"type":"response.incomplete","response":{"id":"r","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"}}}`)},
			want: EventInfo{Type: EventIncomplete, Terminal: true},
		},
		{
			name: "failed overloaded",
			ev:   sse.Event{Name: "response.failed", Data: []byte(`{"type":"response.failed","response":{"id":"r","status":"failed","error":{"code":"server_is_overloaded","message":"Our servers are currently overloaded."}}}`)},
			want: EventInfo{Type: EventFailed, Terminal: true,
				Failure: outcome(providers.KindOverloaded, providers.ScopeModel, "server_is_overloaded", time.Time{}),
				Error:   &APIError{Message: "Our servers are currently overloaded.", Type: "upstream_error", Code: "server_is_overloaded"}},
		},
		{
			name: "failed slow_down",
			ev:   sse.Event{Name: "response.failed", Data: []byte(`{"type":"response.failed","response":{"error":{"code":"slow_down","message":"slow down"}}}`)},
			want: EventInfo{Type: EventFailed, Terminal: true,
				Failure: outcome(providers.KindOverloaded, providers.ScopeModel, "slow_down", time.Time{}),
				Error:   &APIError{Message: "slow down", Type: "upstream_error", Code: "slow_down"}},
		},
		{
			name: "failed rate limit",
			ev:   sse.Event{Name: "response.failed", Data: []byte(`{"type":"response.failed","response":{"error":{"code":"rate_limit_exceeded","message":"Rate limit reached"}}}`)},
			want: EventInfo{Type: EventFailed, Terminal: true,
				Failure: outcome(providers.KindRateLimited, providers.ScopeCredential, "rate_limit_exceeded", time.Time{}),
				Error:   &APIError{Message: "Rate limit reached", Type: "upstream_error", Code: "rate_limit_exceeded"}},
		},
		{
			name: "failed usage limit",
			ev:   sse.Event{Name: "response.failed", Data: []byte(`{"type":"response.failed","response":{"error":{"type":"usage_limit_reached","message":"limit","resets_at":1700005000}}}`)},
			want: EventInfo{Type: EventFailed, Terminal: true,
				Failure: outcome(providers.KindQuotaExhausted, providers.ScopeCredential, "usage_limit_reached", time.Unix(resetsAt, 0)),
				Error:   &APIError{Message: "limit", Type: "usage_limit_reached", ResetsAt: &resetsAt}},
		},
		{
			name: "error event context length",
			ev:   sse.Event{Name: "error", Data: []byte(`{"type":"error","code":"context_length_exceeded","message":"Your input exceeds the context window of this model.","param":"input","sequence_number":2}`)},
			want: EventInfo{Type: EventError, Terminal: true,
				Failure: outcome(providers.KindBadRequest, providers.ScopeModel, "context_length_exceeded", time.Time{}),
				Error:   &APIError{Message: "Your input exceeds the context window of this model.", Type: "upstream_error", Code: "context_length_exceeded", Param: "input"}},
		},
		{
			name: "nested error event invalid prompt",
			ev:   sse.Event{Data: []byte(`{"type":"error","error":{"type":"invalid_request_error","code":"invalid_prompt","message":"flagged"}}`)},
			want: EventInfo{Type: EventError, Terminal: true,
				Failure: outcome(providers.KindBadRequest, providers.ScopeModel, "invalid_prompt", time.Time{}),
				Error:   &APIError{Message: "flagged", Type: "invalid_request_error", Code: "invalid_prompt"}},
		},
		{
			name: "failed without error",
			ev:   sse.Event{Name: "response.failed", Data: []byte(`{"type":"response.failed","response":{"id":"r","status":"failed"}}`)},
			want: EventInfo{Type: EventFailed, Terminal: true,
				Failure: outcome(providers.KindTransient, providers.ScopeModel, "response_failed", time.Time{}),
				Error:   &APIError{Message: "upstream error", Type: "upstream_error"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := inspect(tt.ev, testNow)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("inspect (-want +got):\n%s", diff)
			}
		})
	}
}

// TestInspectEventWallClock: the exported form measures relative resets
// from now, not from the zero time.
func TestInspectEventWallClock(t *testing.T) {
	before := time.Now()
	got := InspectEvent(sse.Event{Name: "error", Data: []byte(`{"type":"error","code":"usage_limit_reached","resets_in_seconds":60}`)})
	if got.Failure == nil || got.Failure.RetryAt.Before(before.Add(60*time.Second)) {
		t.Fatalf("Failure = %+v, want a RetryAt a minute from now", got.Failure)
	}
}

// collectFrom sends one call through the fake and collects its stream.
func collectFrom(t *testing.T, h *harness, reply *fakeupstream.Reply) ([]byte, EventInfo, error) {
	t.Helper()
	cred := h.onboarded(t)
	if reply != nil {
		h.fake.Push(fakeupstream.Responses, *reply)
	}
	body, _, _, err := Normalize([]byte(`{"model":"gpt-5-codex","input":"hi","stream":false}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := h.client.Send(t.Context(), grantOf(cred), &providers.Call{Model: "gpt-5-codex", Method: MethodResponses, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := resp.Body.Close(); err != nil {
			t.Error(err)
		}
	}()
	if resp.StatusCode != 200 {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	return Collect(resp.Body)
}

func TestCollectCompleted(t *testing.T) {
	h := newHarness(t)
	out, info, err := collectFrom(t, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Completed || info.Usage == nil || info.Usage.TotalTokens != 17 {
		t.Errorf("info = %+v, want completed with 17 tokens", info)
	}
	var resp struct {
		Model  string `json:"model"`
		Status string `json:"status"`
		Output []struct {
			Type    string `json:"type"`
			Content []struct {
				Text string `json:"text"`
			} `json:"content"`
		} `json:"output"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("response is not JSON: %v", err)
	}
	if resp.Model != "gpt-5-codex" || resp.Status != "completed" {
		t.Errorf("model/status = %q/%q", resp.Model, resp.Status)
	}
	if len(resp.Output) != 1 || len(resp.Output[0].Content) != 1 || resp.Output[0].Content[0].Text != fakeupstream.DefaultText {
		t.Errorf("output = %+v, want the streamed message %q", resp.Output, fakeupstream.DefaultText)
	}
}

func TestCollectFailed(t *testing.T) {
	h := newHarness(t)
	_, info, err := collectFrom(t, h, &fakeupstream.Reply{Stream: &fakeupstream.Stream{Overloaded: true}})
	if !errors.Is(err, ErrStreamFailed) {
		t.Fatalf("err = %v, want ErrStreamFailed", err)
	}
	if info.Failure == nil || info.Failure.Kind != providers.KindOverloaded || info.Error == nil || info.Error.Code != "server_is_overloaded" {
		t.Errorf("info = %+v, want an overloaded failure", info)
	}
}

func TestCollectTruncated(t *testing.T) {
	h := newHarness(t)
	_, _, err := collectFrom(t, h, &fakeupstream.Reply{Stream: &fakeupstream.Stream{CutAfter: 5}})
	if !errors.Is(err, ErrStreamTruncated) {
		t.Fatalf("err = %v, want ErrStreamTruncated", err)
	}
}

func TestCollectReader(t *testing.T) {
	item := func(i int, id string) string {
		return `event: response.output_item.done` + "\n" + `data: {"type":"response.output_item.done","output_index":` + string(rune('0'+i)) + `,"item":{"id":"` + id + `"}}` + "\n\n"
	}
	tests := []struct {
		name    string
		stream  string
		want    string
		wantErr error
	}{
		{
			name:   "output kept when present",
			stream: item(0, "a") + "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"output\":[{\"id\":\"x\"}]}}\n\n",
			want:   `{"id":"r","output":[{"id":"x"}]}`,
		},
		{
			name:   "empty output backfilled in index order",
			stream: item(1, "b") + item(0, "a") + "data: {\"type\":\"response.completed\",\"response\":{\"status\":\"completed\",\"output\":[],\"id\":\"r\"}}\n\n",
			want:   `{"id":"r","output":[{"id":"a"},{"id":"b"}],"status":"completed"}`,
		},
		{
			name:   "incomplete is returned",
			stream: "event: response.incomplete\ndata: {\"type\":\"response.incomplete\",\"response\":{\"status\":\"incomplete\"}}\n\n",
			want:   `{"status":"incomplete"}`,
		},
		{
			name:    "cut inside an event",
			stream:  "event: response.created\ndata: {\"type\":\"response.created\"}\n\nevent: response.completed\ndata: {\"type\":\"resp",
			wantErr: ErrStreamTruncated,
		},
		{
			name:    "empty",
			stream:  "",
			wantErr: ErrStreamTruncated,
		},
		{
			name:    "terminal without response",
			stream:  "event: response.completed\ndata: {\"type\":\"response.completed\"}\n\n",
			wantErr: ErrStreamFailed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := collect(io.MultiReader(strings.NewReader(tt.stream)), testNow)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if string(got) != tt.want {
				t.Errorf("response = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestOutputBackfill(t *testing.T) {
	item := func(i int, text string) sse.Event {
		return sse.Event{Name: "response.output_item.done", Data: []byte(fmt.Sprintf(
			`{"type":"response.output_item.done","output_index":%d,"item":{"type":"message","id":"m%d","content":[{"type":"output_text","text":%q}]}}`, i, i, text))}
	}
	tests := []struct {
		name     string
		events   []sse.Event
		terminal string
		wantOut  string // the output array after Complete ("" = data unchanged)
	}{
		{"empty output is filled in index order", []sse.Event{item(1, "b"), item(0, "a")},
			`{"type":"response.completed","response":{"id":"r","output":[]}}`,
			`[{"type":"message","id":"m0","content":[{"type":"output_text","text":"a"}]},{"type":"message","id":"m1","content":[{"type":"output_text","text":"b"}]}]`},
		{"missing output is filled", []sse.Event{item(0, "a")},
			`{"type":"response.completed","response":{"id":"r"}}`,
			`[{"type":"message","id":"m0","content":[{"type":"output_text","text":"a"}]}]`},
		{"a full output is left alone", []sse.Event{item(0, "a")},
			`{"type":"response.completed","response":{"id":"r","output":[{"type":"message","id":"x"}]}}`, ""},
		{"nothing observed", nil, `{"type":"response.completed","response":{"output":[]}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b OutputBackfill
			for _, ev := range tt.events {
				b.Observe(ev, InspectEvent(ev))
			}
			got := b.Complete([]byte(tt.terminal))
			if tt.wantOut == "" {
				if string(got) != tt.terminal {
					t.Fatalf("data changed: %s", got)
				}
				return
			}
			var ev struct {
				Type     string `json:"type"`
				Response struct {
					ID     string          `json:"id"`
					Output json.RawMessage `json:"output"`
				} `json:"response"`
			}
			if err := json.Unmarshal(got, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Type != "response.completed" || ev.Response.ID == "" && strings.Contains(tt.terminal, `"id"`) {
				t.Fatalf("event lost its fields: %s", got)
			}
			if string(ev.Response.Output) != tt.wantOut {
				t.Fatalf("output = %s, want %s", ev.Response.Output, tt.wantOut)
			}
		})
	}
}
