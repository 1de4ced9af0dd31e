package transport

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
)

// Root test bodies: one model of each pool.
const (
	rootGeminiModel = "gemini-2.5-pro"
	rootCodexModel  = "gpt-5.2-codex"
)

// upstreamCalls counts the generate calls each fake upstream received.
func (e *gatewayEnv) upstreamCalls() (gemini, codex int) {
	for _, r := range e.gfake.Requests() {
		for _, m := range []string{":generateContent", ":streamGenerateContent", ":countTokens"} {
			if strings.HasSuffix(r.Path, m) {
				gemini++
			}
		}
	}
	return gemini, len(e.cfake.RequestsTo(codexfake.Responses)) + len(e.cfake.RequestsTo(codexfake.Compact))
}

// lastAccess returns the surface field of the last access-log line for
// path ("" when the line has none).
func (e *gatewayEnv) lastAccess(t *testing.T, path string) (surface string, found bool) {
	t.Helper()
	for _, entry := range e.logs.FilterMessage("request").All() {
		m := entry.ContextMap()
		if m[keyPath] == path {
			surface, _ = m[keySurface].(string)
			found = true
		}
	}
	return surface, found
}

// TestRootRoutesReachBothPools: every root route, with a model of each
// pool, is answered by that pool's own surface (the upstream of that pool
// is called, the reply is in the route's format) and counted under the
// pool's provider in the access log.
func TestRootRoutesReachBothPools(t *testing.T) {
	e := newKeysEnv(t)
	chat := func(model string, stream bool) string {
		return `{"model":"` + model + `","stream":` + map[bool]string{true: "true", false: "false"}[stream] + `,"messages":[{"role":"user","content":"hi"}]}`
	}
	msg := func(model string, stream bool) string {
		return `{"model":"` + model + `","max_tokens":64,"stream":` + map[bool]string{true: "true", false: "false"}[stream] + `,"messages":[{"role":"user","content":"hi"}]}`
	}
	anthropic := map[string]string{"x-api-key": harnessKey, "anthropic-version": "2023-06-01"}
	for _, tc := range []struct {
		name, path, body string
		headers          map[string]string
		pool             string // geminicli or codex
		upstream         bool   // the pool's upstream is called
		want             string
	}{
		{"chat gemini", "/v1/chat/completions", chat(rootGeminiModel, false), nil, "geminicli", true, `"object":"chat.completion"`},
		{"chat gemini stream", "/v1/chat/completions", chat(rootGeminiModel, true), nil, "geminicli", true, "data: [DONE]"},
		{"chat codex", "/v1/chat/completions", chat(rootCodexModel, false), nil, "codex", true, `"object":"chat.completion"`},
		{"chat codex stream", "/v1/chat/completions", chat(rootCodexModel, true), nil, "codex", true, "data: [DONE]"},
		{"messages gemini", "/v1/messages", msg(rootGeminiModel, false), anthropic, "geminicli", true, `"type":"message"`},
		{"messages gemini stream", "/v1/messages?beta=true", msg(rootGeminiModel, true), anthropic, "geminicli", true, "event: message_stop"},
		{"messages codex", "/v1/messages", msg(rootCodexModel, false), anthropic, "codex", true, `"type":"message"`},
		{"messages codex stream", "/v1/messages", msg(rootCodexModel, true), anthropic, "codex", true, "event: message_stop"},
		{"count_tokens gemini", "/v1/messages/count_tokens", `{"model":"` + rootGeminiModel + `","messages":[{"role":"user","content":"hi"}]}`, anthropic, "geminicli", true, `"input_tokens"`},
		{"count_tokens codex", "/v1/messages/count_tokens", `{"model":"` + rootCodexModel + `","messages":[{"role":"user","content":"hi"}]}`, anthropic, "codex", false, `"input_tokens"`},
		{"responses codex", "/v1/responses", `{"model":"` + rootCodexModel + `","input":"hi"}`, nil, "codex", true, `"object":"response"`},
		{"responses codex stream", "/v1/responses", `{"model":"` + rootCodexModel + `","input":"hi","stream":true}`, nil, "codex", true, "event: response.completed"},
		{"responses compact codex", "/v1/responses/compact", `{"model":"` + rootCodexModel + `","input":[{"role":"user","content":"hi"}]}`, nil, "codex", true, `"output"`},
		{"gemini generate", "/v1beta/models/" + rootGeminiModel + ":generateContent", geminiReqBody, map[string]string{"x-goog-api-key": harnessKey}, "geminicli", true, `"candidates"`},
		{"gemini stream", "/v1beta/models/" + rootGeminiModel + ":streamGenerateContent?alt=sse", geminiReqBody, nil, "geminicli", true, "data: {"},
		{"gemini count", "/v1beta/models/" + rootGeminiModel + ":countTokens", geminiReqBody, nil, "geminicli", true, `"totalTokens"`},
		{"gemini doubled prefix", "/v1beta/models/models/" + rootGeminiModel + ":generateContent", geminiReqBody, nil, "geminicli", true, `"candidates"`},
		{"gemini under v1 (Gen AI SDK 3.x)", "/v1/models/" + rootGeminiModel + ":generateContent?key=" + harnessKey, geminiReqBody, map[string]string{"Authorization": ""}, "geminicli", true, `"candidates"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g0, c0 := e.upstreamCalls()
			hdr := map[string]string{"Authorization": "Bearer " + harnessKey}
			for k, v := range tc.headers {
				hdr[k] = v
			}
			if hdr["Authorization"] == "" || hdr["x-api-key"] != "" || hdr["x-goog-api-key"] != "" {
				delete(hdr, "Authorization")
			}
			r := e.send(http.MethodPost, tc.path, tc.body, hdr)
			if r.status != http.StatusOK || !strings.Contains(r.body, tc.want) {
				t.Fatalf("POST %s: %d %s; want 200 with %s", tc.path, r.status, r.body, tc.want)
			}
			g1, c1 := e.upstreamCalls()
			gotG, gotC := g1-g0, c1-c0
			wantG, wantC := 0, 0
			if tc.upstream && tc.pool == "geminicli" {
				wantG = 1
			}
			if tc.upstream && tc.pool == "codex" {
				wantC = 1
			}
			if gotG != wantG || gotC != wantC {
				t.Errorf("upstream calls gemini %d codex %d, want %d and %d", gotG, gotC, wantG, wantC)
			}
			path, _, _ := strings.Cut(tc.path, "?")
			if sf, found := e.lastAccess(t, path); !found || sf != tc.pool {
				t.Errorf("access log surface = %q (line found: %v), want %q", sf, found, tc.pool)
			}
		})
	}
}

// rootOpenAIError decodes the OpenAI envelope.
func rootOpenAIError(t *testing.T, body string) (typ, code, param, message string) {
	t.Helper()
	var e struct {
		Error struct {
			Type, Message string
			Code, Param   *string
		}
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Type == "" || e.Error.Message == "" {
		t.Fatalf("not the OpenAI error envelope: %s", body)
	}
	return e.Error.Type, codexDeref(e.Error.Code), codexDeref(e.Error.Param), e.Error.Message
}

// TestRootModelErrors: an unknown model is a 404 and a model of a pool the
// route cannot reach a 400, each in the caller's envelope, naming the
// model and where to look; nothing reaches an upstream.
func TestRootModelErrors(t *testing.T) {
	e := newKeysEnv(t)
	anthropic := map[string]string{"x-api-key": harnessKey, "anthropic-version": "2023-06-01"}
	bearer := map[string]string{"Authorization": "Bearer " + harnessKey}
	type check func(t *testing.T, body string)
	openAI := func(wantType, wantCode string, wantIn ...string) check {
		return func(t *testing.T, body string) {
			typ, code, param, msg := rootOpenAIError(t, body)
			if typ != wantType || code != wantCode || param != "model" {
				t.Errorf("type %q code %q param %q, want %q %q model", typ, code, param, wantType, wantCode)
			}
			for _, w := range wantIn {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
		}
	}
	anthropicErr := func(wantType string, wantIn ...string) check {
		return func(t *testing.T, body string) {
			typ, msg := anthropicError(t, body)
			if typ != wantType {
				t.Errorf("type %q, want %q", typ, wantType)
			}
			for _, w := range wantIn {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
		}
	}
	geminiErr := func(wantStatus string, wantIn ...string) check {
		return func(t *testing.T, body string) {
			ge := decodeGeminiError(t, body)
			if ge.Error.Status != wantStatus {
				t.Errorf("status %q, want %q: %s", ge.Error.Status, wantStatus, body)
			}
			for _, w := range wantIn {
				if !strings.Contains(ge.Error.Message, w) {
					t.Errorf("message %q lacks %q", ge.Error.Message, w)
				}
			}
		}
	}
	for _, tc := range []struct {
		name, path, body string
		headers          map[string]string
		status           int
		check            check
	}{
		{"unknown at chat", "/v1/chat/completions", `{"model":"nope-1","messages":[{"role":"user","content":"hi"}]}`, bearer,
			404, openAI("invalid_request_error", "model_not_found", `"nope-1"`, "GET /v1/models")},
		{"unknown at responses", "/v1/responses", `{"model":"nope-1","input":"hi"}`, bearer,
			404, openAI("invalid_request_error", "model_not_found", `"nope-1"`, "GET /v1/models")},
		{"unknown at messages", "/v1/messages", `{"model":"nope-1","max_tokens":5,"messages":[]}`, anthropic,
			404, anthropicErr("not_found_error", `"nope-1"`, "GET /v1/models")},
		{"unknown at count_tokens", "/v1/messages/count_tokens", `{"model":"nope-1","messages":[]}`, anthropic,
			404, anthropicErr("not_found_error", `"nope-1"`)},
		{"unknown at gemini", "/v1beta/models/nope-1:generateContent", geminiReqBody, bearer,
			404, geminiErr("NOT_FOUND", "models/nope-1", "GET /v1beta/models", "GET /v1/models")},
		{"gemini model at responses", "/v1/responses", `{"model":"` + rootGeminiModel + `","input":"hi"}`, bearer,
			400, openAI("invalid_request_error", "model_not_supported", "geminicli pool", "POST /v1/chat/completions", "POST /v1/messages", "/v1beta/models/{model}:generateContent", "OpenAI Responses")},
		{"gemini model at compact", "/v1/responses/compact", `{"model":"` + rootGeminiModel + `","input":[]}`, bearer,
			400, openAI("invalid_request_error", "model_not_supported", "geminicli pool")},
		{"codex model at gemini", "/v1beta/models/" + rootCodexModel + ":streamGenerateContent?alt=sse", geminiReqBody, bearer,
			400, geminiErr("INVALID_ARGUMENT", "codex pool", "POST /v1/responses", "POST /v1/chat/completions", "Gemini API")},
		{"codex model at gemini v1", "/v1/models/" + rootCodexModel + ":generateContent", geminiReqBody, bearer,
			400, geminiErr("INVALID_ARGUMENT", "codex pool")},
		{"no model", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}]}`, bearer,
			400, func(t *testing.T, body string) {
				if typ, _, _, msg := rootOpenAIError(t, body); typ != "invalid_request_error" || !strings.Contains(msg, `"model"`) {
					t.Errorf("type %q message %q", typ, msg)
				}
			}},
		{"nested model only", "/v1/messages", `{"metadata":{"model":"` + rootGeminiModel + `"},"max_tokens":5,"messages":[]}`, anthropic,
			400, anthropicErr("invalid_request_error", `no "model"`)},
		{"not JSON at messages", "/v1/messages", `{"model":`, anthropic,
			400, anthropicErr("invalid_request_error", "not valid JSON")},
		{"not an object at gemini", "/v1/chat/completions", `[1,2]`, bearer,
			400, openAI("invalid_request_error", "invalid_request")},
		{"no method at gemini", "/v1beta/models/" + rootGeminiModel, geminiReqBody, bearer,
			404, geminiErr("NOT_FOUND", "unknown method")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "not an object at gemini" {
				// The OpenAI envelope's generic code, param null.
				r := e.send(http.MethodPost, tc.path, tc.body, tc.headers)
				if typ, code, param, _ := rootOpenAIError(t, r.body); r.status != 400 || typ != "invalid_request_error" || code != "invalid_request" || param != "" {
					t.Errorf("%d %s", r.status, r.body)
				}
				return
			}
			g0, c0 := e.upstreamCalls()
			r := e.send(http.MethodPost, tc.path, tc.body, tc.headers)
			if r.status != tc.status {
				t.Fatalf("POST %s: %d %s, want %d", tc.path, r.status, r.body, tc.status)
			}
			tc.check(t, r.body)
			if g1, c1 := e.upstreamCalls(); g1 != g0 || c1 != c0 {
				t.Errorf("upstream called: gemini %d, codex %d", g1-g0, c1-c0)
			}
		})
	}
}
