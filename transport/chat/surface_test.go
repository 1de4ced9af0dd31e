package chat

import (
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/actors"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := "testdata/" + name
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const toolsBody = `{"model":%q,"stream":%s,"stream_options":{"include_usage":true},
 "messages":[{"role":"system","content":"be brief"},{"role":"user","content":"read a.go and b.go"}],
 "tools":[{"type":"function","function":{"name":"read_file","description":"read a file",
   "parameters":{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","additionalProperties":false,
   "properties":{"path":{"type":"string"}},"required":["path"]}}}]}`

func body(model string, stream bool) string {
	return strings.NewReplacer("%q", `"`+model+`"`, "%s", map[bool]string{true: "true", false: "false"}[stream]).Replace(toolsBody)
}

// TestGoldenStreams relays recorded upstream streams with text, thinking,
// parallel tool calls and usage, and compares the client stream with its
// golden file.
func TestGoldenStreams(t *testing.T) {
	for _, tc := range []struct{ pool, model, upstream, golden string }{
		{"gemini", geminiModel, "gemini_tools.sse", "gemini_tools.chat"},
		{"codex", codexModel, "codex_tools.sse", "codex_tools.chat"},
	} {
		t.Run(tc.pool, func(t *testing.T) {
			a := map[string]answer{"token-1": {status: 200, body: mustRead(t, tc.upstream)}}
			e := newEnv(t, a, a, 1)
			status, hdr, got := e.post(t, tc.pool, body(tc.model, true))
			if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("status %d %q: %s", status, hdr.Get("Content-Type"), got)
			}
			golden(t, tc.golden, got)
			checkChunks(t, got)
		})
	}
}

// checkChunks checks the stream's invariants: every data line is a chunk
// or [DONE], last; tool call ids and names come once, first, per index;
// arguments assemble into JSON.
func checkChunks(t *testing.T, stream string) {
	t.Helper()
	var datas []string
	for _, line := range strings.Split(stream, "\n") {
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			datas = append(datas, d)
		}
	}
	if len(datas) == 0 || datas[len(datas)-1] != "[DONE]" {
		t.Fatalf("stream does not end with [DONE]: %q", stream)
	}
	args := map[int]string{}
	ids := map[int]string{}
	for _, d := range datas[:len(datas)-1] {
		var ch completion
		if err := json.Unmarshal([]byte(d), &ch); err != nil {
			t.Fatalf("chunk %s: %v", d, err)
		}
		if ch.Object != "chat.completion.chunk" {
			t.Errorf("object %q", ch.Object)
		}
		for _, c := range ch.Choices {
			for _, tc := range c.Delta.ToolCalls {
				i := *tc.Index
				if tc.ID != "" {
					if ids[i] != "" {
						t.Errorf("call %d: id sent twice", i)
					}
					ids[i] = tc.ID
				} else if ids[i] == "" {
					t.Errorf("call %d: arguments before its id", i)
				}
				args[i] += tc.Function.Arguments
			}
		}
	}
	for i, a := range args {
		if !json.Valid([]byte(a)) {
			t.Errorf("call %d: arguments %q are not JSON", i, a)
		}
	}
}

