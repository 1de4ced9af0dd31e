package transport

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/geminicli"
	geminifake "github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
	"github.com/pollux-gateway/pollux/storage"
)

// geminiCLIBody is a request shaped like the Gemini CLI's: a replayed
// function call with a client-made id and the skip thought signature, a tool
// declared with parametersJsonSchema, a thinking budget, a session id, and a
// field Pollux does not know, spaced and numbered oddly so that any
// re-encoding would show.
const geminiCLIBody = `{"contents":[{"role":"user","parts":[{"text":"read a.go"}]},` +
	`{"role":"model","parts":[{"functionCall":{"id":"call-7f3a","name":"read_file","args":{"path":"a.go"}},"thoughtSignature":"skip_thought_signature_validator"}]},` +
	`{"role":"user","parts":[{"functionResponse":{"id":"call-7f3a","name":"read_file","response":{"output":"package a"}}}]}],` +
	`"systemInstruction":{"role":"user","parts":[{"text":"be brief"}]},` +
	`"tools":[{"functionDeclarations":[{"name":"read_file","parametersJsonSchema":{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}}]}],` +
	`"generationConfig":{"thinkingConfig":{"thinkingBudget":8192,"includeThoughts":true},"temperature":0.70},` +
	`"session_id":"sess-1",  "x_future_field" : {"keep": [1, 2.50, "me"]}}`

const (
	geminiGeneratePath = "/v1internal:generateContent"
	geminiStreamPath   = "/v1internal:streamGenerateContent"
)

// geminiKeyForms are the three ways a Gemini client presents the key.
var geminiKeyForms = []struct {
	name  string
	apply func(r *http.Request)
}{
	{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+harnessKey) }},
	{"x-goog-api-key", func(r *http.Request) { r.Header.Set("x-goog-api-key", harnessKey) }},
	{"query", func(r *http.Request) {
		q := r.URL.Query()
		q.Set("key", harnessKey)
		r.URL.RawQuery = q.Encode()
	}},
}

// postGemini sends body to path with the key applied by withKey.
func postGemini(ctx context.Context, t *testing.T, h *harness, path, body string, withKey func(*http.Request)) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	withKey(req)
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// geminiUpEnvelope decodes a Code Assist request the fake recorded.
type geminiUpEnvelope struct {
	Model   string          `json:"model"`
	Project string          `json:"project"`
	Request json.RawMessage `json:"request"`
}

func decodeGeminiEnvelope(t *testing.T, r geminifake.Request) geminiUpEnvelope {
	t.Helper()
	var env geminiUpEnvelope
	if err := json.Unmarshal(r.Body, &env); err != nil {
		t.Fatalf("upstream body %s: %v", r.Body, err)
	}
	return env
}

// geminiBearerOf returns the access token an upstream request carried.
func geminiBearerOf(r geminifake.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

// geminiError is the Gemini error envelope, decoded.
type geminiError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Type       string `json:"@type"`
			RetryDelay string `json:"retryDelay"`
		} `json:"details"`
	} `json:"error"`
}

func decodeGeminiError(t *testing.T, body string) geminiError {
	t.Helper()
	var e geminiError
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code == 0 {
		t.Fatalf("not a Gemini error envelope: %s (%v)", body, err)
	}
	return e
}

// geminiFakeReply is the inner response the fake answers generateContent
// with for model.
func geminiFakeReply(model string) string {
	return `{"candidates":[{"content":{"parts":[{"text":"echo: ` + model + `"}],"role":"model"},"finishReason":"STOP"}],` +
		`"modelVersion":"` + model + `","responseId":"fake-response",` +
		`"usageMetadata":{"candidatesTokenCount":3,"promptTokenCount":4,"totalTokenCount":7}}`
}

