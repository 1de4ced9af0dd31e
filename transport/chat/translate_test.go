package chat

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/transport/relay"
)

// A conversation with every request feature: system, images, parallel
// tool calls, their results, reasoning, structured output, sampling.
const fullConversation = `{"model":"m",
 "messages":[
  {"role":"developer","content":"rule one"},
  {"role":"system","content":[{"type":"text","text":"rule two"}]},
  {"role":"user","content":[{"type":"text","text":"what is in it?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0K"}}]},
  {"role":"assistant","content":null,"tool_calls":[
    {"id":"c1","type":"function","function":{"name":"zoom","arguments":"{\"x\":1}"}},
    {"id":"c2","type":"function","function":{"name":"crop","arguments":""}}]},
  {"role":"tool","tool_call_id":"c1","content":"zoomed"},
  {"role":"tool","tool_call_id":"c2","content":[{"type":"text","text":"cropped"}]},
  {"role":"assistant","content":"A cat."},
  {"role":"user","content":"thanks"}],
 "tools":[{"type":"function","function":{"name":"zoom","parameters":{"type":"object","properties":{"x":{"type":["integer","null"]}}}}},
          {"type":"function","function":{"name":"crop","description":"crop it","strict":true}}],
 "tool_choice":{"type":"function","function":{"name":"zoom"}},
 "parallel_tool_calls":true,
 "reasoning_effort":"low",
 "response_format":{"type":"json_schema","json_schema":{"name":"answer","strict":true,"schema":{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false,"required":["a"]}}},
 "max_completion_tokens":256,"temperature":0.5,"top_p":0.8,"stop":"END","seed":7,"presence_penalty":0.1,"frequency_penalty":0.2,
 "prompt_cache_key":"conv-1"}`

