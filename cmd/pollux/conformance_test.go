package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
	geminifake "github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
)

// Real-client conformance: the official npm SDKs (@google/genai, openai,
// @anthropic-ai/sdk),
// pinned in testdata/conformance/package.json, run against an in-process
// Pollux and the fake upstreams. The test installs them itself with npm ci.

const (
	conformanceDir = "testdata/conformance"
	// npmCITimeout bounds the install; scriptTimeout bounds each SDK run.
	npmCITimeout  = 5 * time.Minute
	scriptTimeout = 60 * time.Second
	// minNodeMajor is the oldest Node.js the pinned SDK versions support.
	minNodeMajor = 20
)

// TestConformance installs the SDKs once and runs each of them against its
// own Pollux and fake upstreams.
func TestConformance(t *testing.T) {
	node := conformanceInstall(t)
	t.Run("GeminiGenAI", func(t *testing.T) { testGeminiGenAI(t, node) })
	t.Run("OpenAIResponses", func(t *testing.T) { testOpenAIResponses(t, node) })
	t.Run("OpenAIToolCallRoundTrip", func(t *testing.T) { testOpenAIToolCall(t, node) })
	t.Run("MemberKeyLimit", func(t *testing.T) { testMemberKeyLimit(t, node) })
	t.Run("Anthropic", func(t *testing.T) { testAnthropic(t, node) })
	t.Run("OpenAIChatGemini", func(t *testing.T) { testOpenAIChat(t, node, "gemini") })
	t.Run("OpenAIChatCodex", func(t *testing.T) { testOpenAIChat(t, node, "codex") })
	// The one base URL: the same clients pointed at the root.
	t.Run("OpenAIChatRoot", func(t *testing.T) { testOpenAIChatAt(t, node, "gemini", "/v1") })
	t.Run("AnthropicRoot", func(t *testing.T) { testAnthropicRoot(t, node) })
}

// conformanceInstall finds node and npm, installs the pinned packages with
// npm ci and returns node's path. Without node or npm the test is skipped,
// except under CI (CI set), where it fails.
func conformanceInstall(t *testing.T) string {
	t.Helper()
	node, nodeErr := exec.LookPath("node")
	npm, npmErr := exec.LookPath("npm")
	if err := errors.Join(nodeErr, npmErr); err != nil {
		const howTo = "the SDK conformance tests need Node.js >= 20 and npm on PATH " +
			"(install Node.js 20+ from https://nodejs.org or the OS packages); " +
			"the test then runs `npm ci` in cmd/pollux/testdata/conformance itself"
		if os.Getenv("CI") == "" {
			t.Skipf("%s: %v", howTo, err)
		}
		t.Fatalf("CI is set but %s: %v", howTo, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), scriptTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, "--version").Output()
	if err != nil {
		t.Fatalf("node --version: %v", err)
	}
	version := strings.TrimSpace(string(out))
	major, _, _ := strings.Cut(strings.TrimPrefix(version, "v"), ".")
	if n, err := strconv.Atoi(major); err != nil || n < minNodeMajor {
		t.Fatalf("node %s is too old: the pinned SDKs need Node.js >= %d", version, minNodeMajor)
	}

	ctx, cancel = context.WithTimeout(t.Context(), npmCITimeout)
	defer cancel()
	// --prefer-offline: a warm npm cache installs without the network.
	// --ignore-scripts: no package code runs at install time.
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--prefer-offline", "--ignore-scripts")
	cmd.Dir = conformanceDir
	cmd.WaitDelay = 10 * time.Second
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	began := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", conformanceDir, err, stderr.String())
	}
	t.Logf("node %s; npm ci took %v", version, time.Since(began).Round(time.Millisecond))
	return node
}