// TestGeminiGenerate checks generateContent on both version prefixes with
// each key form: the client body reaches Code Assist byte for byte inside
// the envelope, and the client gets the inner response object.
func TestGeminiGenerate(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addGemini("g-gen")
	for _, prefix := range []string{"/geminicli/v1beta", "/geminicli/v1"} {
		for _, form := range geminiKeyForms {
			t.Run(prefix+"/"+form.name, func(t *testing.T) {
				before := len(h.gfake.RequestsTo(geminiGeneratePath))
				resp := postGemini(t.Context(), t, h, prefix+"/models/gemini-2.5-pro:generateContent", geminiCLIBody, form.apply)
				body := readAll(t, resp)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, body)
				}
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("Content-Type = %q, want JSON", ct)
				}
				assertJSON(t, []byte(body), geminiFakeReply("gemini-2.5-pro"))
				reqs := h.gfake.RequestsTo(geminiGeneratePath)
				if got := len(reqs) - before; got != 1 {
					t.Fatalf("upstream generate calls = %d, want 1", got)
				}
				up := reqs[len(reqs)-1]
				env := decodeGeminiEnvelope(t, up)
				if got := string(env.Request); got != geminiCLIBody {
					t.Errorf("upstream request is not the client body byte for byte:\n got %s\nwant %s", got, geminiCLIBody)
				}
				if env.Model != "gemini-2.5-pro" || env.Project != "proj-g-gen" {
					t.Errorf("envelope model/project = %q/%q, want gemini-2.5-pro/proj-g-gen", env.Model, env.Project)
				}
				if strings.Contains(up.Query, "key=") || strings.Contains(string(up.Body), harnessKey) {
					t.Errorf("the Pollux key reached the upstream: query %q", up.Query)
				}
			})
		}
	}
}

// TestGeminiRequestErrors checks what is refused before any upstream call.
func TestGeminiRequestErrors(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addGemini("g-err")
	cases := []struct {
		name       string
		path       string
		body       string
		wantStatus int
		wantRPC    string
		wantInMsg  string
	}{
		{"model not served", "/geminicli/v1beta/models/gemini-1.0-ultra:generateContent", `{}`, 404, "NOT_FOUND", "gemini-1.0-ultra"},
		{"model not served v1", "/geminicli/v1/models/gemini-1.0-ultra:streamGenerateContent?alt=sse", `{}`, 404, "NOT_FOUND", "gemini-1.0-ultra"},
		{"unknown method", "/geminicli/v1beta/models/gemini-2.5-pro:embedContent", `{}`, 404, "NOT_FOUND", "embedContent"},
		{"no method", "/geminicli/v1beta/models/gemini-2.5-pro", `{}`, 404, "NOT_FOUND", "generateContent"},
		{"invalid JSON", "/geminicli/v1beta/models/gemini-2.5-pro:generateContent", `{"contents":[`, 400, "INVALID_ARGUMENT", "JSON object"},
		{"array body", "/geminicli/v1beta/models/gemini-2.5-pro:generateContent", `[{"contents":[]}]`, 400, "INVALID_ARGUMENT", "JSON object"},
		{"empty body", "/geminicli/v1beta/models/gemini-2.5-pro:countTokens", ``, 400, "INVALID_ARGUMENT", "JSON object"},
		{"trailing garbage", "/geminicli/v1beta/models/gemini-2.5-pro:generateContent", `{} {}`, 400, "INVALID_ARGUMENT", "JSON object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.do(http.MethodPost, tc.path, tc.body, nil)
			body := readAll(t, resp)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tc.wantStatus, body)
			}
			e := decodeGeminiError(t, body)
			if e.Error.Code != tc.wantStatus || e.Error.Status != tc.wantRPC || !strings.Contains(e.Error.Message, tc.wantInMsg) {
				t.Errorf("error = %+v, want code %d status %s mentioning %q", e.Error, tc.wantStatus, tc.wantRPC, tc.wantInMsg)
			}
		})
	}
	if n := len(h.gfake.RequestsTo(geminiGeneratePath)) + len(h.gfake.RequestsTo(geminiStreamPath)); n != 0 {
		t.Errorf("refused requests made %d upstream calls, want 0", n)
	}
}

// TestGeminiDoubledModelsPrefix checks the models/models/{id} form some
// clients produce.
func TestGeminiDoubledModelsPrefix(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addGemini("g-dbl")
	resp := h.do(http.MethodPost, "/geminicli/v1beta/models/models/gemini-2.5-flash:generateContent", `{"contents":[]}`, nil)
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, body)
	}
	assertJSON(t, []byte(body), geminiFakeReply("gemini-2.5-flash"))
}

// geminiRateLimitBody is Code Assist's per-minute 429 with a retry delay.
func geminiRateLimitBody(delay string) string {
	return `{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED",` +
		`"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED","domain":"cloudcode-pa.googleapis.com"},` +
		`{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"` + delay + `"}]}}`
}