func TestToGemini(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"full conversation", fullConversation, `{
 "contents":[
  {"role":"user","parts":[{"text":"what is in it?"},{"inlineData":{"mimeType":"image/png","data":"iVBORw0K"}}]},
  {"role":"model","parts":[{"functionCall":{"id":"c1","name":"zoom","args":{"x":1}}},{"functionCall":{"id":"c2","name":"crop","args":{}}}]},
  {"role":"user","parts":[{"functionResponse":{"id":"c1","name":"zoom","response":{"output":"zoomed"}}},{"functionResponse":{"id":"c2","name":"crop","response":{"output":"cropped"}}}]},
  {"role":"model","parts":[{"text":"A cat."}]},
  {"role":"user","parts":[{"text":"thanks"}]}],
 "systemInstruction":{"role":"user","parts":[{"text":"rule one"},{"text":"rule two"}]},
 "tools":[{"functionDeclarations":[
   {"name":"zoom","parameters":{"properties":{"x":{"nullable":true,"type":"integer"}},"type":"object"}},
   {"name":"crop","description":"crop it"}]}],
 "toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["zoom"]}},
 "generationConfig":{"temperature":0.5,"topP":0.8,"maxOutputTokens":256,"stopSequences":["END"],"seed":7,
   "presencePenalty":0.1,"frequencyPenalty":0.2,"responseMimeType":"application/json",
   "responseSchema":{"properties":{"a":{"type":"string"}},"required":["a"],"type":"object"},
   "thinkingConfig":{"thinkingBudget":1024,"includeThoughts":true}}}`},
		{"a tool result that is a JSON object keeps its structure", `{"model":"m","messages":[
  {"role":"user","content":"count"},
  {"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"count","arguments":"{}"}},{"id":"c2","type":"function","function":{"name":"count","arguments":"{}"}}]},
  {"role":"tool","tool_call_id":"c1","content":" {\"cats\": [1, 2]} "},
  {"role":"tool","tool_call_id":"c2","content":"[1, 2]"}]}`,
			`{"contents":[{"role":"user","parts":[{"text":"count"}]},
  {"role":"model","parts":[{"functionCall":{"id":"c1","name":"count","args":{}}},{"functionCall":{"id":"c2","name":"count","args":{}}}]},
  {"role":"user","parts":[{"functionResponse":{"id":"c1","name":"count","response":{"cats":[1,2]}}},{"functionResponse":{"id":"c2","name":"count","response":{"output":"[1, 2]"}}}]}]}`},
		{"plain text, no config", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
			`{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`},
		{"reasoning none turns thinking off", `{"model":"m","messages":[{"role":"user","content":"hi"}],"reasoning_effort":"none","max_tokens":9}`,
			`{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":9,"thinkingConfig":{"thinkingBudget":0}}}`},
		{"gemini 3 takes a thinking level", `{"model":"gemini-3-pro-preview","messages":[{"role":"user","content":"hi"}],"reasoning_effort":"medium"}`,
			`{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"thinkingConfig":{"thinkingLevel":"high","includeThoughts":true}}}`},
		{"google thinking_config (merged extra_body) wins", `{"model":"m","messages":[{"role":"user","content":"hi"}],"reasoning_effort":"high","google":{"thinking_config":{"thinking_budget":2048,"include_thoughts":true}}}`,
			`{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"thinkingConfig":{"thinkingBudget":2048,"includeThoughts":true}}}`},
		{"google thinking_config in a literal extra_body", `{"model":"m","messages":[{"role":"user","content":"hi"}],"extra_body":{"google":{"thinking_config":{"thinking_level":"low"}}}}`,
			`{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"thinkingConfig":{"thinkingLevel":"low"}}}`},
		{"json_object and tool_choice required", `{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_object"},"tool_choice":"required","stop":["a","b"]}`,
			`{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY"}},"generationConfig":{"stopSequences":["a","b"],"responseMimeType":"application/json"}}`},
		{"tool_choice none, url-encoded data URL", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:text/plain,hi%20there"}}]}],"tool_choice":"none"}`,
			`{"contents":[{"role":"user","parts":[{"inlineData":{"mimeType":"text/plain","data":"aGkgdGhlcmU="}}]}],"toolConfig":{"functionCallingConfig":{"mode":"NONE"}}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseRequest([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			got, err := toGemini(r)
			if err != nil {
				t.Fatal(err)
			}
			if !jsonSame(t, string(got), tc.want) {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestToResponses(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"full conversation", fullConversation, `{
 "model":"m","instructions":"rule one\n\nrule two",
 "input":[
  {"type":"message","role":"user","content":[{"type":"input_text","text":"what is in it?"},{"type":"input_image","image_url":"data:image/png;base64,iVBORw0K","detail":"auto"}]},
  {"type":"function_call","call_id":"c1","name":"zoom","arguments":"{\"x\":1}"},
  {"type":"function_call","call_id":"c2","name":"crop","arguments":""},
  {"type":"function_call_output","call_id":"c1","output":"zoomed"},
  {"type":"function_call_output","call_id":"c2","output":"cropped"},
  {"type":"message","role":"assistant","content":[{"type":"output_text","text":"A cat."}]},
  {"type":"message","role":"user","content":[{"type":"input_text","text":"thanks"}]}],
 "tools":[{"type":"function","name":"zoom","parameters":{"type":"object","properties":{"x":{"type":["integer","null"]}}}},
          {"type":"function","name":"crop","description":"crop it","parameters":{"type":"object","properties":{}},"strict":true}],
 "tool_choice":{"type":"function","name":"zoom"},
 "parallel_tool_calls":true,
 "reasoning":{"effort":"low","summary":"auto"},
 "text":{"format":{"type":"json_schema","name":"answer","strict":true,"schema":{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false,"required":["a"]}}},
 "prompt_cache_key":"conv-1","stream":true,"store":false}`},
		{"verbosity", `{"model":"m","messages":[{"role":"user","content":"hi"}],"verbosity":"low"}`,
			`{"model":"m","instructions":"","input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}],"text":{"verbosity":"low"},"stream":true,"store":false}`},
		{"remote image URL passes", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"high"}}]}],"tool_choice":"auto","response_format":{"type":"json_object"}}`,
			`{"model":"m","instructions":"","input":[{"type":"message","role":"user","content":[{"type":"input_image","image_url":"https://x/y.png","detail":"high"}]}],"tool_choice":"auto","text":{"format":{"type":"json_object"}},"stream":true,"store":false}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseRequest([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			got, err := toResponses(r)
			if err != nil {
				t.Fatal(err)
			}
			if !jsonSame(t, string(got), tc.want) {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestFinishReasons(t *testing.T) {
	for _, tc := range []struct {
		gemini string
		calls  bool
		want   string
	}{
		{"STOP", false, "stop"}, {"STOP", true, "tool_calls"}, {"MAX_TOKENS", true, "length"},
		{"SAFETY", false, "content_filter"}, {"RECITATION", false, "content_filter"}, {"OTHER", false, "stop"}, {"", false, ""},
	} {
		if got := geminiFinish(tc.gemini, tc.calls); got != tc.want {
			t.Errorf("gemini %s/%v = %q, want %q", tc.gemini, tc.calls, got, tc.want)
		}
	}
	for _, tc := range []struct {
		status, reason string
		calls          bool
		want           string
	}{
		{"completed", "", false, "stop"}, {"completed", "", true, "tool_calls"},
		{"incomplete", "max_output_tokens", false, "length"}, {"incomplete", "content_filter", false, "content_filter"},
	} {
		if got := codexFinish(tc.status, tc.reason, tc.calls); got != tc.want {
			t.Errorf("codex %s/%s = %q, want %q", tc.status, tc.reason, got, tc.want)
		}
	}
}

// TestGeminiReplies covers the reply direction's edge cases: a blocked
// prompt, a length cut, no usage.
func TestGeminiReplies(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"blocked prompt", `{"promptFeedback":{"blockReason":"SAFETY"}}`,
			`{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":""},"finish_reason":"content_filter"}]}`},
		{"length", `{"candidates":[{"content":{"parts":[{"text":"abc"}]},"finishReason":"MAX_TOKENS"}]}`,
			`{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"abc"},"finish_reason":"length"}]}`},
	} {
		got, _, err := geminiCompletion([]byte(tc.in), "x", "m", 1)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: %s (%v)\nwant %s", tc.name, got, err, tc.want)
		}
	}
	var v any
	if json.Unmarshal([]byte(fullConversation), &v) != nil {
		t.Fatal("fixture is not JSON")
	}
}