// conformancePollux starts fake upstreams and a Pollux with one Gemini and
// one Codex credential added through resource:add.
func conformancePollux(t *testing.T) (*upstreams, *instance) {
	t.Helper()
	u := newUpstreams(t)
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, u.config(freePort(t), filepath.Join(dir, "pollux.db")))
	u.gemini.AddAccount("e2e-refresh-conf-g1", geminifake.Account{Email: "g1@example.com", Sub: "g1", Tier: "standard-tier", Project: "proj-conf-g1"})
	u.codex.AddAccount("e2e-refresh-conf-c1", codexfake.Account{ID: "acct-conf-c1", Sub: "c1", Email: "c1@example.com", PlanType: "pro"})
	in := start(t, []string{"--config", cfgPath}, nil)
	for _, add := range []struct{ path, body string }{
		{"/geminicli/resource:add?wait=true", `["e2e-refresh-conf-g1"]`},
		{"/codex/resource:add?wait=true", `[{"refresh_token":"e2e-refresh-conf-c1"}]`},
	} {
		code, _, body := in.do(http.MethodPost, add.path, add.body, nil)
		if code != http.StatusOK || !strings.Contains(body, `"added"`) {
			t.Fatalf("POST %s: %d %s, want 200 with one added verdict", add.path, code, body)
		}
	}
	return u, in
}

// runScript runs one SDK script with node and decodes its JSON summary into
// out. The URL and key travel in the environment, never in argv.
func runScript(t *testing.T, node string, in *instance, script string, env map[string]string, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), scriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = conformanceDir
	cmd.WaitDelay = 5 * time.Second
	// Inherited POLLUX_* variables must not change what the script does.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "POLLUX_") })
	cmd.Env = append(cmd.Env,
		"POLLUX_URL=http://"+in.addr,
		"POLLUX_KEY="+e2eKey,
		"NO_PROXY=127.0.0.1,localhost",
		"no_proxy=127.0.0.1,localhost",
	)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	began := time.Now()
	err := cmd.Run()
	redact := func(s string) string { return strings.ReplaceAll(s, e2eKey, "<pollux-key>") }
	if err != nil {
		t.Fatalf("node %s %v: %v after %v\nstderr:\n%s\nstdout:\n%s", script, env, err,
			time.Since(began).Round(time.Millisecond), redact(stderr.String()), redact(stdout.String()))
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		t.Fatalf("node %s %v: summary is not JSON: %v\nstdout:\n%s\nstderr:\n%s", script, env, err,
			redact(stdout.String()), redact(stderr.String()))
	}
}

// geminiSummary is what gemini.mjs prints.
type geminiSummary struct {
	Generate struct {
		Text         string `json:"text"`
		FinishReason string `json:"finishReason"`
		TotalTokens  int    `json:"totalTokens"`
	} `json:"generate"`
	Stream struct {
		Chunks []geminiChunk `json:"chunks"`
		Ended  bool          `json:"ended"`
	} `json:"stream"`
	Models       []string `json:"models"`
	CountTokens  int      `json:"countTokens"`
	UnknownModel struct {
		Thrown  bool   `json:"thrown"`
		Status  int    `json:"status"`
		Message string `json:"message"`
	} `json:"unknownModel"`
	Requests []string `json:"requests"`
}

type geminiChunk struct {
	Text         string `json:"text"`
	FinishReason string `json:"finishReason"`
}