// TestGeminiFailover checks the attempt loop as a Gemini client sees it.
func TestGeminiFailover(t *testing.T) {
	const path = "/geminicli/v1beta/models/gemini-2.5-pro:generateContent"

	t.Run("429 rotates to the next credential", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		h.addGemini("g-a", "g-b")
		h.gfake.ScriptGenerate(geminifake.Response{Status: 429, Body: geminiRateLimitBody("30s")})
		resp := h.do(http.MethodPost, path, geminiCLIBody, nil)
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, body)
		}
		reqs := h.gfake.RequestsTo(geminiGeneratePath)
		if len(reqs) != 2 {
			t.Fatalf("upstream calls = %d, want 2 (429, then another credential)", len(reqs))
		}
		if first, second := geminiBearerOf(reqs[0]), geminiBearerOf(reqs[1]); first == second {
			t.Errorf("the retry used the rate-limited credential's token again")
		}
		if got, want := string(decodeGeminiEnvelope(t, reqs[1]).Request), geminiCLIBody; got != want {
			t.Errorf("the retry's body differs from the client's")
		}
	})

	t.Run("every credential rate-limited", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		h.addGemini("g-a", "g-b")
		h.gfake.ScriptGenerate(geminifake.Response{Status: 429, Body: geminiRateLimitBody("30s")},
			geminifake.Response{Status: 429, Body: geminiRateLimitBody("30s")})
		resp := h.do(http.MethodPost, path, geminiCLIBody, nil)
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("status = %d, want 429; body %s", resp.StatusCode, body)
		}
		e := decodeGeminiError(t, body)
		if e.Error.Status != "RESOURCE_EXHAUSTED" {
			t.Errorf("status = %q, want RESOURCE_EXHAUSTED", e.Error.Status)
		}
		secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > 31 {
			t.Errorf("Retry-After = %q, want the upstream's ~30 s", resp.Header.Get("Retry-After"))
		}
		if len(e.Error.Details) != 1 || e.Error.Details[0].RetryDelay != strconv.Itoa(secs)+"s" {
			t.Errorf("details = %+v, want one RetryInfo matching Retry-After", e.Error.Details)
		}
		if strings.Contains(body, "cloudcode-pa") {
			t.Errorf("the upstream's body leaked into a rendered error: %s", body)
		}
	})

	t.Run("400 passes through without rotation", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		h.addGemini("g-a", "g-b")
		const upstream = `{"error":{"code":400,"message":"Invalid value at 'contents[0].parts[0]' (oneof), oneof field 'data' is already set.","status":"INVALID_ARGUMENT"}}`
		h.gfake.ScriptGenerate(geminifake.Response{Status: 400, Body: upstream})
		resp := h.do(http.MethodPost, path, geminiCLIBody, nil)
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status = %d, want 400; body %s", resp.StatusCode, body)
		}
		if body != upstream {
			t.Errorf("body = %s, want the upstream's error unchanged: %s", body, upstream)
		}
		if n := len(h.gfake.RequestsTo(geminiGeneratePath)); n != 1 {
			t.Errorf("upstream calls = %d, want 1", n)
		}
	})

	t.Run("401 refreshes then succeeds", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		h.addGemini("g-a")
		refreshes := h.gfake.Refreshes("g-a")
		h.gfake.ExpireAccessTokens()
		resp := h.do(http.MethodPost, path, geminiCLIBody, nil)
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, body)
		}
		if got := h.gfake.Refreshes("g-a") - refreshes; got != 1 {
			t.Errorf("refreshes during the request = %d, want 1", got)
		}
		reqs := h.gfake.RequestsTo(geminiGeneratePath)
		if len(reqs) != 2 || geminiBearerOf(reqs[0]) == geminiBearerOf(reqs[1]) {
			t.Errorf("upstream calls = %d, want 2 with a new access token on the second", len(reqs))
		}
	})
}

// TestGeminiUnavailable checks the 503 answers.
func TestGeminiUnavailable(t *testing.T) {
	cases := []struct {
		name  string
		setup func(*Deps)
	}{
		{"no credentials", nil},
		{"no pool", func(d *Deps) { d.GeminiPool = nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{mutateDeps: tc.setup})
			resp := h.do(http.MethodPost, "/geminicli/v1beta/models/gemini-2.5-pro:generateContent", geminiCLIBody, nil)
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("status = %d, want 503; body %s", resp.StatusCode, body)
			}
			if e := decodeGeminiError(t, body); e.Error.Status != "UNAVAILABLE" {
				t.Errorf("status = %q, want UNAVAILABLE", e.Error.Status)
			}
		})
	}
}