// TestCodexStreamArguments: arguments sent whole (on output_item.added or
// only on output_item.done) reach the client once.
func TestCodexStreamArguments(t *testing.T) {
	for _, tc := range []struct {
		name string
		evs  []string
		want string
	}{
		{"in added", []string{
			`{"type":"response.output_item.added","item":{"id":"fc","type":"function_call","call_id":"c","name":"f","arguments":"{\"a\":1}"}}`,
			`{"type":"response.output_item.done","item":{"id":"fc","type":"function_call","call_id":"c","name":"f","arguments":"{\"a\":1}"}}`,
		}, `{"a":1}`},
		{"only in done", []string{
			`{"type":"response.output_item.added","item":{"id":"fc","type":"function_call","call_id":"c","name":"f","arguments":""}}`,
			`{"type":"response.output_item.done","item":{"id":"fc","type":"function_call","call_id":"c","name":"f","arguments":"{\"a\":1}"}}`,
		}, `{"a":1}`},
		{"deltas", []string{
			`{"type":"response.output_item.added","item":{"id":"fc","type":"function_call","call_id":"c","name":"f","arguments":""}}`,
			`{"type":"response.function_call_arguments.delta","item_id":"fc","delta":"{\"a\""}`,
			`{"type":"response.function_call_arguments.delta","item_id":"fc","delta":":1}"}`,
			`{"type":"response.output_item.done","item":{"id":"fc","type":"function_call","call_id":"c","name":"f","arguments":"{\"a\":1}"}}`,
		}, `{"a":1}`},
	} {
		s := codexStream{chunks: &chunker{id: "x", model: "m"}}
		var out []byte
		for _, ev := range tc.evs {
			var err error
			if out, _, _, err = s.event([]byte(ev), out); err != nil {
				t.Fatal(err)
			}
		}
		var args string
		for _, line := range strings.Split(string(out), "\n") {
			d, ok := strings.CutPrefix(line, "data: ")
			if !ok {
				continue
			}
			var ch completion
			if err := json.Unmarshal([]byte(d), &ch); err != nil {
				t.Fatal(err)
			}
			for _, tcall := range ch.Choices[0].Delta.ToolCalls {
				args += tcall.Function.Arguments
			}
		}
		if args != tc.want {
			t.Errorf("%s: arguments %q, want %q", tc.name, args, tc.want)
		}
	}
}

// TestCodecEndings: how each codec ends a stream that did not finish well.
func TestCodecEndings(t *testing.T) {
	type ender interface {
		End(how error) relay.Ending
	}
	newCodecs := func() map[string]ender {
		return map[string]ender{
			"gemini": &geminiCodec{chunks: &chunker{id: "x", model: "m"}, status: 200},
			"codex":  &codexCodec{chunks: &chunker{id: "x", model: "m"}, status: 200},
		}
	}
	for _, tc := range []struct {
		name     string
		how      error
		kind     providers.Kind
		tailCode string // "" for no tail
	}{
		{"client gone", relay.ErrClientGone, providers.KindAbandoned, ""},
		{"shutting down", relay.ErrShuttingDown, providers.KindAbandoned, "service_unavailable"},
		{"cut", errors.New("connection reset"), providers.KindTransient, "upstream_error"},
		{"bad event", errBadEvent, providers.KindTransient, "upstream_error"},
		{"ended without finishing", nil, providers.KindTransient, "upstream_error"},
	} {
		for pool, c := range newCodecs() {
			end := c.End(tc.how)
			if end.Outcome.Kind != tc.kind {
				t.Errorf("%s/%s: outcome %v, want %v", pool, tc.name, end.Outcome.Kind, tc.kind)
			}
			tail := string(end.Tail)
			if tc.tailCode == "" {
				if tail != "" {
					t.Errorf("%s/%s: tail %q, want none", pool, tc.name, tail)
				}
				continue
			}
			if !strings.Contains(tail, `"code":"`+tc.tailCode+`"`) || !strings.HasSuffix(tail, "data: [DONE]\n\n") {
				t.Errorf("%s/%s: tail %q, want an error chunk with code %s and [DONE]", pool, tc.name, tail, tc.tailCode)
			}
		}
	}
}

func TestCodexRefusal(t *testing.T) {
	resp := `{"id":"r","status":"completed","output":[{"type":"message","content":[{"type":"refusal","refusal":"I can't help with that."}]}]}`
	got, _, err := codexCompletion([]byte(resp), "x", "m", 1)
	want := `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"","refusal":"I can't help with that."},"finish_reason":"stop"}]}`
	if err != nil || string(got) != want {
		t.Errorf("unary: %s (%v)\nwant %s", got, err, want)
	}
	s := codexStream{chunks: &chunker{id: "x", model: "m"}}
	out, _, _, err := s.event([]byte(`{"type":"response.refusal.delta","delta":"no"}`), nil)
	if err != nil || !strings.Contains(string(out), `"delta":{"role":"assistant","refusal":"no"}`) {
		t.Errorf("stream: %s (%v)", out, err)
	}
}
