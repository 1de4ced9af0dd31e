package main

import (
	"net/http"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
	geminifake "github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
)

// anthropicPools are the Messages mounts the SDK is pointed at, with a
// model each serves and the text of the fake's default answer.
var anthropicPools = []struct {
	name, prefix, model, text string
}{
	{"geminicli", "/geminicli", "gemini-2.5-pro", "Hello"},
	{"codex", "/codex", "gpt-5.2-codex", codexfake.DefaultText},
}

// anthropicSummary is what anthropic.mjs prints.
type anthropicSummary struct {
	Unary struct {
		Type, Role, Model, Text string
		StopReason              string `json:"stopReason"`
		OutputTokens            int    `json:"outputTokens"`
	} `json:"unary"`
	Stream struct {
		Events []string `json:"events"`
		Text   string   `json:"text"`
	} `json:"stream"`
	Helper struct {
		DeltaText  string `json:"deltaText"`
		Text       string `json:"text"`
		StopReason string `json:"stopReason"`
	} `json:"helper"`
	CountTokens  int      `json:"countTokens"`
	Models       []string `json:"models"`
	UnknownModel struct {
		Thrown bool   `json:"thrown"`
		Status int    `json:"status"`
		Type   string `json:"type"`
	} `json:"unknownModel"`
	First struct {
		StopReason string   `json:"stopReason"`
		Types      []string `json:"types"`
		Call       *struct {
			ID, Name string
			Input    map[string]any
		} `json:"call"`
	} `json:"first"`
	Second struct {
		StopReason string `json:"stopReason"`
		Text       string `json:"text"`
	} `json:"second"`
	Thinking struct {
		Types         []string `json:"types"`
		ThinkingDelta string   `json:"thinkingDelta"`
		Thinking      string   `json:"thinking"`
		Signature     string   `json:"signature"`
		Calls         []struct {
			ID, Name string
			Input    map[string]any
		} `json:"calls"`
		StopReason string `json:"stopReason"`
	} `json:"thinking"`
}