// TestGeminiCountTokens checks countTokens' own envelope both ways.
func TestGeminiCountTokens(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addGemini("g-count")
	const body = `{"contents":[{"role":"user","parts":[{"text":"count me"}]}]}`
	resp := h.do(http.MethodPost, "/geminicli/v1beta/models/gemini-2.5-pro:countTokens", body, nil)
	got := readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, got)
	}
	var reply struct {
		TotalTokens int `json:"totalTokens"`
	}
	if err := json.Unmarshal([]byte(got), &reply); err != nil || reply.TotalTokens <= 0 {
		t.Errorf("body = %s, want {\"totalTokens\":N>0}", got)
	}
	reqs := h.gfake.RequestsTo("/v1internal:countTokens")
	if len(reqs) != 1 {
		t.Fatalf("upstream countTokens calls = %d, want 1", len(reqs))
	}
	assertJSON(t, reqs[0].Body, `{"request":{"model":"models/gemini-2.5-pro","contents":[{"role":"user","parts":[{"text":"count me"}]}]}}`)
}

// geminiChunk is one upstream stream event: a response envelope with text,
// and a finishReason when finish is set.
func geminiChunk(text, finish string) (upstream, inner string) {
	cand := `{"content":{"role":"model","parts":[{"text":"` + text + `"}]}`
	if finish != "" {
		cand += `,"finishReason":"` + finish + `"`
	}
	inner = `{"candidates":[` + cand + `}],"responseId":"r-1"}`
	return `{"response":` + inner + `,"traceId":"t-1"}`, inner
}

// geminiSSEReader reads a client-side SSE body block by block.
type geminiSSEReader struct {
	t  *testing.T
	br *bufio.Reader
}

// next returns the next block's lines (without the blank line that ended
// it), or io.EOF at a clean end. A block cut before its blank line fails
// the test: the Gemini CLI rejects such streams.
func (r *geminiSSEReader) next() ([]string, error) {
	r.t.Helper()
	var lines []string
	for {
		line, err := r.br.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && line == "" && len(lines) == 0 {
				return nil, io.EOF
			}
			return nil, errors.Join(err, errors.New("stream ended inside an event: "+strings.Join(lines, "|")+line))
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			return lines, nil
		}
		lines = append(lines, line)
	}
}

// nextData returns the data of the next event, skipping comments.
func (r *geminiSSEReader) nextData() (string, error) {
	r.t.Helper()
	for {
		lines, err := r.next()
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(lines[0], ":") {
			continue
		}
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "data: ") {
			r.t.Fatalf("event = %q, want one data line", lines)
		}
		return strings.TrimPrefix(lines[0], "data: "), nil
	}
}

func geminiStreamURL(prefix string) string {
	return prefix + "/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
}

// TestGeminiStream checks a whole stream: events in order, each one data
// line and a blank line, the body exactly that; without alt=sse too.
func TestGeminiStream(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addGemini("g-stream")
	var want strings.Builder
	for _, ev := range geminifake.DefaultStream("gemini-2.5-pro").Events {
		inner, err := geminicli.UnwrapResponse([]byte(ev.Data))
		if err != nil {
			t.Fatal(err)
		}
		want.WriteString("data: " + string(inner) + "\n\n")
	}
	for _, path := range []string{
		geminiStreamURL("/geminicli/v1beta"),
		geminiStreamURL("/geminicli/v1"),
		"/geminicli/v1beta/models/gemini-2.5-pro:streamGenerateContent",
	} {
		t.Run(path, func(t *testing.T) {
			resp := h.do(http.MethodPost, path, geminiCLIBody, nil)
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Errorf("Content-Type = %q, want text/event-stream", ct)
			}
			if body != want.String() {
				t.Errorf("body:\n got %q\nwant %q", body, want.String())
			}
			if !strings.Contains(body[strings.LastIndex(body, "data: "):], `"finishReason":"STOP"`) {
				t.Errorf("the last event has no finishReason")
			}
			reqs := h.gfake.RequestsTo(geminiStreamPath)
			if got := string(decodeGeminiEnvelope(t, reqs[len(reqs)-1]).Request); got != geminiCLIBody {
				t.Errorf("upstream request is not the client body byte for byte")
			}
		})
	}
}