func TestUnaryCompletions(t *testing.T) {
	gemUnary := `{"response":{"candidates":[{"content":{"role":"model","parts":[{"text":"hmm","thought":true},{"text":"Reading."},{"functionCall":{"name":"read_file","args":{"path":"a.go"}}}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"thoughtsTokenCount":3,"cachedContentTokenCount":4,"totalTokenCount":18}}}`
	for _, tc := range []struct {
		pool, model string
		up          answer
		want        string
	}{
		{"gemini", geminiModel, answer{status: 200, body: gemUnary},
			`{"id":"chatcmpl-req1","object":"chat.completion","created":1767225600,"model":"gemini-2.5-pro","choices":[{"index":0,"message":{"role":"assistant","content":"Reading.","reasoning_content":"hmm","tool_calls":[{"id":"call_req1_0","type":"function","function":{"name":"read_file","arguments":"{\"path\":\"a.go\"}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":10,"completion_tokens":8,"total_tokens":18,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":3}}}`},
		{"codex", codexModel, answer{status: 200, body: ""},
			`{"id":"chatcmpl-req1","object":"chat.completion","created":1767225600,"model":"gpt-5.2-codex","choices":[{"index":0,"message":{"role":"assistant","content":"Reading both files.","reasoning_content":"Two reads needed.","tool_calls":[{"id":"call_A","type":"function","function":{"name":"read_file","arguments":"{\"path\":\"a.go\"}"}},{"id":"call_B","type":"function","function":{"name":"read_file","arguments":"{\"path\":\"b.go\"}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":200,"completion_tokens":50,"total_tokens":250,"prompt_tokens_details":{"cached_tokens":128},"completion_tokens_details":{"reasoning_tokens":20}}}`},
	} {
		t.Run(tc.pool, func(t *testing.T) {
			if tc.pool == "codex" {
				tc.up.body = mustRead(t, "codex_tools.sse")
			}
			a := map[string]answer{"token-1": tc.up}
			e := newEnv(t, a, a, 1)
			status, hdr, got := e.post(t, tc.pool, body(tc.model, false))
			if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
				t.Fatalf("status %d: %s", status, got)
			}
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestUpstreamRequests checks what reaches each pool for the tools body:
// the translated request, the schema cleaned for Gemini.
func TestUpstreamRequests(t *testing.T) {
	a := map[string]answer{"token-1": {status: 200, body: mustRead(t, "codex_tools.sse")}}
	g := map[string]answer{"token-1": {status: 200, body: mustRead(t, "gemini_tools.sse")}}
	e := newEnv(t, g, a, 1)
	e.post(t, "gemini", body(geminiModel, true))
	e.post(t, "codex", body(codexModel, true))
	var gb struct {
		Request json.RawMessage `json:"request"`
		Model   string          `json:"model"`
	}
	if err := json.Unmarshal([]byte(e.geminiUp.Bodies()[0]), &gb); err != nil {
		t.Fatal(err)
	}
	wantG := `{"contents":[{"role":"user","parts":[{"text":"read a.go and b.go"}]}],"systemInstruction":{"role":"user","parts":[{"text":"be brief"}]},"tools":[{"functionDeclarations":[{"name":"read_file","description":"read a file","parameters":{"properties":{"path":{"type":"string"}},"required":["path"],"type":"object"}}]}]}`
	if gb.Model != geminiModel || !jsonSame(t, string(gb.Request), wantG) {
		t.Errorf("gemini request %s %s\nwant %s", gb.Model, gb.Request, wantG)
	}
	wantC := `{"model":"gpt-5.2-codex","instructions":"be brief","input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"read a.go and b.go"}]}],"tools":[{"type":"function","name":"read_file","description":"read a file","parameters":{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","additionalProperties":false,"properties":{"path":{"type":"string"}},"required":["path"]}}],"stream":true,"store":false}`
	if got := e.codexUp.Bodies()[0]; !jsonSame(t, got, wantC) {
		t.Errorf("codex request %s\nwant %s", got, wantC)
	}
}

func jsonSame(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Fatalf("%v: %s", err, a)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return cmp.Equal(x, y)
}

// TestFaults runs the fault table on both pools: a 429 fails over; every
// credential limited is a 429 with Retry-After in the OpenAI envelope; an
// overload at the head of the stream fails over; a stream cut after the
// first byte ends with an error chunk and [DONE].
func TestFaults(t *testing.T) {
	geminiOK := geminiChunk(`{"candidates":[{"content":{"role":"model","parts":[{"text":"hi"}]},"finishReason":"STOP"}]}`)
	geminiCut := geminiChunk(`{"candidates":[{"content":{"role":"model","parts":[{"text":"hi"}]}}]}`)
	geminiHeadOverload := geminiChunk(`{"candidates":[]}`)[:0] + `data: {"error":{"code":429,"message":"No capacity available for model gemini-2.5-pro on the server","status":"RESOURCE_EXHAUSTED"}}` + "\n\n"
	codexOK := codexEvents("response.created", `{"type":"response.created","response":{"id":"r"}}`,
		"response.output_text.delta", `{"type":"response.output_text.delta","delta":"hi"}`,
		"response.completed", `{"type":"response.completed","response":{"id":"r","status":"completed","output":[]}}`)
	codexCut := codexEvents("response.created", `{"type":"response.created","response":{"id":"r"}}`,
		"response.output_text.delta", `{"type":"response.output_text.delta","delta":"hi"}`)
	codexHeadOverload := codexEvents("response.created", `{"type":"response.created","response":{"id":"r"}}`,
		"response.failed", `{"type":"response.failed","response":{"id":"r","status":"failed","error":{"code":"server_is_overloaded","message":"overloaded"}}}`)
	limited := answer{status: 429, body: `{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}`, header: map[string]string{"Retry-After": "30"}}
	for _, pool := range []string{"gemini", "codex"} {
		ok, cut, headOverload, model := geminiOK, geminiCut, geminiHeadOverload, geminiModel
		if pool == "codex" {
			ok, cut, headOverload, model = codexOK, codexCut, codexHeadOverload, codexModel
		}
		stream := `{"model":"` + model + `","stream":true,"messages":[{"role":"user","content":"hi"}]}`
		unary := `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`
		t.Run(pool+"/429 fails over", func(t *testing.T) {
			e := newEnv(t, map[string]answer{"token-1": limited, "token-2": {status: 200, body: ok}},
				map[string]answer{"token-1": limited, "token-2": {status: 200, body: ok}}, 1, 2)
			status, _, got := e.post(t, pool, stream)
			if status != 200 || !strings.Contains(got, `"content":"hi"`) || !strings.HasSuffix(got, "data: [DONE]\n\n") {
				t.Fatalf("status %d: %s", status, got)
			}
		})
		t.Run(pool+"/exhausted is 429 with Retry-After", func(t *testing.T) {
			for _, b := range []string{unary, stream} {
				e := newEnv(t, map[string]answer{"token-1": limited}, map[string]answer{"token-1": limited}, 1)
				status, hdr, got := e.post(t, pool, b)
				var env errorEnvelope
				if status != 429 || hdr.Get("Retry-After") == "" || json.Unmarshal([]byte(got), &env) != nil || env.Error.Type != "rate_limit_error" {
					t.Fatalf("status %d Retry-After %q: %s", status, hdr.Get("Retry-After"), got)
				}
			}
		})
		t.Run(pool+"/pool cooling is 429 with Retry-After", func(t *testing.T) {
			e := newEnv(t, nil, nil)
			e.gemini.SetExhausted(&actors.UnavailableError{Reason: actors.AllCooling, RetryAt: time.Now().Add(time.Minute)})
			e.codex.SetExhausted(&actors.UnavailableError{Reason: actors.AllCooling, RetryAt: time.Now().Add(time.Minute)})
			status, hdr, got := e.post(t, pool, stream)
			var env errorEnvelope
			if status != 429 || hdr.Get("Retry-After") < "58" || json.Unmarshal([]byte(got), &env) != nil || env.Error.Type != "rate_limit_error" {
				t.Fatalf("status %d Retry-After %q: %s", status, hdr.Get("Retry-After"), got)
			}
		})
		t.Run(pool+"/overload at the head fails over", func(t *testing.T) {
			a := map[string]answer{"token-1": {status: 200, body: headOverload}, "token-2": {status: 200, body: ok}}
			e := newEnv(t, a, a, 1, 2)
			status, _, got := e.post(t, pool, stream)
			if status != 200 || !strings.Contains(got, `"content":"hi"`) || strings.Contains(got, `"error"`) {
				t.Fatalf("status %d: %s", status, got)
			}
			p := e.gemini
			if pool == "codex" {
				p = e.codex
			}
			if r := reports(p); !slices.Equal(r, []string{"overloaded", "ok"}) {
				t.Errorf("reports %v", r)
			}
		})
		t.Run(pool+"/cut stream ends with an error chunk", func(t *testing.T) {
			a := map[string]answer{"token-1": {status: 200, body: cut}}
			e := newEnv(t, a, a, 1)
			status, _, got := e.post(t, pool, stream)
			if status != 200 || !strings.Contains(got, `"content":"hi"`) {
				t.Fatalf("status %d: %s", status, got)
			}
			lines := strings.Split(strings.TrimSpace(got), "\n\n")
			if len(lines) < 2 || lines[len(lines)-1] != "data: [DONE]" {
				t.Fatalf("stream: %q", got)
			}
			var last completion
			if err := json.Unmarshal([]byte(strings.TrimPrefix(lines[len(lines)-2], "data: ")), &last); err != nil || last.Error == nil || last.Error.Type != "server_error" {
				t.Fatalf("last chunk %q: %v", lines[len(lines)-2], err)
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t, nil, nil, 1)
	for _, tc := range []struct{ pool, body, param string }{
		{"gemini", `[]`, "body"},
		{"gemini", `{"model":"gemini-2.5-pro","messages":[{"role":"user","content":"hi"}],"n":2}`, "n"},
		{"codex", `{"model":"gpt-5.2-codex","messages":[{"role":"user","content":"hi"}],"modalities":["text","audio"]}`, "audio"},
		{"codex", `{"model":"gpt-5.2-codex","messages":[{"role":"user","content":"hi"}],"logprobs":true}`, "logprobs"},
		{"gemini", `{"model":"gemini-2.5-pro","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`, "messages[0].content[0].image_url.url"},
		{"gemini", `{"model":"gemini-2.5-pro","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}`, "messages[0].content[0].type"},
		{"codex", `{"model":"gpt-5.2-codex","messages":[]}`, "messages"},
		{"codex", `{"model":"gpt-5.2-codex","messages":[{"role":"tool","content":"x"}]}`, "messages[0].tool_call_id"},
		{"gemini", `{"model":"gemini-2.5-pro","messages":[{"role":"tool","tool_call_id":"c9","content":"x"}]}`, "messages[0].tool_call_id"},
		{"gemini", `{"model":"gemini-2.5-pro","messages":[{"role":"user","content":"hi"}],"temperature":"hot"}`, "temperature"},
		{"gemini", `{"model":"gemini-2.5-pro","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":[1]}}]}`, "tools[0].function.parameters"},
		{"codex", `{"model":"gpt-5.2-codex","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema"}}`, "response_format.json_schema.schema"},
		{"codex", `{"model":"gpt-5.2-codex","messages":[{"role":"user","content":"hi"}],"reasoning_effort":"max"}`, "reasoning_effort"},
		{"codex", `{"model":"gpt-5.2-codex","messages":[{"role":"user","content":"hi"}],"functions":[{"name":"f"}]}`, "functions"},
		{"gemini", `{"model":"gemini-2.5-pro","messages":[{"role":"user","content":"hi"}],"web_search_options":{}}`, "web_search_options"},
		{"codex", `{"model":"gpt-5.2-codex","messages":[{"role":"user","content":"hi"}],"verbosity":"loud"}`, "verbosity"},
	} {
		status, _, got := e.post(t, tc.pool, tc.body)
		var env errorEnvelope
		if status != 400 || json.Unmarshal([]byte(got), &env) != nil || env.Error.Param == nil || *env.Error.Param != tc.param || env.Error.Type != "invalid_request_error" {
			t.Errorf("%s: status %d: %s, want param %q", tc.body, status, got, tc.param)
		}
	}
	status, _, got := e.post(t, "gemini", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
	if status != 404 || !strings.Contains(got, `"code":"model_not_found"`) {
		t.Errorf("unknown model: %d %s", status, got)
	}
}

func TestDroppedParamsHeader(t *testing.T) {
	ok := map[string]answer{"token-1": {status: 200, body: mustRead(t, "codex_tools.sse")}}
	gok := map[string]answer{"token-1": {status: 200, body: mustRead(t, "gemini_tools.sse")}}
	e := newEnv(t, gok, ok, 1)
	b := `{"model":"%s","messages":[{"role":"user","content":"hi"}],"temperature":0.2,"top_p":0.9,"max_tokens":100,"stop":["x"],"logit_bias":{"1":2},"metadata":{}}`
	_, hdr, _ := e.post(t, "codex", strings.Replace(b, "%s", codexModel, 1))
	if got := hdr.Get(HeaderDroppedParams); got != "logit_bias,metadata,temperature,top_p,max_tokens,stop" {
		t.Errorf("codex dropped %q", got)
	}
	_, hdr, _ = e.post(t, "gemini", strings.Replace(b, "%s", geminiModel, 1))
	if got := hdr.Get(HeaderDroppedParams); got != "logit_bias,metadata" {
		t.Errorf("gemini dropped %q", got)
	}
	var gb struct {
		Request struct {
			GenerationConfig json.RawMessage `json:"generationConfig"`
		} `json:"request"`
	}
	_ = json.Unmarshal([]byte(e.geminiUp.Bodies()[0]), &gb)
	if !jsonSame(t, string(gb.Request.GenerationConfig), `{"temperature":0.2,"topP":0.9,"maxOutputTokens":100,"stopSequences":["x"]}`) {
		t.Errorf("generationConfig %s", gb.Request.GenerationConfig)
	}
}

var _ = http.StatusOK

// TestUpstreamClientErrors: a request the upstream refuses as the client's
// fault is a 400 in the OpenAI envelope with the upstream's own message,
// not retried on other credentials.
func TestUpstreamClientErrors(t *testing.T) {
	g := map[string]answer{"token-1": {status: 400, body: `{"error":{"code":400,"message":"Invalid JSON payload received. Unknown name \"foo\"","status":"INVALID_ARGUMENT"}}`}}
	c := map[string]answer{"token-1": {status: 400, body: `{"error":{"message":"Invalid value for 'tools[0].name'","type":"invalid_request_error","param":"tools[0].name","code":"invalid_value"}}`}}
	for _, tc := range []struct{ pool, model, msg, param string }{
		{"gemini", geminiModel, `Invalid JSON payload received. Unknown name "foo"`, ""},
		{"codex", codexModel, "Invalid value for 'tools[0].name'", "tools[0].name"},
	} {
		e := newEnv(t, g, c, 1, 2)
		status, _, got := e.post(t, tc.pool, `{"model":"`+tc.model+`","messages":[{"role":"user","content":"hi"}]}`)
		var env errorEnvelope
		if err := json.Unmarshal([]byte(got), &env); err != nil || status != 400 || env.Error.Message != tc.msg || env.Error.Type != "invalid_request_error" {
			t.Errorf("%s: %d %s", tc.pool, status, got)
		}
		if tc.param != "" && (env.Error.Param == nil || *env.Error.Param != tc.param) {
			t.Errorf("%s: param %v, want %s", tc.pool, env.Error.Param, tc.param)
		}
		up := e.geminiUp
		if tc.pool == "codex" {
			up = e.codexUp
		}
		if calls := up.Calls(); len(calls) != 1 {
			t.Errorf("%s: upstream calls %v, want one (a client error is not retried)", tc.pool, calls)
		}
	}
}
