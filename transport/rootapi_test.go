package transport

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/config"
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

// TestRootModelLists: GET /v1/models lists every pool's models, in
// Anthropic's format for a caller that sends anthropic-version and in
// OpenAI's otherwise; GET /v1beta/models the Gemini pool's in Gemini's;
// each only what a member key may see.
func TestRootModelLists(t *testing.T) {
	e := newKeysEnv(t)
	_, flash := e.createKey(`{"name":"flash-only","models":["gemini-2.5-fl*","gpt-5.2"]}`)
	_, codexOnly := e.createKey(`{"name":"codex-only","surfaces":["codex"]}`)
	anthropic := func(key string) map[string]string {
		return map[string]string{"x-api-key": key, "anthropic-version": "2023-06-01"}
	}
	bearer := func(key string) map[string]string { return map[string]string{"Authorization": "Bearer " + key} }
	every := []string{`"gemini-2.5-pro"`, `"gemini-2.5-flash"`, `"gpt-5.2-codex"`, `"gpt-5.2"`}
	for _, tc := range []struct {
		name, path string
		headers    map[string]string
		want, not  []string
	}{
		{"openai, every pool", "/v1/models", bearer(harnessKey),
			append([]string{`"object":"list"`, `"owned_by":"google"`, `"owned_by":"openai"`}, every...), []string{`"type":"model"`}},
		{"anthropic, every pool", "/v1/models", anthropic(harnessKey),
			append([]string{`"type":"model"`, `"has_more":false`, `"first_id":"gemini-2.5-pro"`, `"last_id":"gpt-5.2"`}, every...), []string{`"object"`}},
		{"openai, model allow-list", "/v1/models", bearer(flash),
			[]string{`"gemini-2.5-flash"`, `"gpt-5.2"`}, []string{"gemini-2.5-pro", "gpt-5.2-codex"}},
		{"anthropic, model allow-list", "/v1/models", anthropic(flash),
			[]string{`"gemini-2.5-flash"`, `"gpt-5.2"`}, []string{"gemini-2.5-pro", "gpt-5.2-codex"}},
		{"openai, surface allow-list", "/v1/models", bearer(codexOnly),
			[]string{`"gpt-5.2-codex"`, `"gpt-5.2"`}, []string{"gemini"}},
		{"openai, one model", "/v1/models/gpt-5.2-codex", bearer(harnessKey),
			[]string{`"id":"gpt-5.2-codex"`, `"object":"model"`, `"owned_by":"openai"`}, nil},
		{"anthropic, one model", "/v1/models/gemini-2.5-pro", anthropic(harnessKey),
			[]string{`"id":"gemini-2.5-pro"`, `"type":"model"`, `"display_name"`}, nil},
		{"gemini", "/v1beta/models", map[string]string{"x-goog-api-key": harnessKey},
			[]string{`"models/gemini-2.5-pro"`, `"models/gemini-2.5-flash"`, `"supportedGenerationMethods"`}, []string{"gpt"}},
		{"gemini, one model", "/v1beta/models/gemini-2.5-flash", bearer(harnessKey),
			[]string{`"name":"models/gemini-2.5-flash"`}, nil},
		{"gemini, model allow-list", "/v1beta/models", bearer(flash),
			[]string{`"models/gemini-2.5-flash"`}, []string{"gemini-2.5-pro"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.send(http.MethodGet, tc.path, "", tc.headers)
			if r.status != http.StatusOK {
				t.Fatalf("GET %s: %d %s", tc.path, r.status, r.body)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.body, w) {
					t.Errorf("%s lacks %s", r.body, w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(r.body, n) {
					t.Errorf("%s has %s", r.body, n)
				}
			}
		})
	}
	for _, tc := range []struct {
		name, path string
		headers    map[string]string
		check      func(t *testing.T, body string)
	}{
		{"openai, unknown model", "/v1/models/nope-1", bearer(harnessKey), func(t *testing.T, body string) {
			if typ, _, _, _ := rootOpenAIError(t, body); typ != "not_found_error" {
				t.Errorf("type %q", typ)
			}
		}},
		{"anthropic, unknown model", "/v1/models/nope-1", anthropic(harnessKey), func(t *testing.T, body string) {
			if typ, _ := anthropicError(t, body); typ != "not_found_error" {
				t.Errorf("type %q", typ)
			}
		}},
		{"gemini, codex model", "/v1beta/models/gpt-5.2", bearer(harnessKey), func(t *testing.T, body string) {
			if ge := decodeGeminiError(t, body); ge.Error.Status != "NOT_FOUND" {
				t.Errorf("status %q", ge.Error.Status)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.send(http.MethodGet, tc.path, "", tc.headers)
			if r.status != http.StatusNotFound {
				t.Fatalf("GET %s: %d %s, want 404", tc.path, r.status, r.body)
			}
			tc.check(t, r.body)
		})
	}
	// The Gemini list belongs to the Gemini surface: a key without it is
	// refused, as under /geminicli.
	if r := e.as(codexOnly, http.MethodGet, "/v1beta/models", ""); r.status != http.StatusForbidden || !strings.Contains(r.body, "PERMISSION_DENIED") {
		t.Errorf("codex-only key at /v1beta/models: %d %s, want 403 in Gemini's envelope", r.status, r.body)
	}
}

// TestRootMemberKeys: a member key's model and surface allow-lists apply
// at the root exactly as on the pools' own prefixes, each refusal in the
// caller's envelope; its usage is counted under the pool's provider.
func TestRootMemberKeys(t *testing.T) {
	e := newKeysEnv(t)
	_, limited := e.createKey(`{"name":"root-limited","models":["gemini-2.5-pro","gpt-5.2-codex"]}`)
	_, codexOnly := e.createKey(`{"name":"root-codex","surfaces":["codex"]}`)
	chat := func(model string) string {
		return `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`
	}
	msg := func(model string) string {
		return `{"model":"` + model + `","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`
	}
	for _, tc := range []struct {
		name, key, path, body string
		anthropic             bool
		status                int
		want                  string
	}{
		{"allowed gemini model", limited, "/v1/chat/completions", chat(rootGeminiModel), false, 200, `"chat.completion"`},
		{"allowed codex model", limited, "/v1/messages", msg(rootCodexModel), true, 200, `"type":"message"`},
		{"allowed at gemini", limited, "/v1beta/models/gemini-2.5-pro:generateContent", geminiReqBody, false, 200, `"candidates"`},
		{"model outside the list, openai", limited, "/v1/chat/completions", chat("gemini-2.5-flash"), false, 403, `"type":"permission_error"`},
		{"model outside the list, anthropic", limited, "/v1/messages", msg("gpt-5.2"), true, 403, `"type":"permission_error"`},
		{"model outside the list, gemini", limited, "/v1beta/models/gemini-2.5-flash:generateContent", geminiReqBody, false, 403, `"PERMISSION_DENIED"`},
		{"model outside the list, responses", limited, "/v1/responses", `{"model":"gpt-5.2","input":"hi"}`, false, 403, `may use: gemini-2.5-pro, gpt-5.2-codex`},
		{"surface outside the list", codexOnly, "/v1/chat/completions", chat(rootGeminiModel), false, 403, "may not use the geminicli surface; it may use: codex"},
		{"surface outside the list, anthropic", codexOnly, "/v1/messages", msg(rootGeminiModel), true, 403, `"type":"permission_error"`},
		{"surface inside the list", codexOnly, "/v1/chat/completions", chat(rootCodexModel), false, 200, `"chat.completion"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{"Authorization": "Bearer " + tc.key}
			if tc.anthropic {
				hdr = map[string]string{"x-api-key": tc.key, "anthropic-version": "2023-06-01"}
			}
			r := e.send(http.MethodPost, tc.path, tc.body, hdr)
			if r.status != tc.status || !strings.Contains(r.body, tc.want) {
				t.Errorf("POST %s: %d %s; want %d with %s", tc.path, r.status, r.body, tc.status, tc.want)
			}
		})
	}
	// A key with limits gets the OpenAI rate-limit headers where the pool's
	// own surface sends them (the Codex pool's).
	_, metered := e.createKey(`{"name":"root-metered","limits":{"requests_per_minute":50}}`)
	r := e.as(metered, http.MethodPost, "/v1/responses", `{"model":"gpt-5.2-codex","input":"hi"}`)
	if r.status != http.StatusOK || r.header.Get(headerLimitRequests) != "50" || r.header.Get(headerRemainingRequests) != "49" {
		t.Errorf("metered key at /v1/responses: %d, limit %q remaining %q; want 200, 50, 49", r.status,
			r.header.Get(headerLimitRequests), r.header.Get(headerRemainingRequests))
	}

	providers := map[string]int64{}
	for _, row := range e.usage("?group_by=key,provider").Rows {
		if row.Key == "root-limited" {
			providers[row.Provider] += row.Requests
			if row.Requests > 0 && row.Provider == "" {
				t.Errorf("usage row without a provider: %+v", row)
			}
		}
	}
	// Two gemini 200s and two refusals at the allow-list (counted, as on
	// the pools' prefixes); one codex 200 and two refusals.
	if providers["geminicli"] < 2 || providers["codex"] < 1 {
		t.Errorf("requests per provider %v, want geminicli >= 2 and codex >= 1", providers)
	}
	// No key's secret reaches a log line; the access log names the key.
	for _, entry := range e.logs.All() {
		line := entry.Message
		for k, v := range entry.ContextMap() {
			line += " " + k + "=" + toString(v)
		}
		for _, secret := range []string{limited, codexOnly, metered, harnessKey} {
			if strings.Contains(line, strings.TrimPrefix(secret, "pk-")) {
				t.Errorf("a secret in a log line: %.200s", line)
			}
		}
	}
	if len(e.logs.FilterField(zapString(keyField, "root-limited")).All()) < 7 {
		t.Error("the access log does not name the key on the root requests")
	}
}

// TestRootKeysAndUnknownPaths: every root route and any other path under
// /v1 and /v1beta wants a client key (401 without one, in the path's
// envelope); with a key an unknown path is a 404 in the caller's envelope.
func TestRootKeysAndUnknownPaths(t *testing.T) {
	e := newKeysEnv(t)
	for _, tc := range []struct {
		method, path string
		headers      map[string]string
		envelope     string // a field of the expected envelope
	}{
		{"POST", "/v1/chat/completions", nil, `"code":"invalid_api_key"`},
		{"POST", "/v1/responses", nil, `"code":"invalid_api_key"`},
		{"POST", "/v1/responses/compact", nil, `"code":"invalid_api_key"`},
		{"POST", "/v1/messages", map[string]string{"anthropic-version": "2023-06-01"}, `"type":"authentication_error"`},
		{"POST", "/v1/messages/count_tokens", nil, `"type":"authentication_error"`},
		{"GET", "/v1/models", nil, `"code":"invalid_api_key"`},
		{"GET", "/v1/models", map[string]string{"anthropic-version": "2023-06-01"}, `"type":"error"`},
		{"GET", "/v1/models/gpt-5.2", nil, `"code":"invalid_api_key"`},
		{"GET", "/v1beta/models", nil, `"status":"UNAUTHENTICATED"`},
		{"POST", "/v1beta/models/gemini-2.5-pro:generateContent", nil, `"status":"UNAUTHENTICATED"`},
		{"POST", "/v1/models/gemini-2.5-pro:generateContent", nil, `"status":"UNAUTHENTICATED"`},
		{"GET", "/v1/nope", nil, `"code":"invalid_api_key"`},
		{"POST", "/v1beta/nope", nil, `"status":"UNAUTHENTICATED"`},
	} {
		r := e.send(tc.method, tc.path, `{}`, tc.headers)
		if r.status != http.StatusUnauthorized || !strings.Contains(r.body, tc.envelope) {
			t.Errorf("%s %s without a key: %d %s; want 401 with %s", tc.method, tc.path, r.status, r.body, tc.envelope)
		}
	}
	for _, tc := range []struct {
		method, path string
		headers      map[string]string
		status       int
		envelope     string
	}{
		{"GET", "/v1/nope", nil, 404, `"type":"not_found_error","code":"not_found"`},
		{"GET", "/v1/nope", map[string]string{"anthropic-version": "2023-06-01"}, 404, `{"type":"error","error":{"type":"not_found_error"`},
		{"POST", "/v1beta/nope", nil, 404, `"status":"NOT_FOUND"`},
		{"GET", "/v1/chat/completions", nil, 405, `"code":"method_not_allowed"`},
		{"GET", "/v1/messages", nil, 405, `"type":"error"`},
	} {
		hdr := map[string]string{"Authorization": "Bearer " + harnessKey}
		for k, v := range tc.headers {
			hdr[k] = v
		}
		r := e.send(tc.method, tc.path, "", hdr)
		if r.status != tc.status || !strings.Contains(r.body, tc.envelope) {
			t.Errorf("%s %s with a key: %d %s; want %d with %s", tc.method, tc.path, r.status, r.body, tc.status, tc.envelope)
		}
	}
}

// TestRootRoutingOrderAndBody: a model both pools serve goes to the Gemini
// CLI pool where both speak the route's format and to the one that speaks
// it otherwise; the model is the body's top-level one, whatever "model"
// comes earlier inside it; the body limit holds at the root, its 413 in
// the caller's envelope; and the requests count under the pool's provider
// in the metrics.
func TestRootRoutingOrderAndBody(t *testing.T) {
	e := newGatewayEnv(t, zap.NewAtomicLevelAt(zap.DebugLevel), func(c *config.Config) {
		c.Providers.GeminiCLI.ModelList = append(c.Providers.GeminiCLI.ModelList, "shared-1")
		c.Providers.Codex.ModelList = append(c.Providers.Codex.ModelList, "shared-1")
	})
	e.start()
	e.addAccounts()
	t.Cleanup(e.shutdown)
	for _, tc := range []struct {
		name, path, body string
		anthropic        bool
		pool             string
	}{
		{"chat: the first pool", "/v1/chat/completions", `{"model":"shared-1","messages":[{"role":"user","content":"hi"}]}`, false, "geminicli"},
		{"messages: the first pool", "/v1/messages", `{"model":"shared-1","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}`, true, "geminicli"},
		{"responses: the pool that speaks it", "/v1/responses", `{"model":"shared-1","input":"hi"}`, false, "codex"},
		{"gemini: the pool that speaks it", "/v1beta/models/shared-1:generateContent", geminiReqBody, false, "geminicli"},
		{"nested model first", "/v1/messages",
			`{"metadata":{"model":"gemini-2.5-pro"},"messages":[{"role":"user","content":[{"type":"text","text":"{\"model\":\"gemini-2.5-pro\"}"}]}],"max_tokens":8,"model":"gpt-5.2-codex"}`, true, "codex"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{"Authorization": "Bearer " + harnessKey}
			if tc.anthropic {
				hdr["anthropic-version"] = "2023-06-01"
			}
			g0, c0 := e.upstreamCalls()
			r := e.send(http.MethodPost, tc.path, tc.body, hdr)
			if r.status != http.StatusOK {
				t.Fatalf("POST %s: %d %s", tc.path, r.status, r.body)
			}
			g1, c1 := e.upstreamCalls()
			if got := map[bool]string{true: "geminicli", false: "codex"}[g1 > g0]; got != tc.pool || g1-g0+c1-c0 != 1 {
				t.Errorf("served by %s (gemini calls %d, codex %d), want %s", got, g1-g0, c1-c0, tc.pool)
			}
		})
	}

	metrics := e.as(harnessKey, http.MethodGet, "/metrics", "").body
	for _, want := range []string{
		`pollux_requests_total{code="2xx",key="operator",model="gpt-5.2-codex",surface="codex"} 1`,
		`pollux_requests_total{code="2xx",key="operator",model="shared-1",surface="geminicli"} 3`,
		`pollux_requests_total{code="2xx",key="operator",model="shared-1",surface="codex"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestRootBodyLimit: the server's body limit holds at the root (the root
// reads the body before the surface does); the 413 is in the caller's
// envelope.
func TestRootBodyLimit(t *testing.T) {
	h := newHarness(t, harnessOptions{serverSetup: func(s *Server) { s.bodyLimit = 1 << 10 }})
	big := `{"model":"gemini-2.5-pro","messages":[{"role":"user","content":"` + strings.Repeat("x", 2<<10) + `"}]}`
	for _, tc := range []struct {
		path    string
		chunked bool
		want    string
	}{
		{"/v1/chat/completions", false, `"code":"request_too_large"`},
		{"/v1/chat/completions", true, `"code":"request_too_large"`},
		{"/v1/messages", true, `"type":"request_too_large"`},
		{"/v1beta/models/gemini-2.5-pro:generateContent", true, `"code":413`},
	} {
		var body io.Reader = strings.NewReader(big)
		if tc.chunked {
			body = struct{ io.Reader }{body} // no length: sent chunked
		}
		req, err := http.NewRequest(http.MethodPost, h.ts.URL+tc.path, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+harnessKey)
		resp, err := h.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(t, resp)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(got, tc.want) {
			t.Errorf("POST %s (chunked %v): %d %s; want 413 with %s", tc.path, tc.chunked, resp.StatusCode, got, tc.want)
		}
	}
}