// TestGeminiStreamFlushesEachEvent proves every event reaches the client
// before the upstream sends the next (as in the stdlib's
// TestReverseProxyFlushInterval): event 2 is held back by a gate that is
// opened only after the client has read event 1, and so on.
func TestGeminiStreamFlushesEachEvent(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addGemini("g-flush")
	gate2, gate3 := make(chan struct{}), make(chan struct{})
	up1, in1 := geminiChunk("one", "")
	up2, in2 := geminiChunk("two", "")
	up3, in3 := geminiChunk("three", "STOP")
	h.gfake.ScriptStream(geminifake.Stream{Events: []geminifake.Event{
		{Data: up1}, {Data: up2, Gate: gate2}, {Data: up3, Gate: gate3},
	}})
	// Bounds the test should the flush be missing; it never elapses when
	// the relay works.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	resp := postGemini(ctx, t, h, geminiStreamURL("/geminicli/v1beta"), geminiCLIBody, geminiKeyForms[0].apply)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	rd := &geminiSSEReader{t: t, br: bufio.NewReader(resp.Body)}
	for i, step := range []struct {
		want string
		open chan struct{}
	}{{in1, gate2}, {in2, gate3}, {in3, nil}} {
		got, err := rd.nextData()
		if err != nil {
			t.Fatalf("event %d: %v (not flushed before the upstream's next event?)", i+1, err)
		}
		assertJSON(t, []byte(got), step.want)
		if step.open != nil {
			close(step.open)
		}
	}
	if _, err := rd.next(); !errors.Is(err, io.EOF) {
		t.Errorf("after the last event: %v, want EOF", err)
	}
}

// TestGeminiStreamKeepAlive checks comments flow while the upstream is
// silent between events.
func TestGeminiStreamKeepAlive(t *testing.T) {
	h := newHarness(t, harnessOptions{keepAlive: 20 * time.Millisecond})
	h.addGemini("g-ka")
	gate := make(chan struct{})
	up1, in1 := geminiChunk("one", "")
	up2, in2 := geminiChunk("two", "STOP")
	h.gfake.ScriptStream(geminifake.Stream{Events: []geminifake.Event{{Data: up1}, {Data: up2, Gate: gate}}})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	resp := postGemini(ctx, t, h, geminiStreamURL("/geminicli/v1beta"), geminiCLIBody, geminiKeyForms[1].apply)
	rd := &geminiSSEReader{t: t, br: bufio.NewReader(resp.Body)}
	got, err := rd.nextData()
	if err != nil {
		t.Fatal(err)
	}
	assertJSON(t, []byte(got), in1)
	// The upstream holds event 2 until the gate opens; a keep-alive
	// comment must arrive meanwhile.
	lines, err := rd.next()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{": keep-alive"}, lines); diff != "" {
		t.Fatalf("while the upstream waits (-want +got):\n%s", diff)
	}
	close(gate)
	if got, err = rd.nextData(); err != nil {
		t.Fatal(err)
	}
	assertJSON(t, []byte(got), in2)
}