// testGeminiGenAI runs @google/genai with the SDK's default API version and
// with each version explicitly: generateContent, generateContentStream,
// models.list, countTokens and an unknown model.
func testGeminiGenAI(t *testing.T, node string) {
	const model = "gemini-2.5-pro"
	tests := []struct {
		name       string
		apiVersion string // empty: the SDK's default
		wantPrefix string
		// root points the SDK at the one base URL (no /geminicli).
		root bool
	}{
		// @google/genai 2.x defaults to v1beta.
		{name: "sdk default", wantPrefix: "/geminicli/v1beta/"},
		{name: "v1beta", apiVersion: "v1beta", wantPrefix: "/geminicli/v1beta/"},
		// v1 is what @google/genai 3.x defaults to.
		{name: "v1", apiVersion: "v1", wantPrefix: "/geminicli/v1/"},
		// The one base URL (where /v1/models is every pool's list, so
		// models.list needs v1beta).
		{name: "root v1beta", apiVersion: "v1beta", wantPrefix: "/v1beta/", root: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, in := conformancePollux(t)
			env := map[string]string{}
			if tt.apiVersion != "" {
				env["POLLUX_API_VERSION"] = tt.apiVersion
			}
			if tt.root {
				env["POLLUX_PREFIX"] = ""
			}
			var got geminiSummary
			runScript(t, node, in, "gemini.mjs", env, &got)

			wantRequests := []string{
				"POST " + tt.wantPrefix + "models/" + model + ":generateContent",
				"POST " + tt.wantPrefix + "models/" + model + ":streamGenerateContent",
				"GET " + tt.wantPrefix + "models",
				"POST " + tt.wantPrefix + "models/" + model + ":countTokens",
				"POST " + tt.wantPrefix + "models/gemini-not-served:generateContent",
			}
			if diff := cmp.Diff(wantRequests, got.Requests); diff != "" {
				t.Errorf("SDK requests (-want +got):\n%s", diff)
			}
			if got.Generate.Text != "echo: "+model || got.Generate.FinishReason != "STOP" || got.Generate.TotalTokens != 7 {
				t.Errorf("generateContent = %+v, want text %q, finishReason STOP, 7 tokens", got.Generate, "echo: "+model)
			}
			// One SDK chunk per upstream chunk, in order, the last one
			// finishing the answer.
			wantChunks := []geminiChunk{{Text: "Hel"}, {Text: "lo"}, {Text: "", FinishReason: "STOP"}}
			if diff := cmp.Diff(wantChunks, got.Stream.Chunks); diff != "" || !got.Stream.Ended {
				t.Errorf("generateContentStream chunks (-want +got):\n%s(ended %v)", diff, got.Stream.Ended)
			}
			for _, m := range []string{"models/gemini-2.5-pro", "models/gemini-2.5-flash"} {
				if !slices.Contains(got.Models, m) {
					t.Errorf("models.list() = %v, want it to contain %s", got.Models, m)
				}
			}
			if got.CountTokens <= 0 {
				t.Errorf("countTokens totalTokens = %d, want > 0", got.CountTokens)
			}
			if !got.UnknownModel.Thrown || got.UnknownModel.Status != http.StatusNotFound {
				t.Errorf("unknown model: %+v, want an ApiError with status 404", got.UnknownModel)
			}

			// What reached Code Assist is the SDK's own request, wrapped.
			gens := u.gemini.RequestsTo("/v1internal:generateContent")
			if len(gens) != 1 || !bytes.Contains(gens[0].Body, []byte("Say hello.")) {
				t.Errorf("upstream generateContent calls = %d (want 1 carrying the prompt)", len(gens))
			}
			if n := len(u.gemini.RequestsTo("/v1internal:streamGenerateContent")); n != 1 {
				t.Errorf("upstream streamGenerateContent calls = %d, want 1", n)
			}
			if n := len(u.gemini.RequestsTo("/v1internal:countTokens")); n != 1 {
				t.Errorf("upstream countTokens calls = %d, want 1", n)
			}
			if err := in.stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// codexDefaultEvents are the event names of the fake's default answer, in
// the backend's order.
var codexDefaultEvents = []string{
	"response.created",
	"response.in_progress",
	"response.output_item.added",
	"response.content_part.added",
	"response.output_text.delta",
	"response.output_text.delta",
	"response.output_text.done",
	"response.content_part.done",
	"response.output_item.done",
	"response.completed",
}

// openAISummary is what openai.mjs prints for the basic scenario.
type openAISummary struct {
	Unary struct {
		Object      string `json:"object"`
		Status      string `json:"status"`
		ID          string `json:"id"`
		OutputText  string `json:"outputText"`
		TotalTokens int    `json:"totalTokens"`
	} `json:"unary"`
	Stream struct {
		Events []string `json:"events"`
		Text   string   `json:"text"`
	} `json:"stream"`
	Helper struct {
		Events      []string `json:"events"`
		DeltaText   string   `json:"deltaText"`
		Status      string   `json:"status"`
		OutputTypes []string `json:"outputTypes"`
		OutputText  string   `json:"outputText"`
	} `json:"helper"`
	Models       []string `json:"models"`
	UnknownModel struct {
		Thrown bool   `json:"thrown"`
		Status int    `json:"status"`
		Name   string `json:"name"`
		Code   string `json:"code"`
	} `json:"unknownModel"`
}

// testOpenAIResponses runs the openai SDK: responses.create unary and with
// stream: true, the responses.stream() helper, models.list and an unknown
// model.
func testOpenAIResponses(t *testing.T, node string) {
	u, in := conformancePollux(t)
	var got openAISummary
	runScript(t, node, in, "openai.mjs", map[string]string{"POLLUX_SCENARIO": "basic"}, &got)

	if got.Unary.Object != "response" || got.Unary.Status != "completed" || got.Unary.ID == "" ||
		got.Unary.OutputText != codexfake.DefaultText || got.Unary.TotalTokens != 17 {
		t.Errorf("responses.create = %+v, want a completed response with output_text %q and 17 tokens", got.Unary, codexfake.DefaultText)
	}
	if diff := cmp.Diff(codexDefaultEvents, got.Stream.Events); diff != "" {
		t.Errorf("responses.create({stream: true}) events (-want +got):\n%s", diff)
	}
	if got.Stream.Text != codexfake.DefaultText {
		t.Errorf("streamed text = %q, want %q", got.Stream.Text, codexfake.DefaultText)
	}
	if diff := cmp.Diff(codexDefaultEvents, got.Helper.Events); diff != "" {
		t.Errorf("responses.stream() events (-want +got):\n%s", diff)
	}
	if got.Helper.DeltaText != codexfake.DefaultText || got.Helper.Status != "completed" {
		t.Errorf("responses.stream() = %+v, want deltas %q and a completed finalResponse()", got.Helper, codexfake.DefaultText)
	}
	// The helper's final response is the response.completed event's
	// response object as it came: its output must hold the streamed items.
	if !slices.Equal(got.Helper.OutputTypes, []string{"message"}) || got.Helper.OutputText != codexfake.DefaultText {
		t.Errorf("responses.stream().finalResponse(): output %v, output_text %q; want [message] and %q",
			got.Helper.OutputTypes, got.Helper.OutputText, codexfake.DefaultText)
	}
	if !slices.Contains(got.Models, "gpt-5.2-codex") {
		t.Errorf("models.list() = %v, want it to contain gpt-5.2-codex", got.Models)
	}
	if um := got.UnknownModel; !um.Thrown || um.Status != http.StatusNotFound || um.Name != "NotFoundError" || um.Code != "model_not_found" {
		t.Errorf("unknown model: %+v, want NotFoundError 404 with code model_not_found", um)
	}

	// The three generations each reached the backend once, streamed.
	reqs := u.codex.RequestsTo(codexfake.Responses)
	if len(reqs) != 3 {
		t.Fatalf("backend /responses calls = %d, want 3", len(reqs))
	}
	for i, r := range reqs {
		var body struct {
			Stream bool `json:"stream"`
			Store  *bool
		}
		if err := json.Unmarshal(r.Body, &body); err != nil || !body.Stream || body.Store == nil || *body.Store {
			t.Errorf("backend request %d: stream=%v store=%v (err %v), want stream true, store false", i, body.Stream, body.Store, err)
		}
	}
	if err := in.stop(); err != nil {
		t.Fatal(err)
	}
}

// The function call the fake backend answers with in the tool round trip.
const (
	toolCallID   = "call_conformance_7f3a"
	toolCallItem = "fc_conformance_01"
	toolCallArgs = `{"city":"Paris"}`
)

// functionCallEvents is a backend answer made of one function_call item.
func functionCallEvents(model string) []codexfake.Event {
	q := strconv.Quote
	resp := func(status string) string {
		return `{"id":"resp_conf_tool","object":"response","created_at":1700000000,"status":"` + status + `","model":` + q(model) + `,"output":[]`
	}
	item := func(status, args string) string {
		return `{"id":` + q(toolCallItem) + `,"type":"function_call","status":"` + status + `","arguments":` + q(args) +
			`,"call_id":` + q(toolCallID) + `,"name":"get_weather"}`
	}
	evs := []struct{ name, rest string }{
		{"response.created", `"response":` + resp("in_progress") + `}`},
		{"response.in_progress", `"response":` + resp("in_progress") + `}`},
		{"response.output_item.added", `"output_index":0,"item":` + item("in_progress", "")},
		{"response.function_call_arguments.delta", `"item_id":` + q(toolCallItem) + `,"output_index":0,"delta":` + q(toolCallArgs[:8])},
		{"response.function_call_arguments.delta", `"item_id":` + q(toolCallItem) + `,"output_index":0,"delta":` + q(toolCallArgs[8:])},
		{"response.function_call_arguments.done", `"item_id":` + q(toolCallItem) + `,"output_index":0,"arguments":` + q(toolCallArgs)},
		{"response.output_item.done", `"output_index":0,"item":` + item("completed", toolCallArgs)},
		{"response.completed", `"response":` + resp("completed") +
			`,"usage":{"input_tokens":30,"input_tokens_details":{"cached_tokens":0},"output_tokens":9,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":39}}`},
	}
	out := make([]codexfake.Event, len(evs))
	for i, e := range evs {
		out[i] = codexfake.Event{Name: e.name, Data: fmt.Sprintf(`{"type":%q,"sequence_number":%d,%s}`, e.name, i, e.rest)}
	}
	return out
}

// openAIToolSummary is what openai.mjs prints for the tools scenario.
type openAIToolSummary struct {
	First struct {
		Status      string   `json:"status"`
		OutputTypes []string `json:"outputTypes"`
		Call        *struct {
			CallID    string `json:"callId"`
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"call"`
	} `json:"first"`
	Second struct {
		Status     string `json:"status"`
		OutputText string `json:"outputText"`
	} `json:"second"`
}

// testOpenAIToolCall: the backend asks for a function call; the SDK sees the
// function_call item with its call_id and sends the next turn with a
// function_call_output for it, which reaches the backend intact.
func testOpenAIToolCall(t *testing.T, node string) {
	const model = "gpt-5.2-codex"
	u, in := conformancePollux(t)
	u.codex.Push(codexfake.Responses,
		codexfake.Reply{Stream: &codexfake.Stream{Events: functionCallEvents(model)}},
		codexfake.Reply{Stream: &codexfake.Stream{}})
	var got openAIToolSummary
	runScript(t, node, in, "openai.mjs", map[string]string{"POLLUX_SCENARIO": "tools"}, &got)

	if got.First.Status != "completed" || !slices.Equal(got.First.OutputTypes, []string{"function_call"}) || got.First.Call == nil {
		t.Fatalf("first turn = %+v, want a completed response with one function_call", got.First)
	}
	if c := got.First.Call; c.CallID != toolCallID || c.Name != "get_weather" || c.Arguments != toolCallArgs {
		t.Errorf("function_call = %+v, want call_id %s, get_weather(%s)", *c, toolCallID, toolCallArgs)
	}
	if got.Second.Status != "completed" || got.Second.OutputText != codexfake.DefaultText {
		t.Errorf("second turn = %+v, want completed with %q", got.Second, codexfake.DefaultText)
	}

	reqs := u.codex.RequestsTo(codexfake.Responses)
	if len(reqs) != 2 {
		t.Fatalf("backend /responses calls = %d, want 2", len(reqs))
	}
	type inputItem struct {
		Type   string `json:"type"`
		Role   string `json:"role"`
		CallID string `json:"call_id"`
		Name   string `json:"name"`
		Output string `json:"output"`
	}
	var first, second struct {
		Tools []struct {
			Type   string `json:"type"`
			Name   string `json:"name"`
			Strict bool   `json:"strict"`
		} `json:"tools"`
		Input []inputItem `json:"input"`
	}
	if err := json.Unmarshal(reqs[0].Body, &first); err != nil {
		t.Fatalf("first backend body: %v", err)
	}
	if len(first.Tools) != 1 || first.Tools[0].Type != "function" || first.Tools[0].Name != "get_weather" || !first.Tools[0].Strict {
		t.Errorf("first backend request tools = %+v, want the SDK's strict get_weather function", first.Tools)
	}
	if err := json.Unmarshal(reqs[1].Body, &second); err != nil {
		t.Fatalf("second backend body: %v", err)
	}
	var types []string
	var call, output *inputItem
	for i, it := range second.Input {
		types = append(types, it.Type)
		switch it.Type {
		case "function_call":
			call = &second.Input[i]
		case "function_call_output":
			output = &second.Input[i]
		}
	}
	if call == nil || call.CallID != toolCallID || call.Name != "get_weather" {
		t.Errorf("second backend request input %v: function_call = %+v, want call_id %s", types, call, toolCallID)
	}
	if output == nil || output.CallID != toolCallID || !strings.Contains(output.Output, "sunny") {
		t.Errorf("second backend request input %v: function_call_output = %+v, want call_id %s with the tool's result", types, output, toolCallID)
	}
	if err := in.stop(); err != nil {
		t.Fatal(err)
	}
}

// memberKeySummary is what memberkey.mjs prints.
type memberKeySummary struct {
	Gemini struct {
		ServedText string `json:"servedText"`
		Limited    struct {
			Thrown     bool   `json:"thrown"`
			Status     int    `json:"status"`
			Message    string `json:"message"`
			RetryAfter string `json:"retryAfter"`
		} `json:"limited"`
	} `json:"gemini"`
	OpenAI struct {
		ServedStatus string `json:"servedStatus"`
		Limited      struct {
			Thrown            bool   `json:"thrown"`
			Status            int    `json:"status"`
			Name              string `json:"name"`
			Message           string `json:"message"`
			RetryAfter        string `json:"retryAfter"`
			LimitRequests     string `json:"limitRequests"`
			RemainingRequests string `json:"remainingRequests"`
		} `json:"limited"`
	} `json:"openai"`
}

// testMemberKeyLimit runs @google/genai and the openai SDK, each with a
// member key limited to one request per minute: each is served, then gets
// the key's own 429 with its message and Retry-After.
func testMemberKeyLimit(t *testing.T, node string) {
	_, in := conformancePollux(t)
	secrets := map[string]string{}
	for _, name := range []string{"genai-sdk", "openai-sdk"} {
		code, _, body := in.do(http.MethodPost, "/admin/v1/keys", `{"name":"`+name+`","limits":{"requests_per_minute":1}}`, nil)
		var created struct {
			Secret string `json:"secret"`
		}
		if code != http.StatusCreated || json.Unmarshal([]byte(body), &created) != nil || created.Secret == "" {
			t.Fatalf("create key %s: %d %s", name, code, body)
		}
		secrets[name] = created.Secret
	}
	var got memberKeySummary
	runScript(t, node, in, "memberkey.mjs", map[string]string{
		"POLLUX_GEMINI_KEY": secrets["genai-sdk"], "POLLUX_OPENAI_KEY": secrets["openai-sdk"]}, &got)

	g := got.Gemini
	if g.ServedText != "echo: gemini-2.5-pro" {
		t.Errorf("@google/genai with a member key: served %q", g.ServedText)
	}
	if !g.Limited.Thrown || g.Limited.Status != http.StatusTooManyRequests || g.Limited.RetryAfter == "" ||
		!strings.Contains(g.Limited.Message, `key \"genai-sdk\" reached its own limit of 1 requests per minute`) {
		t.Errorf("@google/genai over the key's limit: %+v", g.Limited)
	}
	if secs, err := strconv.Atoi(g.Limited.RetryAfter); err != nil || secs < 1 || secs > 60 {
		t.Errorf("@google/genai Retry-After = %q, want 1..60 s", g.Limited.RetryAfter)
	}
	o := got.OpenAI
	if o.ServedStatus != "completed" {
		t.Errorf("openai with a member key: served %q", o.ServedStatus)
	}
	if !o.Limited.Thrown || o.Limited.Status != http.StatusTooManyRequests || o.Limited.Name != "RateLimitError" ||
		!strings.Contains(o.Limited.Message, `key "openai-sdk" reached its own limit of 1 requests per minute`) ||
		o.Limited.LimitRequests != "1" || o.Limited.RemainingRequests != "0" {
		t.Errorf("openai over the key's limit: %+v", o.Limited)
	}
	if secs, err := strconv.Atoi(o.Limited.RetryAfter); err != nil || secs < 1 || secs > 60 {
		t.Errorf("openai Retry-After = %q, want 1..60 s", o.Limited.RetryAfter)
	}
	if err := in.stop(); err != nil {
		t.Fatal(err)
	}
}

// chatSummary is what chat.mjs prints.
type chatSummary struct {
	First struct {
		Finish string `json:"finish"`
		Call   *struct {
			ID, Name, Arguments string
		} `json:"call"`
	} `json:"first"`
	Second struct {
		Finish  string `json:"finish"`
		Content string `json:"content"`
	} `json:"second"`
	StreamTools struct {
		Finish string `json:"finish"`
		Call   *struct {
			ID, Name, Arguments string
		} `json:"call"`
	} `json:"streamTools"`
	Unary struct {
		Object, Model, Content, Finish string
		TotalTokens                    int `json:"totalTokens"`
	} `json:"unary"`
	Stream struct {
		Chunks      int    `json:"chunks"`
		Text        string `json:"text"`
		Finish      string `json:"finish"`
		TotalTokens int    `json:"totalTokens"`
	} `json:"stream"`
	Structured struct {
		Content, Finish string
	} `json:"structured"`
	UnknownModel struct {
		Thrown bool   `json:"thrown"`
		Status int    `json:"status"`
		Code   string `json:"code"`
	} `json:"unknownModel"`
}

// testOpenAIChat runs the openai SDK's chat.completions (tool round trip,
// unary, stream with usage, response_format, unknown model) against the
// Chat Completions surface over one pool.
func testOpenAIChat(t *testing.T, node, pool string) { testOpenAIChatAt(t, node, pool, "") }

// testOpenAIChatAt is testOpenAIChat with the SDK's base URL at basePath
// ("" the pool's own).
func testOpenAIChatAt(t *testing.T, node, pool, basePath string) {
	u, in := conformancePollux(t)
	model, prefix := "gemini-2.5-pro", "/geminicli/v1beta/openai"
	wantText, wantStream := "echo: gemini-2.5-pro", "Hello"
	if pool == "codex" {
		model, prefix = "gpt-5.2-codex", "/codex/v1"
		wantText, wantStream = codexfake.DefaultText, codexfake.DefaultText
		u.codex.Push(codexfake.Responses,
			codexfake.Reply{Stream: &codexfake.Stream{Events: functionCallEvents(model)}},
			codexfake.Reply{Stream: &codexfake.Stream{}},
			codexfake.Reply{Stream: &codexfake.Stream{Events: functionCallEvents(model)}})
	} else {
		call := `{"response":{"candidates":[{"content":{"role":"model","parts":[` +
			`{"functionCall":{"id":"` + toolCallID + `","name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"c2ln"}]},"finishReason":"STOP"}],` +
			`"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":4,"totalTokenCount":13}}}`
		u.gemini.ScriptGenerate(geminifake.Response{Status: http.StatusOK, Body: call})
		u.gemini.ScriptStream(geminifake.Stream{Events: []geminifake.Event{{Data: call}}})
	}
	if basePath != "" {
		prefix = basePath
	}
	var got chatSummary
	runScript(t, node, in, "chat.mjs", map[string]string{"POLLUX_POOL": pool, "POLLUX_MODEL": model, "POLLUX_BASE_PATH": basePath}, &got)

	if c := got.First.Call; got.First.Finish != "tool_calls" || c == nil || c.ID != toolCallID || c.Name != "get_weather" || c.Arguments != toolCallArgs {
		t.Errorf("%s: first turn = %+v (call %+v), want tool_calls get_weather(%s) id %s", prefix, got.First, got.First.Call, toolCallArgs, toolCallID)
	}
	if got.Second.Finish != "stop" || got.Second.Content != wantText {
		t.Errorf("%s: second turn = %+v, want stop %q", prefix, got.Second, wantText)
	}
	if c := got.StreamTools.Call; got.StreamTools.Finish != "tool_calls" || c == nil || c.ID != toolCallID || c.Name != "get_weather" || c.Arguments != toolCallArgs {
		t.Errorf("%s: streamed tool call = %+v (call %+v), want tool_calls get_weather(%s) id %s", prefix, got.StreamTools, got.StreamTools.Call, toolCallArgs, toolCallID)
	}
	if got.Unary.Object != "chat.completion" || got.Unary.Model != model || got.Unary.Content != wantText || got.Unary.Finish != "stop" || got.Unary.TotalTokens == 0 {
		t.Errorf("%s: unary = %+v", prefix, got.Unary)
	}
	if got.Stream.Text != wantStream || got.Stream.Finish != "stop" || got.Stream.TotalTokens == 0 || got.Stream.Chunks < 3 {
		t.Errorf("%s: stream = %+v, want %q with usage", prefix, got.Stream, wantStream)
	}
	if got.Structured.Finish != "stop" || got.Structured.Content != wantText {
		t.Errorf("%s: structured = %+v", prefix, got.Structured)
	}
	if !got.UnknownModel.Thrown || got.UnknownModel.Status != http.StatusNotFound || got.UnknownModel.Code != "model_not_found" {
		t.Errorf("%s: unknown model = %+v, want a thrown 404 model_not_found", prefix, got.UnknownModel)
	}

	// What reached the pool: the tool result answers the call by id, the
	// schemas reached Gemini cleaned, the structured output asked for.
	var bodies []string
	if pool == "codex" {
		for _, r := range u.codex.RequestsTo(codexfake.Responses) {
			bodies = append(bodies, string(r.Body))
		}
	} else {
		for _, r := range u.gemini.Requests() {
			if strings.Contains(r.Path, ":generateContent") || strings.Contains(r.Path, ":streamGenerateContent") {
				bodies = append(bodies, string(r.Body))
			}
		}
	}
	if len(bodies) != 6 {
		t.Fatalf("%s: %d upstream generate calls, want 6", prefix, len(bodies))
	}
	wants := map[string][]string{
		"gemini": {`"functionResponse":{"id":"` + toolCallID + `","name":"get_weather","response":{"sky":"sunny"}}`,
			`"thoughtSignature":"c2ln"`, `"responseSchema":{"properties":{"text":{"type":"string"}},"required":["text"],"type":"object"}`},
		"codex": {`"type":"function_call_output","call_id":"` + toolCallID + `"`, `"format":{"type":"json_schema","name":"greeting"`},
	}[pool]
	for i, w := range wants {
		b := bodies[1]
		if i == len(wants)-1 {
			b = bodies[5]
		}
		if !strings.Contains(b, w) {
			t.Errorf("%s: upstream body lacks %s:\n%s", prefix, w, b)
		}
	}
	if pool == "gemini" && strings.Contains(bodies[0], "additionalProperties") {
		t.Errorf("gemini: tool schema not cleaned: %s", bodies[0])
	}
}