// testAnthropic runs @anthropic-ai/sdk against both pools: messages.create
// unary and streamed, messages.stream, countTokens, models.list, an unknown
// model, a tool round trip and thinking.
func testAnthropic(t *testing.T, node string) {
	for _, p := range anthropicPools {
		env := func(scenario string) map[string]string {
			return map[string]string{"POLLUX_SCENARIO": scenario, "POLLUX_PREFIX": p.prefix, "POLLUX_MODEL": p.model}
		}
		t.Run(p.name+"/basic", func(t *testing.T) {
			_, in := conformancePollux(t)
			var got anthropicSummary
			runScript(t, node, in, "anthropic.mjs", env("basic"), &got)
			if u := got.Unary; u.Type != "message" || u.Role != "assistant" || u.Model != p.model || u.Text != p.text || u.StopReason != "end_turn" {
				t.Errorf("messages.create = %+v, want an end_turn message with %q", u, p.text)
			}
			wantEvents := []string{"message_start", "content_block_start"}
			for range got.Stream.Events[2 : len(got.Stream.Events)-3] {
				wantEvents = append(wantEvents, "content_block_delta")
			}
			wantEvents = append(wantEvents, "content_block_stop", "message_delta", "message_stop")
			if diff := cmp.Diff(wantEvents, got.Stream.Events); diff != "" || got.Stream.Text != p.text {
				t.Errorf("stream events (-want +got):\n%s text %q, want %q", diff, got.Stream.Text, p.text)
			}
			if h := got.Helper; h.DeltaText != p.text || h.Text != p.text || h.StopReason != "end_turn" {
				t.Errorf("messages.stream = %+v", h)
			}
			if got.CountTokens < 1 {
				t.Errorf("countTokens = %d", got.CountTokens)
			}
			if !slices.Contains(got.Models, p.model) {
				t.Errorf("models.list = %v, want it to hold %s", got.Models, p.model)
			}
			if m := got.UnknownModel; !m.Thrown || m.Status != http.StatusNotFound || m.Type != "not_found_error" {
				t.Errorf("unknown model: %+v, want a thrown 404 not_found_error", m)
			}
			if err := in.stop(); err != nil {
				t.Fatal(err)
			}
		})
		t.Run(p.name+"/tools", func(t *testing.T) {
			u, in := conformancePollux(t)
			if p.name == "codex" {
				u.codex.Push(codexfake.Responses,
					codexfake.Reply{Stream: &codexfake.Stream{Events: functionCallEvents(p.model)}},
					codexfake.Reply{Stream: &codexfake.Stream{}})
			} else {
				u.gemini.ScriptStream(geminifake.Stream{Events: []geminifake.Event{{Data: geminiFunctionCallChunk}}})
			}
			var got anthropicSummary
			runScript(t, node, in, "anthropic.mjs", env("tools"), &got)
			f := got.First
			if f.StopReason != "tool_use" || !slices.Equal(f.Types, []string{"tool_use"}) || f.Call == nil ||
				f.Call.Name != "get_weather" || f.Call.Input["city"] != "Paris" || f.Call.ID == "" {
				t.Fatalf("first turn = %+v, want one tool_use get_weather({city: Paris})", f)
			}
			if p.name == "codex" && f.Call.ID != toolCallID {
				t.Errorf("tool_use id = %q, want the backend's call_id %q", f.Call.ID, toolCallID)
			}
			if got.Second.StopReason != "end_turn" || got.Second.Text != p.text {
				t.Errorf("second turn = %+v, want %q", got.Second, p.text)
			}
			if err := in.stop(); err != nil {
				t.Fatal(err)
			}
		})
		t.Run(p.name+"/thinking", func(t *testing.T) {
			u, in := conformancePollux(t)
			if p.name == "codex" {
				u.codex.Push(codexfake.Responses, codexfake.Reply{Stream: &codexfake.Stream{Events: codexReasoningEvents(p.model)}})
			} else {
				u.gemini.ScriptStream(geminifake.Stream{Events: geminiThinkingEvents})
			}
			var got anthropicSummary
			runScript(t, node, in, "anthropic.mjs", env("thinking"), &got)
			th := got.Thinking
			if !slices.Equal(th.Types, []string{"thinking", "text", "tool_use", "tool_use"}) || th.StopReason != "tool_use" {
				t.Fatalf("thinking answer = %+v, want thinking, text and two tool_use blocks", th)
			}
			if th.Thinking == "" || th.ThinkingDelta != th.Thinking {
				t.Errorf("thinking %q, streamed %q", th.Thinking, th.ThinkingDelta)
			}
			if p.name == "geminicli" && th.Signature != "c2lnLTE=" {
				t.Errorf("signature = %q, want Gemini's thoughtSignature", th.Signature)
			}
			if len(th.Calls) != 2 || th.Calls[0].ID == th.Calls[1].ID || th.Calls[0].Input["city"] != "Paris" || th.Calls[1].Input["city"] != "Tokyo" {
				t.Errorf("parallel calls = %+v", th.Calls)
			}
			if err := in.stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// testAnthropicRoot runs the SDK's basic scenario with its base URL at the
// root (the one base URL), once with a model of each pool: the root
// routes each to its pool, lists every pool's models in Anthropic's
// format, and answers an unknown model with Anthropic's 404.
func testAnthropicRoot(t *testing.T, node string) {
	for _, p := range anthropicPools {
		t.Run(p.name, func(t *testing.T) {
			_, in := conformancePollux(t)
			var got anthropicSummary
			runScript(t, node, in, "anthropic.mjs", map[string]string{"POLLUX_SCENARIO": "basic", "POLLUX_PREFIX": "", "POLLUX_MODEL": p.model}, &got)
			if u := got.Unary; u.Type != "message" || u.Model != p.model || u.Text != p.text || u.StopReason != "end_turn" {
				t.Errorf("messages.create = %+v, want an end_turn message with %q", u, p.text)
			}
			if got.Stream.Text != p.text || len(got.Stream.Events) < 5 || got.Stream.Events[len(got.Stream.Events)-1] != "message_stop" {
				t.Errorf("stream = %+v, want %q ending in message_stop", got.Stream, p.text)
			}
			if h := got.Helper; h.Text != p.text || h.StopReason != "end_turn" {
				t.Errorf("messages.stream = %+v", h)
			}
			if got.CountTokens < 1 {
				t.Errorf("countTokens = %d", got.CountTokens)
			}
			for _, m := range []string{"gemini-2.5-pro", "gpt-5.2-codex"} {
				if !slices.Contains(got.Models, m) {
					t.Errorf("models.list = %v, want every pool's models (%s)", got.Models, m)
				}
			}
			if m := got.UnknownModel; !m.Thrown || m.Status != http.StatusNotFound || m.Type != "not_found_error" {
				t.Errorf("unknown model: %+v, want a thrown 404 not_found_error", m)
			}
			if err := in.stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// geminiFunctionCallChunk is a Code Assist chunk that calls get_weather.
const geminiFunctionCallChunk = `{"response":{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":5,"totalTokenCount":14},"responseId":"r-tool"},"traceId":"t"}`

// geminiThinkingEvents think (with a signature), say a word and call two
// tools at once.
var geminiThinkingEvents = []geminifake.Event{
	{Data: `{"response":{"candidates":[{"content":{"role":"model","parts":[{"text":"Two cities, two calls.","thought":true,"thoughtSignature":"c2lnLTE="}]}}],"responseId":"r-th"},"traceId":"t"}`},
	{Data: `{"response":{"candidates":[{"content":{"role":"model","parts":[{"text":"Checking both."}]}}],"responseId":"r-th"},"traceId":"t"}`},
	{Data: `{"response":{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}},{"functionCall":{"name":"get_weather","args":{"city":"Tokyo"}}}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":20,"candidatesTokenCount":10,"thoughtsTokenCount":30,"totalTokenCount":60},"responseId":"r-th"},"traceId":"t"}`},
}

// codexReasoningEvents reason (a summary), say a word and call two tools,
// the arguments streamed in pieces.
func codexReasoningEvents(model string) []codexfake.Event {
	resp := func(status string) string {
		return `{"id":"resp_th","object":"response","status":"` + status + `","model":"` + model + `","output":[]`
	}
	return []codexfake.Event{
		{Name: "response.created", Data: `{"type":"response.created","response":` + resp("in_progress") + `}}`},
		{Name: "response.output_item.added", Data: `{"type":"response.output_item.added","output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[]}}`},
		{Name: "response.reasoning_summary_text.delta", Data: `{"type":"response.reasoning_summary_text.delta","item_id":"rs_1","output_index":0,"summary_index":0,"delta":"Two cities, "}`},
		{Name: "response.reasoning_summary_text.delta", Data: `{"type":"response.reasoning_summary_text.delta","item_id":"rs_1","output_index":0,"summary_index":0,"delta":"two calls."}`},
		{Name: "response.output_item.done", Data: `{"type":"response.output_item.done","output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[]}}`},
		{Name: "response.output_item.added", Data: `{"type":"response.output_item.added","output_index":1,"item":{"id":"msg_1","type":"message","role":"assistant","content":[]}}`},
		{Name: "response.output_text.delta", Data: `{"type":"response.output_text.delta","item_id":"msg_1","output_index":1,"content_index":0,"delta":"Checking both."}`},
		{Name: "response.output_item.done", Data: `{"type":"response.output_item.done","output_index":1,"item":{"id":"msg_1","type":"message","role":"assistant","content":[]}}`},
		{Name: "response.output_item.added", Data: `{"type":"response.output_item.added","output_index":2,"item":{"id":"fc_1","type":"function_call","call_id":"call_P","name":"get_weather","arguments":""}}`},
		{Name: "response.function_call_arguments.delta", Data: `{"type":"response.function_call_arguments.delta","item_id":"fc_1","output_index":2,"delta":"{\"city\":"}`},
		{Name: "response.function_call_arguments.delta", Data: `{"type":"response.function_call_arguments.delta","item_id":"fc_1","output_index":2,"delta":"\"Paris\"}"}`},
		{Name: "response.output_item.done", Data: `{"type":"response.output_item.done","output_index":2,"item":{"id":"fc_1","type":"function_call","call_id":"call_P","name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}`},
		{Name: "response.output_item.added", Data: `{"type":"response.output_item.added","output_index":3,"item":{"id":"fc_2","type":"function_call","call_id":"call_T","name":"get_weather","arguments":""}}`},
		{Name: "response.function_call_arguments.delta", Data: `{"type":"response.function_call_arguments.delta","item_id":"fc_2","output_index":3,"delta":"{\"city\":\"Tokyo\"}"}`},
		{Name: "response.output_item.done", Data: `{"type":"response.output_item.done","output_index":3,"item":{"id":"fc_2","type":"function_call","call_id":"call_T","name":"get_weather","arguments":"{\"city\":\"Tokyo\"}"}}`},
		{Name: "response.completed", Data: `{"type":"response.completed","response":` + resp("completed") + `,"usage":{"input_tokens":20,"output_tokens":40,"output_tokens_details":{"reasoning_tokens":25},"total_tokens":60}}}`},
	}
}
