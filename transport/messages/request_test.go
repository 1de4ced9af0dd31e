package messages

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// translateBoth parses body and translates it for both pools.
func translateBoth(t *testing.T, body string) (gemini, codex map[string]any, gDropped, cDropped []string) {
	t.Helper()
	r, err := parseRequest([]byte(body), false)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	gb, gDropped, err := toGemini(r)
	if err != nil {
		t.Fatalf("toGemini: %v", err)
	}
	cb, cDropped, err := toResponses(r)
	if err != nil {
		t.Fatalf("toResponses: %v", err)
	}
	if err := json.Unmarshal(gb, &gemini); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(cb, &codex); err != nil {
		t.Fatal(err)
	}
	return gemini, codex, gDropped, cDropped
}

func js(s string) any {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		panic(err)
	}
	return v
}

// TestTranslateRequest: each feature of a Messages request, as the Gemini
// and the Codex pool receive it.
func TestTranslateRequest(t *testing.T) {
	for _, tc := range []struct {
		name         string
		body         string
		gemini       map[string]string // member → JSON
		codex        map[string]string
		gDrop, cDrop []string
	}{
		{
			name: "system and multi-turn text",
			body: `{"model":"m","max_tokens":100,"system":[{"type":"text","text":"be brief"},{"type":"text","text":"be kind"}],
				"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"text","text":"hello"}]},{"role":"user","content":"again"}]}`,
			gemini: map[string]string{
				"systemInstruction": `{"parts":[{"text":"be brief\n\nbe kind"}]}`,
				"contents":          `[{"role":"user","parts":[{"text":"hi"}]},{"role":"model","parts":[{"text":"hello"}]},{"role":"user","parts":[{"text":"again"}]}]`,
				"generationConfig":  `{"maxOutputTokens":100}`,
			},
			codex: map[string]string{
				"instructions": `"be brief\n\nbe kind"`,
				"input": `[{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]},
					{"type":"message","role":"assistant","content":[{"type":"output_text","text":"hello"}]},
					{"type":"message","role":"user","content":[{"type":"input_text","text":"again"}]}]`,
			},
			cDrop: []string{"max_tokens"},
		},
		{
			name: "images base64 and url",
			body: `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[
				{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBO"}},
				{"type":"image","source":{"type":"url","url":"https://x.test/a.webp"}},{"type":"text","text":"what?"}]}]}`,
			gemini: map[string]string{
				"contents": `[{"role":"user","parts":[{"inlineData":{"mimeType":"image/png","data":"iVBO"}},{"fileData":{"mimeType":"image/webp","fileUri":"https://x.test/a.webp"}},{"text":"what?"}]}]`,
			},
			codex: map[string]string{
				"input": `[{"type":"message","role":"user","content":[{"type":"input_image","image_url":"data:image/png;base64,iVBO"},{"type":"input_image","image_url":"https://x.test/a.webp"},{"type":"input_text","text":"what?"}]}]`,
			},
			cDrop: []string{"max_tokens"},
		},
		{
			name: "documents: PDF, text and URL",
			body: `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[
				{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBER"}},
				{"type":"document","source":{"type":"text","media_type":"text/plain","data":"plain notes"}},
				{"type":"document","source":{"type":"url","url":"https://x.test/a.pdf"}},{"type":"text","text":"sum up"}]}]}`,
			gemini: map[string]string{
				"contents": `[{"role":"user","parts":[{"inlineData":{"mimeType":"application/pdf","data":"JVBER"}},{"text":"plain notes"},{"fileData":{"mimeType":"application/pdf","fileUri":"https://x.test/a.pdf"}},{"text":"sum up"}]}]`,
			},
			codex: map[string]string{
				"input": `[{"type":"message","role":"user","content":[{"type":"input_file","filename":"document.pdf","file_data":"data:application/pdf;base64,JVBER"},{"type":"input_text","text":"plain notes"},{"type":"input_file","file_url":"https://x.test/a.pdf"},{"type":"input_text","text":"sum up"}]}]`,
			},
			cDrop: []string{"max_tokens"},
		},
		{
			name: "tools, parallel calls and results",
			body: `{"model":"m","max_tokens":10,
				"tools":[{"name":"get_weather","description":"weather","input_schema":{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}}],
				"tool_choice":{"type":"any","disable_parallel_tool_use":true},
				"messages":[{"role":"user","content":"weather?"},
				{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"get_weather","input":{"city":"Paris"}},{"type":"tool_use","id":"t2","name":"get_weather","input":{"city":"Tokyo"}}]},
				{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"sunny"},{"type":"tool_result","tool_use_id":"t2","is_error":true,"content":[{"type":"text","text":"timeout"}]}]}]}`,
			gemini: map[string]string{
				"tools":      `[{"functionDeclarations":[{"name":"get_weather","description":"weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]}]`,
				"toolConfig": `{"functionCallingConfig":{"mode":"ANY"}}`,
				"contents": `[{"role":"user","parts":[{"text":"weather?"}]},
					{"role":"model","parts":[{"functionCall":{"id":"t1","name":"get_weather","args":{"city":"Paris"}}},{"functionCall":{"id":"t2","name":"get_weather","args":{"city":"Tokyo"}}}]},
					{"role":"user","parts":[{"functionResponse":{"id":"t1","name":"get_weather","response":{"content":"sunny"}}},{"functionResponse":{"id":"t2","name":"get_weather","response":{"error":"timeout"}}}]}]`,
			},
			codex: map[string]string{
				"tools":               `[{"type":"function","name":"get_weather","description":"weather","parameters":{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false},"strict":false}]`,
				"tool_choice":         `"required"`,
				"parallel_tool_calls": `false`,
				"input": `[{"type":"message","role":"user","content":[{"type":"input_text","text":"weather?"}]},
					{"type":"function_call","call_id":"t1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"},
					{"type":"function_call","call_id":"t2","name":"get_weather","arguments":"{\"city\":\"Tokyo\"}"},
					{"type":"function_call_output","call_id":"t1","output":"sunny"},
					{"type":"function_call_output","call_id":"t2","output":"timeout"}]`,
			},
			gDrop: []string{"tool_choice.disable_parallel_tool_use"},
			cDrop: []string{"max_tokens"},
		},
		{
			name:   "named tool choice",
			body:   `{"model":"m","max_tokens":10,"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"f"},"messages":[{"role":"user","content":"x"}]}`,
			gemini: map[string]string{"toolConfig": `{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["f"]}}`},
			codex:  map[string]string{"tool_choice": `{"type":"function","name":"f"}`},
			cDrop:  []string{"max_tokens"},
		},
		{
			name: "thinking budget and sampling",
			body: `{"model":"m","max_tokens":20000,"thinking":{"type":"enabled","budget_tokens":8000},"temperature":0.5,"top_p":0.9,"top_k":40,"stop_sequences":["END"],"metadata":{"user_id":"u"},
				"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"c2ln"},{"type":"thinking","thinking":"unsigned"},{"type":"text","text":"a"}]},{"role":"user","content":"q2"}]}`,
			gemini: map[string]string{
				"generationConfig": `{"maxOutputTokens":20000,"temperature":0.5,"topP":0.9,"topK":40,"stopSequences":["END"],"thinkingConfig":{"includeThoughts":true,"thinkingBudget":8000}}`,
				"contents":         `[{"role":"user","parts":[{"text":"q"}]},{"role":"model","parts":[{"text":"hm","thought":true,"thoughtSignature":"c2ln"},{"text":"a"}]},{"role":"user","parts":[{"text":"q2"}]}]`,
			},
			codex: map[string]string{
				"reasoning":        `{"effort":"medium","summary":"auto"}`,
				"prompt_cache_key": `"pollux-0bfe935e70c321c7ca3afc75ce0d0ca2"`,
				"input":            `[{"type":"message","role":"user","content":[{"type":"input_text","text":"q"}]},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"a"}]},{"type":"message","role":"user","content":[{"type":"input_text","text":"q2"}]}]`,
			},
			gDrop: []string{"metadata"},
			cDrop: []string{"max_tokens", "metadata", "stop_sequences", "temperature", "top_k", "top_p"},
		},
		{
			name: "Claude Code's system messages, output_config and context_management",
			body: `{"model":"m","max_tokens":10,"system":"base","output_config":{"effort":"low"},"context_management":{"edits":[]},
				"messages":[{"role":"user","content":"q"},{"role":"system","content":"reminder"},{"role":"user","content":"q2"}]}`,
			gemini: map[string]string{
				"systemInstruction": `{"parts":[{"text":"base\n\nreminder"}]}`,
				"contents":          `[{"role":"user","parts":[{"text":"q"},{"text":"q2"}]}]`,
				"generationConfig":  `{"maxOutputTokens":10,"thinkingConfig":{"includeThoughts":false,"thinkingBudget":1024}}`,
			},
			codex: map[string]string{
				"instructions": `"base"`,
				"reasoning":    `{"effort":"low","summary":"auto"}`,
				"input": `[{"type":"message","role":"user","content":[{"type":"input_text","text":"q"}]},
					{"type":"message","role":"developer","content":[{"type":"input_text","text":"reminder"}]},
					{"type":"message","role":"user","content":[{"type":"input_text","text":"q2"}]}]`,
			},
			gDrop: []string{"context_management"},
			cDrop: []string{"max_tokens", "context_management"},
		},
		{
			name:   "structured output",
			body:   `{"model":"m","max_tokens":10,"output_format":{"type":"json_schema","schema":{"type":"object","properties":{"a":{"type":"integer"}}}},"messages":[{"role":"user","content":"x"}]}`,
			gemini: map[string]string{"generationConfig": `{"maxOutputTokens":10,"responseMimeType":"application/json","responseJsonSchema":{"type":"object","properties":{"a":{"type":"integer"}}}}`},
			codex:  map[string]string{"text": `{"format":{"type":"json_schema","name":"output","schema":{"type":"object","properties":{"a":{"type":"integer"}}},"strict":true}}`},
			cDrop:  []string{"max_tokens"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, c, gDrop, cDrop := translateBoth(t, tc.body)
			for k, want := range tc.gemini {
				if diff := cmp.Diff(js(want), g[k]); diff != "" {
					t.Errorf("gemini %s (-want +got):\n%s", k, diff)
				}
			}
			for k, want := range tc.codex {
				if diff := cmp.Diff(js(want), c[k]); diff != "" {
					t.Errorf("codex %s (-want +got):\n%s", k, diff)
				}
			}
			if diff := cmp.Diff(tc.gDrop, gDrop); diff != "" {
				t.Errorf("gemini dropped (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.cDrop, cDrop); diff != "" {
				t.Errorf("codex dropped (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEffortFor: thinking budgets map to reasoning efforts.
func TestEffortFor(t *testing.T) {
	for budget, want := range map[int64]string{1024: "low", 4095: "low", 4096: "medium", 16383: "medium", 16384: "high", 64000: "high"} {
		if got := effortFor(budget); got != want {
			t.Errorf("effortFor(%d) = %s, want %s", budget, got, want)
		}
	}
}

// TestParseRequestRefuses: what cannot be translated is a 400 naming the
// member, never a silent drop.
func TestParseRequestRefuses(t *testing.T) {
	const msgs = `"messages":[{"role":"user","content":"x"}]`
	for _, tc := range []struct{ body, param string }{
		{`[]`, ""},
		{`{"max_tokens":1,` + msgs + `}`, "model"},
		{`{"model":"m",` + msgs + `}`, "max_tokens"},
		{`{"model":"m","max_tokens":0,` + msgs + `}`, "max_tokens"},
		{`{"model":"m","max_tokens":1,"messages":[]}`, "messages"},
		{`{"model":"m","max_tokens":1,"n":2,` + msgs + `}`, "n"},
		{`{"model":"m","max_tokens":1,"mcp_servers":[],` + msgs + `}`, "mcp_servers"},
		{`{"model":"m","max_tokens":1,"tools":[{"type":"web_search_20250305","name":"web_search"}],` + msgs + `}`, "tools[0].type"},
		{`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"search_result","title":"t"}]}]}`, "messages[0].content[0].type"},
		{`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"application/msword","data":"x"}}]}]}`, "messages[0].content[0].source"},
		{`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"file","file_id":"f"}}]}]}`, "messages[0].content[0].source.type"},
		{`{"model":"m","max_tokens":1,"messages":[{"role":"tool","content":"x"}]}`, "messages[0].role"},
		{`{"model":"m","max_tokens":1,"messages":[{"role":"system","content":[{"type":"image","source":{"type":"url","url":"u"}}]}]}`, "messages[0].content[0].type"},
		{`{"model":"m","max_tokens":1,"output_config":{"effort":"max"},` + msgs + `}`, "output_config.effort"},
		{`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]}`, "messages[0].content[0].source.type"},
		{`{"model":"m","max_tokens":1,"thinking":{"type":"enabled","budget_tokens":10},` + msgs + `}`, "thinking.budget_tokens"},
		{`{"model":"m","max_tokens":1,"tool_choice":{"type":"tool"},` + msgs + `}`, "tool_choice.name"},
		{`{"model":"m","max_tokens":1,"output_format":{"type":"text"},` + msgs + `}`, "output_format"},
		{`{"model":"m","max_tokens":"many",` + msgs + `}`, "max_tokens"},
	} {
		_, err := parseRequest([]byte(tc.body), false)
		br, ok := err.(*badRequest)
		if !ok {
			t.Errorf("%s: err = %v, want a bad request", tc.body, err)
			continue
		}
		if br.Param != tc.param {
			t.Errorf("%s: param = %q, want %q (%v)", tc.body, br.Param, tc.param, br)
		}
	}
	// count_tokens needs no max_tokens.
	if _, err := parseRequest([]byte(`{"model":"m",`+msgs+`}`), true); err != nil {
		t.Errorf("count_tokens body: %v", err)
	}
}

// TestToolResultNeedsItsCall: a Gemini functionResponse names its
// function, found through the tool_use id.
func TestToolResultNeedsItsCall(t *testing.T) {
	r, err := parseRequest([]byte(`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"nope","content":"x"}]}]}`), false)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = toGemini(r)
	if br, ok := err.(*badRequest); !ok || !strings.HasSuffix(br.Param, "tool_use_id") {
		t.Errorf("err = %v, want a bad request naming tool_use_id", err)
	}
}