// TestGeminiStreamFailures checks that a stream failing after the headers
// ends with one Google-shaped error event and a clean end of body.
func TestGeminiStreamFailures(t *testing.T) {
	up1, in1 := geminiChunk("partial", "")
	up2, _ := geminiChunk("never", "STOP")
	cases := []struct {
		name      string
		stream    geminifake.Stream
		wantCode  int
		wantRPC   string
		wantMsg   string
		wantRetry string
	}{
		{
			name:     "upstream cut",
			stream:   geminifake.Stream{Events: []geminifake.Event{{Data: up1}, {Data: up2}}, CutAfter: 1},
			wantCode: 502, wantRPC: "UNAVAILABLE", wantMsg: "upstream stream ended early",
		},
		{
			name:     "no finishReason",
			stream:   geminifake.Stream{Events: []geminifake.Event{{Data: up1}}},
			wantCode: 502, wantRPC: "UNAVAILABLE", wantMsg: "upstream stream ended without a finishReason",
		},
		{
			name:     "malformed event",
			stream:   geminifake.Stream{Events: []geminifake.Event{{Data: up1}, {Data: `{"response":`}}},
			wantCode: 502, wantRPC: "UNAVAILABLE", wantMsg: "upstream sent a malformed stream event",
		},
		{
			name: "error event mid-stream",
			stream: geminifake.Stream{Events: []geminifake.Event{{Data: up1}, {Data: geminiRateLimitBody("7s")},
				{Data: up2}}},
			wantCode: 429, wantRPC: "RESOURCE_EXHAUSTED", wantMsg: "RATE_LIMIT_EXCEEDED", wantRetry: "7s",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			h.addGemini("g-fail")
			h.gfake.ScriptStream(tc.stream)
			resp := h.do(http.MethodPost, geminiStreamURL("/geminicli/v1beta"), geminiCLIBody, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200 (the failure comes after the headers)", resp.StatusCode)
			}
			rd := &geminiSSEReader{t: t, br: bufio.NewReader(resp.Body)}
			first, err := rd.nextData()
			if err != nil {
				t.Fatal(err)
			}
			assertJSON(t, []byte(first), in1)
			last, err := rd.nextData()
			if err != nil {
				t.Fatalf("no final error event: %v", err)
			}
			e := decodeGeminiError(t, last)
			if e.Error.Code != tc.wantCode || e.Error.Status != tc.wantRPC || !strings.Contains(e.Error.Message, tc.wantMsg) {
				t.Errorf("error event = %s, want code %d status %s mentioning %q", last, tc.wantCode, tc.wantRPC, tc.wantMsg)
			}
			// The delay is told in whole seconds rounded down (the reset
			// stated upstream is a few milliseconds nearer by now).
			if tc.wantRetry != "" && (len(e.Error.Details) != 1 || !retryDelayNear(e.Error.Details[0].RetryDelay, tc.wantRetry)) {
				t.Errorf("details = %+v, want RetryInfo %s", e.Error.Details, tc.wantRetry)
			}
			if _, err := rd.next(); !errors.Is(err, io.EOF) {
				t.Errorf("after the error event: %v, want the body to end", err)
			}
		})
	}
}

// TestGeminiStreamClientDisconnect checks that a client leaving mid-stream
// cancels the upstream call, releases the credential without blaming it,
// and is logged as 499.
func TestGeminiStreamClientDisconnect(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addGemini("g-gone")
	never := make(chan struct{}) // never opened: only a cancelled upstream request ends the fake's wait
	up1, in1 := geminiChunk("one", "")
	up2, _ := geminiChunk("two", "STOP")
	h.gfake.ScriptStream(geminifake.Stream{Events: []geminifake.Event{{Data: up1}, {Data: up2, Gate: never}}})
	ctx, cancel := context.WithCancel(t.Context())
	resp := postGemini(ctx, t, h, geminiStreamURL("/geminicli/v1beta"), geminiCLIBody, geminiKeyForms[0].apply)
	rd := &geminiSSEReader{t: t, br: bufio.NewReader(resp.Body)}
	got, err := rd.nextData()
	if err != nil {
		t.Fatal(err)
	}
	assertJSON(t, []byte(got), in1)
	cancel()

	pool := h.sys.Pool(providers.GeminiCLI)
	untilPool(t, h.tap, providers.GeminiCLI, "the credential is released", func() bool {
		snap, err := pool.Snapshot(t.Context())
		if err != nil || len(snap.Credentials) != 1 {
			return false
		}
		c := snap.Credentials[0]
		return c.InFlight == 0 && c.Status == storage.StatusActive && len(c.Cooldowns) == 0
	})
	geminiEventually(t, "the request is logged as 499", func() bool {
		for _, e := range h.logs.FilterMessage("request").All() {
			if e.ContextMap()[keyStatus] == int64(statusClientClosed) {
				return true
			}
		}
		return false
	})
	// h's cleanup closes the fake upstream, which waits for its handler:
	// it returns only because the upstream request was cancelled.
}

// geminiEventually polls cond until it holds, failing after a generous bound. It
// is for effects that cross goroutines and actors without a signal to wait
// on.
func geminiEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// retryDelayNear reports whether got is want or one second less.
func retryDelayNear(got, want string) bool {
	g, err1 := time.ParseDuration(got)
	w, err2 := time.ParseDuration(want)
	return err1 == nil && err2 == nil && g <= w && g >= w-time.Second
}
