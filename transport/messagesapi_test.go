package transport

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
	geminifake "github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
)

// anthropicHeaders are what the Anthropic SDKs send: the key as x-api-key
// and the version header.
func anthropicHeaders() map[string]string {
	return map[string]string{"x-api-key": harnessKey, "anthropic-version": "2023-06-01"}
}

// messagesPools are the Messages mounts and a model each pool serves.
var messagesPools = []struct {
	name, path, model string
	add               func(h *harness)
}{
	{"geminicli", "/geminicli/v1/messages", "gemini-2.5-pro", func(h *harness) { h.addGemini("g-a") }},
	{"codex", "/codex/v1/messages", faultCodexModel, func(h *harness) { h.addCodex("c-a") }},
}

func TestMessagesUnaryOverBothPools(t *testing.T) {
	for _, p := range messagesPools {
		t.Run(p.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			p.add(h)
			resp := h.do(http.MethodPost, p.path,
				`{"model":"`+p.model+`","max_tokens":64,"system":"be brief","messages":[{"role":"user","content":"hi"}]}`, anthropicHeaders())
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var msg struct {
				Type, Role, Model string
				StopReason        string `json:"stop_reason"`
				Content           []struct{ Type, Text string }
				Usage             struct {
					Input  int64 `json:"input_tokens"`
					Output int64 `json:"output_tokens"`
				}
			}
			if err := json.Unmarshal([]byte(body), &msg); err != nil {
				t.Fatal(err)
			}
			if msg.Type != "message" || msg.Role != "assistant" || msg.Model != p.model || msg.StopReason != "end_turn" {
				t.Errorf("message = %+v", msg)
			}
			if len(msg.Content) != 1 || msg.Content[0].Type != "text" || msg.Content[0].Text == "" {
				t.Errorf("content = %+v, want one text block", msg.Content)
			}
		})
	}
}

func TestMessagesStreamOverBothPools(t *testing.T) {
	for _, p := range messagesPools {
		t.Run(p.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			p.add(h)
			resp := h.do(http.MethodPost, p.path,
				`{"model":"`+p.model+`","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, anthropicHeaders())
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			for _, want := range []string{"event: message_start", "event: content_block_start", "event: content_block_delta", "event: content_block_stop", "event: message_delta", "event: message_stop"} {
				if !strings.Contains(body, want) {
					t.Errorf("stream lacks %q:\n%s", want, body)
				}
			}
			if strings.Contains(body, "event: error") {
				t.Errorf("stream has an error event:\n%s", body)
			}
		})
	}
}

// anthropicError decodes Anthropic's error envelope.
func anthropicError(t *testing.T, body string) (typ, message string) {
	t.Helper()
	var e struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Type != "error" || e.Error.Type == "" {
		t.Fatalf("body is not Anthropic's error envelope: %s", body)
	}
	return e.Error.Type, e.Error.Message
}

const messagesStreamBody = `{"model":"%s","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`

// TestMessagesFaults: the fault table on the Messages surface, each case
// ending in Anthropic's own error form.
func TestMessagesFaults(t *testing.T) {
	t.Run("codex 429 fails over", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		h.addCodex("c-a", "c-b")
		h.cfake.Push(codexfake.Responses, faultUsageLimitIn(600))
		resp := h.do(http.MethodPost, "/codex/v1/messages", fmt.Sprintf(messagesStreamBody, faultCodexModel), anthropicHeaders())
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "event: message_stop") {
			t.Fatalf("status %d, body %s; want a whole stream from the second account", resp.StatusCode, body)
		}
		if got := len(faultCodexCalls(h)); got != 2 {
			t.Errorf("upstream calls = %d, want 2", got)
		}
	})
	t.Run("gemini 429 fails over", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		h.addGemini("g-a", "g-b")
		h.gfake.ScriptGenerate(geminifake.Response{Status: http.StatusTooManyRequests, Body: geminiRateLimitBody("45s")})
		resp := h.do(http.MethodPost, "/geminicli/v1/messages", `{"model":"gemini-2.5-pro","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`, anthropicHeaders())
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"type":"message"`) {
			t.Fatalf("status %d, body %s; want the second credential's answer", resp.StatusCode, body)
		}
	})
	t.Run("gemini overload at the head fails over", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		h.addGemini("g-a", "g-b")
		h.gfake.ScriptGenerate(geminifake.Response{Status: http.StatusServiceUnavailable,
			Body: `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`})
		resp := h.do(http.MethodPost, "/geminicli/v1/messages", fmt.Sprintf(messagesStreamBody, "gemini-2.5-pro"), anthropicHeaders())
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusOK || strings.Contains(body, "event: error") || !strings.Contains(body, "event: message_stop") {
			t.Fatalf("status %d, body %s; want a clean stream from the second credential", resp.StatusCode, body)
		}
		if n := len(h.gfake.RequestsTo("/v1internal:streamGenerateContent")); n != 2 {
			t.Errorf("upstream calls = %d, want 2", n)
		}
	})
	t.Run("gemini pool exhausted is a 429 with Retry-After", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		h.addGemini("g-a")
		h.gfake.ScriptGenerate(geminifake.Response{Status: http.StatusTooManyRequests, Body: geminiRateLimitBody("45s")})
		resp := h.do(http.MethodPost, "/geminicli/v1/messages", fmt.Sprintf(messagesStreamBody, "gemini-2.5-pro"), anthropicHeaders())
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("status %d Retry-After %q (%s), want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		if typ, _ := anthropicError(t, body); typ != "rate_limit_error" {
			t.Errorf("error type %q, want rate_limit_error", typ)
		}
	})
	t.Run("codex overload at the head fails over", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		h.addCodex("c-a", "c-b")
		h.cfake.Push(codexfake.Responses, codexfake.Reply{Stream: &codexfake.Stream{Overloaded: true}})
		resp := h.do(http.MethodPost, "/codex/v1/messages", fmt.Sprintf(messagesStreamBody, faultCodexModel), anthropicHeaders())
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusOK || strings.Contains(body, "event: error") || !strings.Contains(body, "event: message_stop") {
			t.Fatalf("status %d, body %s; want a clean stream from the second account", resp.StatusCode, body)
		}
		if got := len(faultCodexCalls(h)); got != 2 {
			t.Errorf("upstream calls = %d, want 2", got)
		}
	})
	t.Run("codex overload on the only account", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		h.addCodex("c-a")
		h.cfake.Push(codexfake.Responses, codexfake.Reply{Stream: &codexfake.Stream{Overloaded: true}})
		resp := h.do(http.MethodPost, "/codex/v1/messages", fmt.Sprintf(messagesStreamBody, faultCodexModel), anthropicHeaders())
		body := readAll(t, resp)
		if resp.StatusCode < 500 {
			t.Fatalf("status %d, want 5xx", resp.StatusCode)
		}
		if typ, _ := anthropicError(t, body); typ != "overloaded_error" && typ != "api_error" {
			t.Errorf("error type %q", typ)
		}
	})
	t.Run("codex stream cut after the first byte", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		h.addCodex("c-a")
		h.cfake.Push(codexfake.Responses, codexfake.Reply{Stream: &codexfake.Stream{CutAfter: 5}})
		resp := h.do(http.MethodPost, "/codex/v1/messages", fmt.Sprintf(messagesStreamBody, faultCodexModel), anthropicHeaders())
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		assertEndsWithAnthropicError(t, body)
	})
	t.Run("gemini stream cut after the first byte", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		h.addGemini("g-a")
		up1, _ := geminiChunk("one", "")
		up2, _ := geminiChunk("two", "STOP")
		h.gfake.ScriptStream(geminifake.Stream{Events: []geminifake.Event{{Data: up1}, {Data: up2}}, CutAfter: 1})
		resp := h.do(http.MethodPost, "/geminicli/v1/messages", fmt.Sprintf(messagesStreamBody, "gemini-2.5-pro"), anthropicHeaders())
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if !strings.Contains(body, `"text":"one"`) {
			t.Errorf("the first chunk did not reach the client: %s", body)
		}
		assertEndsWithAnthropicError(t, body)
	})
	t.Run("pool exhausted is a 429 with Retry-After", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		h.addCodex("c-a")
		h.cfake.Push(codexfake.Responses, faultUsageLimitIn(300))
		resp := h.do(http.MethodPost, "/codex/v1/messages", fmt.Sprintf(messagesStreamBody, faultCodexModel), anthropicHeaders())
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("status %d (%s), want 429", resp.StatusCode, body)
		}
		if typ, _ := anthropicError(t, body); typ != "rate_limit_error" {
			t.Errorf("error type %q, want rate_limit_error", typ)
		}
		if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 299 || ra > 301 {
			t.Errorf("Retry-After = %q, want 300", resp.Header.Get("Retry-After"))
		}
		// A second request finds every credential cooling: the pool's own
		// 429, in the same envelope.
		resp = h.do(http.MethodPost, "/codex/v1/messages", fmt.Sprintf(messagesStreamBody, faultCodexModel), anthropicHeaders())
		body = readAll(t, resp)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("second: status %d Retry-After %q (%s)", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		if typ, _ := anthropicError(t, body); typ != "rate_limit_error" {
			t.Errorf("second: error type %q, want rate_limit_error", typ)
		}
	})
}

// assertEndsWithAnthropicError checks a stream ends with an error event
// and has no message_stop.
func assertEndsWithAnthropicError(t *testing.T, body string) {
	t.Helper()
	events := strings.Split(strings.TrimSpace(body), "\n\n")
	last := events[len(events)-1]
	if !strings.HasPrefix(last, "event: error\ndata: ") {
		t.Fatalf("stream does not end with an error event:\n%s", body)
	}
	anthropicError(t, strings.TrimPrefix(last, "event: error\ndata: "))
	if strings.Contains(body, "event: message_stop") {
		t.Errorf("a broken stream claims message_stop:\n%s", body)
	}
}

// TestMessagesKeysAndErrors: x-api-key is accepted and never forwarded;
// refusals come in Anthropic's envelope.
func TestMessagesKeysAndErrors(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addCodex("c-a")
	body := fmt.Sprintf(messagesStreamBody, faultCodexModel)
	for _, tc := range []struct {
		name    string
		headers map[string]string
		body    string
		status  int
		typ     string
	}{
		{"no key", map[string]string{"anthropic-version": "2023-06-01"}, body, 401, "authentication_error"},
		{"wrong key", map[string]string{"x-api-key": "nope", "anthropic-version": "2023-06-01"}, body, 401, "authentication_error"},
		{"unknown model", anthropicHeaders(), strings.Replace(body, faultCodexModel, "claude-opus-4", 1), 404, "not_found_error"},
		{"untranslatable member", anthropicHeaders(), strings.Replace(body, `"stream":true`, `"stream":true,"n":2`, 1), 400, "invalid_request_error"},
		{"not JSON", anthropicHeaders(), `{`, 400, "invalid_request_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := sendRequest(t, h.ts.Client(), http.MethodPost, h.ts.URL+"/codex/v1/messages", tc.body, tc.headers)
			defer resp.Body.Close()
			got := readAll(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, got, tc.status)
			}
			if typ, _ := anthropicError(t, got); typ != tc.typ {
				t.Errorf("type %q, want %q", typ, tc.typ)
			}
		})
	}
	// The key reached no upstream.
	for _, r := range h.cfake.Requests() {
		if r.Header.Get("x-api-key") != "" || strings.Contains(fmt.Sprint(r.Header), harnessKey) {
			t.Errorf("the client key reached the upstream: %v", r.Header)
		}
	}
}

// TestMessagesDroppedParams: what the Codex backend has no place for is
// named in X-Pollux-Dropped-Params.
func TestMessagesDroppedParams(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addCodex("c-a")
	resp := h.do(http.MethodPost, "/codex/v1/messages",
		`{"model":"`+faultCodexModel+`","max_tokens":64,"temperature":0.2,"stop_sequences":["X"],"messages":[{"role":"user","content":"hi"}]}`, anthropicHeaders())
	readAll(t, resp)
	if got := resp.Header.Get("X-Pollux-Dropped-Params"); got != "max_tokens,stop_sequences,temperature" {
		t.Errorf("X-Pollux-Dropped-Params = %q", got)
	}
	reqs := h.cfake.RequestsTo(codexfake.Responses)
	if len(reqs) != 1 || strings.Contains(string(reqs[0].Body), "temperature") {
		t.Errorf("upstream body: %v", reqs)
	}
}

// TestMessagesModelsNegotiate: a pool's GET models answers in Anthropic's
// format to a caller with anthropic-version, in its own otherwise.
func TestMessagesModelsNegotiate(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for _, path := range []string{"/codex/v1/models", "/geminicli/v1/models"} {
		resp := h.do(http.MethodGet, path, "", anthropicHeaders())
		body := readAll(t, resp)
		var page struct {
			Data []struct {
				Type, ID string
			}
			HasMore *bool `json:"has_more"`
		}
		if err := json.Unmarshal([]byte(body), &page); err != nil || page.HasMore == nil || len(page.Data) == 0 || page.Data[0].Type != "model" {
			t.Errorf("%s with anthropic-version: %s", path, body)
		}
		resp = h.do(http.MethodGet, path, "", nil)
		body = readAll(t, resp)
		if strings.Contains(body, "has_more") {
			t.Errorf("%s without anthropic-version answered Anthropic's format: %s", path, body)
		}
	}
	resp := h.do(http.MethodGet, "/codex/v1/models/"+faultCodexModel, "", anthropicHeaders())
	if body := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(body, `"display_name"`) {
		t.Errorf("get model: %d %s", resp.StatusCode, body)
	}
}

// TestMessagesCountTokens: Code Assist counts for the Gemini pool; the
// Codex pool estimates and says so.
func TestMessagesCountTokens(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addGemini("g-a")
	const body = `{"model":"%s","system":"s","messages":[{"role":"user","content":"how many tokens is this"}]}`
	for _, tc := range []struct{ path, model, estimate string }{
		{"/geminicli/v1/messages/count_tokens", "gemini-2.5-pro", ""},
		{"/codex/v1/messages/count_tokens", faultCodexModel, "bytes/4"},
	} {
		resp := h.do(http.MethodPost, tc.path, fmt.Sprintf(body, tc.model), anthropicHeaders())
		got := readAll(t, resp)
		var n struct {
			InputTokens int64 `json:"input_tokens"`
		}
		if resp.StatusCode != 200 || json.Unmarshal([]byte(got), &n) != nil || n.InputTokens < 1 {
			t.Errorf("%s: %d %s", tc.path, resp.StatusCode, got)
		}
		if e := resp.Header.Get("X-Pollux-Token-Estimate"); e != tc.estimate {
			t.Errorf("%s: estimate header %q, want %q", tc.path, e, tc.estimate)
		}
	}
}

// TestMessagesGeminiSignatureRoundTrip: an Anthropic client cannot carry
// Gemini's thought signature on a tool call; the follow-up that sends the
// tool_use back reaches Code Assist with the signature restored.
func TestMessagesGeminiSignatureRoundTrip(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addGemini("g-a")
	h.gfake.ScriptStream(geminifake.Stream{Events: []geminifake.Event{{Data: `{"response":{"candidates":[{"content":{"role":"model","parts":[` +
		`{"functionCall":{"name":"read_file","args":{"path":"a.go"}},"thoughtSignature":"c2lnLWZj"}]},"finishReason":"STOP"}],"responseId":"r-s"},"traceId":"t"}`}}})
	const tools = `"tools":[{"name":"read_file","input_schema":{"type":"object","properties":{"path":{"type":"string"}}}}]`
	resp := h.do(http.MethodPost, "/geminicli/v1/messages", `{"model":"gemini-2.5-pro","max_tokens":64,`+tools+`,"messages":[{"role":"user","content":"read a.go"}]}`, anthropicHeaders())
	body := readAll(t, resp)
	var first struct {
		Content []struct {
			Type, ID, Name string
			Input          json.RawMessage
		}
	}
	if err := json.Unmarshal([]byte(body), &first); err != nil || len(first.Content) != 1 || first.Content[0].Type != "tool_use" {
		t.Fatalf("first answer: %s", body)
	}
	call := first.Content[0]
	follow := fmt.Sprintf(`{"model":"gemini-2.5-pro","max_tokens":64,%s,"messages":[{"role":"user","content":"read a.go"},`+
		`{"role":"assistant","content":[{"type":"tool_use","id":%q,"name":%q,"input":%s}]},`+
		`{"role":"user","content":[{"type":"tool_result","tool_use_id":%q,"content":"package a"}]}]}`, tools, call.ID, call.Name, call.Input, call.ID)
	resp = h.do(http.MethodPost, "/geminicli/v1/messages", follow, anthropicHeaders())
	if body := readAll(t, resp); resp.StatusCode != http.StatusOK {
		t.Fatalf("follow-up: %d %s", resp.StatusCode, body)
	}
	reqs := h.gfake.RequestsTo("/v1internal:streamGenerateContent")
	if len(reqs) != 2 {
		t.Fatalf("upstream calls = %d, want 2", len(reqs))
	}
	if !strings.Contains(string(reqs[1].Body), `"thoughtSignature":"c2lnLWZj"`) {
		t.Errorf("the follow-up lacks the recorded signature: %s", reqs[1].Body)
	}
	if !strings.Contains(string(reqs[1].Body), `"functionResponse":{"id":`+strconv.Quote(call.ID)+`,"name":"read_file"`) {
		t.Errorf("the tool result is not a functionResponse for read_file: %s", reqs[1].Body)
	}
}

// TestMessagesGeminiErrorMidStream: an error object after output ends the
// stream with an Anthropic error event.
func TestMessagesGeminiErrorMidStream(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addGemini("g-a")
	up1, _ := geminiChunk("one", "")
	h.gfake.ScriptStream(geminifake.Stream{Events: []geminifake.Event{{Data: up1}, {Data: `{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}`}}})
	resp := h.do(http.MethodPost, "/geminicli/v1/messages", fmt.Sprintf(messagesStreamBody, "gemini-2.5-pro"), anthropicHeaders())
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	assertEndsWithAnthropicError(t, body)
}

// TestMessagesMemberKeys: a member key works as x-api-key, its model
// allow-list answers 403 in Anthropic's envelope, and the Anthropic model
// list shows only its models.
func TestMessagesMemberKeys(t *testing.T) {
	e := newKeysEnv(t)
	_, flash := e.createKey(`{"name":"flash-only","models":["gemini-2.5-fl*"]}`)
	hdr := map[string]string{"x-api-key": flash, "anthropic-version": "2023-06-01"}
	r := e.send(http.MethodPost, "/geminicli/v1/messages", fmt.Sprintf(messagesStreamBody, "gemini-2.5-flash"), hdr)
	if r.status != http.StatusOK || !strings.Contains(r.body, "event: message_stop") {
		t.Errorf("allowed model: %d %s", r.status, r.body)
	}
	r = e.send(http.MethodPost, "/geminicli/v1/messages", fmt.Sprintf(messagesStreamBody, "gemini-2.5-pro"), hdr)
	if r.status != http.StatusForbidden {
		t.Fatalf("model outside the allow-list: %d %s, want 403", r.status, r.body)
	}
	if typ, _ := anthropicError(t, r.body); typ != "permission_error" {
		t.Errorf("error type %q, want permission_error", typ)
	}
	r = e.send(http.MethodGet, "/geminicli/v1/models", "", hdr)
	if r.status != http.StatusOK || !strings.Contains(r.body, `"id":"gemini-2.5-flash"`) || strings.Contains(r.body, "gemini-2.5-pro") || !strings.Contains(r.body, `"has_more":false`) {
		t.Errorf("models: %d %s", r.status, r.body)
	}
}

// TestMessagesStreamFlushesSkippedBursts: the Codex events that carry
// nothing for an Anthropic client (in_progress, output_item.added of a
// message, content_part.added) must not hold back the message_start before
// them: the client has it while the upstream is still silent.
func TestMessagesStreamFlushesSkippedBursts(t *testing.T) {
	h := newHarness(t, harnessOptions{keepAlive: time.Hour})
	h.addCodex("c-a")
	gate := make(chan struct{})
	defer close(gate)
	const resp = `{"id":"resp_f","object":"response","status":"in_progress","model":"gpt-5.2-codex","output":[]}`
	h.cfake.Push(codexfake.Responses, codexfake.Reply{Stream: &codexfake.Stream{Events: []codexfake.Event{
		{Name: "response.created", Data: `{"type":"response.created","response":` + resp + `}`},
		{Name: "response.in_progress", Data: `{"type":"response.in_progress","response":` + resp + `}`},
		{Name: "response.output_item.added", Data: `{"type":"response.output_item.added","output_index":0,"item":{"id":"m","type":"message","role":"assistant","content":[]}}`},
		{Name: "response.content_part.added", Data: `{"type":"response.content_part.added","item_id":"m","output_index":0,"content_index":0,"part":{"type":"output_text","text":""}}`},
		{Name: "response.output_text.delta", Data: `{"type":"response.output_text.delta","item_id":"m","output_index":0,"content_index":0,"delta":"late"}`, Gate: gate},
	}}})
	// Bounds the test should the flush be missing; it never elapses when
	// the relay works.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.ts.URL+"/codex/v1/messages", strings.NewReader(fmt.Sprintf(messagesStreamBody, faultCodexModel)))
	for k, v := range anthropicHeaders() {
		req.Header.Set(k, v)
	}
	resp0, err := h.ts.Client().Do(req)
	if err != nil {
		t.Fatalf("no answer while the upstream is silent: %v", err)
	}
	defer resp0.Body.Close()
	line, err := bufio.NewReader(resp0.Body).ReadString('\n')
	if err != nil || line != "event: message_start\n" {
		t.Fatalf("first line %q, %v; want message_start before the upstream's next event", line, err)
	}
}
