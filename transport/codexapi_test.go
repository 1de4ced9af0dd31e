package transport

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers/codex"
	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
)

// codexHangTimeout bounds waits that only end early when something is
// broken; passing tests never come near it.
const codexHangTimeout = 10 * time.Second

// headerDroppedParams lists the request members Pollux removed.
const headerDroppedParams = "X-Pollux-Dropped-Params"

const (
	codexTestModel = "gpt-5.2-codex"
	codexPath      = "/codex/v1/responses"
)

// codexTestBody is a Responses request in the Codex CLI's shape; stream is
// "" to leave the member out.
func codexTestBody(stream string) string {
	b := `{"model":"` + codexTestModel + `","instructions":"be brief","input":[{"type":"message","id":"msg_1","role":"user","content":[{"type":"input_text","text":"hi"}]}]`
	if stream != "" {
		b += `,"stream":` + stream
	}
	return b + "}"
}

// codexWireEvent is one SSE block as it came over the wire: an event (name and
// data) or a comment.
type codexWireEvent struct {
	Name    string
	Data    string
	Comment string
}

// codexParseWire splits an SSE body strictly: every block is a comment line or an
// "event:" line followed by one "data:" line, and ends with a blank line.
func codexParseWire(t *testing.T, body string) []codexWireEvent {
	t.Helper()
	if body != "" && !strings.HasSuffix(body, "\n\n") {
		t.Fatalf("SSE body does not end with a blank line: %q", body)
	}
	var out []codexWireEvent
	for _, block := range strings.Split(strings.TrimSuffix(body, "\n\n"), "\n\n") {
		if block == "" {
			continue
		}
		out = append(out, codexParseBlock(t, block))
	}
	return out
}

func codexParseBlock(t *testing.T, block string) codexWireEvent {
	t.Helper()
	lines := strings.Split(block, "\n")
	if len(lines) == 1 && strings.HasPrefix(lines[0], ":") {
		return codexWireEvent{Comment: strings.TrimSpace(strings.TrimPrefix(lines[0], ":"))}
	}
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "event: ") || !strings.HasPrefix(lines[1], "data: ") {
		t.Fatalf("malformed SSE block %q", block)
	}
	return codexWireEvent{Name: strings.TrimPrefix(lines[0], "event: "), Data: strings.TrimPrefix(lines[1], "data: ")}
}

func codexNames(ws []codexWireEvent) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.Name
	}
	return out
}

// codexDefaultNames is the fake's default answer, in order.
var codexDefaultNames = []string{
	"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
	"response.output_text.delta", "response.output_text.delta", "response.output_text.done",
	"response.content_part.done", "response.output_item.done", "response.completed",
}

// codexStreamRequest posts body and returns the live response. The deadline
// only turns a hang (a relay that buffers) into a failure; the cleanup
// cancels the request first, so a test that fails mid-stream does not wait
// on a blocked read.
func codexStreamRequest(t *testing.T, h *harness, body string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), codexHangTimeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.ts.URL+codexPath, strings.NewReader(body))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+harnessKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = resp.Body.Close()
	})
	return resp
}

// codexLiveItem is one block read from a live stream, or the read error.
type codexLiveItem struct {
	ev  codexWireEvent
	err error
}

// codexReadLive reads SSE blocks from body as they arrive.
func codexReadLive(t *testing.T, body io.Reader) <-chan codexLiveItem {
	t.Helper()
	ch := make(chan codexLiveItem)
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		br := bufio.NewReader(body)
		var block []string
		send := func(it codexLiveItem) bool {
			select {
			case ch <- it:
				return true
			case <-done:
				return false
			}
		}
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				send(codexLiveItem{err: err})
				return
			}
			line = strings.TrimSuffix(line, "\n")
			if line != "" {
				block = append(block, line)
				continue
			}
			if len(block) == 0 {
				continue
			}
			lines := strings.Join(block, "\n")
			block = block[:0]
			var ev codexWireEvent
			switch {
			case strings.HasPrefix(lines, ":") && !strings.Contains(lines, "\n"):
				ev.Comment = strings.TrimSpace(strings.TrimPrefix(lines, ":"))
			default:
				parts := strings.Split(lines, "\n")
				if len(parts) != 2 || !strings.HasPrefix(parts[0], "event: ") || !strings.HasPrefix(parts[1], "data: ") {
					send(codexLiveItem{err: fmt.Errorf("malformed SSE block %q", lines)})
					return
				}
				ev = codexWireEvent{Name: strings.TrimPrefix(parts[0], "event: "), Data: strings.TrimPrefix(parts[1], "data: ")}
			}
			if !send(codexLiveItem{ev: ev}) {
				return
			}
		}
	}()
	return ch
}

// codexNextLive waits for the next block; the timeout only turns a hang (a
// buffered event) into a failure.
func codexNextLive(t *testing.T, ch <-chan codexLiveItem) codexWireEvent {
	t.Helper()
	select {
	case it := <-ch:
		if it.err != nil {
			t.Fatalf("reading the stream: %v", it.err)
		}
		return it.ev
	case <-time.After(codexHangTimeout):
		t.Fatal("the next SSE block did not arrive: the relay buffers")
	}
	return codexWireEvent{}
}

// codexScripted is a complete answer with the given text deltas, in the
// backend's order.
func codexScripted(respID string, deltas ...string) []codexfake.Event {
	resp := func(status, extra string) string {
		return `{"id":"` + respID + `","object":"response","status":"` + status + `","model":"` + codexTestModel + `","output":[]` + extra + `}`
	}
	text := strings.Join(deltas, "")
	part := `{"type":"output_text","text":` + strconv.Quote(text) + `,"annotations":[]}`
	type ev struct{ name, rest string }
	evs := []ev{
		{"response.created", `"response":` + resp("in_progress", "")},
		{"response.in_progress", `"response":` + resp("in_progress", "")},
		{"response.output_item.added", `"output_index":0,"item":{"id":"msg_s","type":"message","status":"in_progress","role":"assistant","content":[]}`},
		{"response.content_part.added", `"item_id":"msg_s","output_index":0,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]}`},
	}
	for _, d := range deltas {
		evs = append(evs, ev{"response.output_text.delta", `"item_id":"msg_s","output_index":0,"content_index":0,"delta":` + strconv.Quote(d)})
	}
	evs = append(evs,
		ev{"response.output_text.done", `"item_id":"msg_s","output_index":0,"content_index":0,"text":` + strconv.Quote(text)},
		ev{"response.content_part.done", `"item_id":"msg_s","output_index":0,"content_index":0,"part":` + part},
		ev{"response.output_item.done", `"output_index":0,"item":{"id":"msg_s","type":"message","status":"completed","role":"assistant","content":[` + part + `]}`},
		ev{"response.completed", `"response":` + resp("completed", `,"usage":{"input_tokens":3,"output_tokens":2,"total_tokens":5}`)},
	)
	out := make([]codexfake.Event, len(evs))
	for i, e := range evs {
		out[i] = codexfake.Event{Name: e.name, Data: fmt.Sprintf(`{"type":%q,"sequence_number":%d,%s}`, e.name, i, e.rest)}
	}
	return out
}

// codexFailedEvt is a response.failed event carrying errJSON.
func codexFailedEvt(errJSON string) codexfake.Event {
	return codexfake.Event{Name: "response.failed",
		Data: `{"type":"response.failed","response":{"id":"resp_f","object":"response","status":"failed","error":` + errJSON + `}}`}
}

// codexOpenAIErr is the client's error envelope, as decoded by a client.
type codexOpenAIErr struct {
	Error struct {
		Message         string  `json:"message"`
		Type            string  `json:"type"`
		Code            *string `json:"code"`
		Param           *string `json:"param"`
		ResetsAt        *int64  `json:"resets_at"`
		ResetsInSeconds *int64  `json:"resets_in_seconds"`
	} `json:"error"`
}

func codexDecodeErr(t *testing.T, body string) codexOpenAIErr {
	t.Helper()
	var e codexOpenAIErr
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body is not the OpenAI envelope: %v: %s", err, body)
	}
	if e.Error.Message == "" || e.Error.Type == "" {
		t.Fatalf("error envelope lacks message or type: %s", body)
	}
	return e
}

func codexDeref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// codexUpstreamAccounts returns the chatgpt-account-id of each recorded responses
// request.
func codexUpstreamAccounts(h *harness) []string {
	var out []string
	for _, r := range h.cfake.RequestsTo(codexfake.Responses) {
		out = append(out, r.Header.Get("chatgpt-account-id"))
	}
	return out
}

func TestCodexResponsesStreamHappyPath(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addCodex("tok-a")
	resp := h.do(http.MethodPost, codexPath, codexTestBody("true"), map[string]string{
		"session-id": "sess-123", "originator": "codex_cli_rs", "thread-id": "thread-9",
	})
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200: %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Content-Type"); got != "text/event-stream" {
		t.Errorf("Content-Type = %q, want text/event-stream", got)
	}
	if got := resp.Header.Get(headerDroppedParams); got != "" {
		t.Errorf("%s = %q, want none", headerDroppedParams, got)
	}
	evs := codexParseWire(t, body)
	if diff := cmp.Diff(codexDefaultNames, codexNames(evs)); diff != "" {
		t.Errorf("event sequence (-want +got):\n%s", diff)
	}
	for _, ev := range evs {
		var d struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal([]byte(ev.Data), &d); err != nil || d.Type != ev.Name {
			t.Errorf("event %s: data type %q (err %v), want the event name", ev.Name, d.Type, err)
		}
	}

	// The usage-window headers of the 2xx answer are parsed once per request.
	windows := h.logs.FilterMessage("codex: usage windows").
		FilterField(zap.String(keyRequestID, resp.Header.Get("X-Request-Id"))).All()
	if len(windows) != 1 || windows[0].ContextMap()["primary_used_percent"] != 12.5 ||
		windows[0].ContextMap()["secondary_window_minutes"] != int64(10080) {
		t.Errorf("usage windows log = %v, want primary 12.5 %%, secondary 10080 min", windows)
	}

	reqs := h.cfake.RequestsTo(codexfake.Responses)
	if len(reqs) != 1 {
		t.Fatalf("upstream requests = %d, want 1", len(reqs))
	}
	up := reqs[0]
	var got struct {
		Stream       *bool   `json:"stream"`
		Store        *bool   `json:"store"`
		Instructions *string `json:"instructions"`
	}
	if err := json.Unmarshal(up.Body, &got); err != nil {
		t.Fatalf("upstream body: %v", err)
	}
	if got.Stream == nil || !*got.Stream || got.Store == nil || *got.Store || got.Instructions == nil || *got.Instructions != "be brief" {
		t.Errorf("upstream body = %s, want stream:true, store:false, instructions:\"be brief\"", up.Body)
	}
	wantHeaders := map[string]string{
		"Chatgpt-Account-Id": "acct-tok-a",
		"Originator":         "codex_cli_rs",
		"Thread-Id":          "thread-9",
	}
	for k, want := range wantHeaders {
		if got := up.Header.Get(k); got != want {
			t.Errorf("upstream %s = %q, want %q", k, got, want)
		}
	}
	// The client sent session-id; the backend reads session_id.
	if got := up.Header.Values("session_id"); len(got) != 1 || got[0] != "sess-123" {
		t.Errorf("upstream session_id = %q, want [sess-123]", got)
	}
	if auth := up.Header.Get("Authorization"); strings.Contains(auth, harnessKey) || !strings.HasPrefix(auth, "Bearer at_") {
		t.Errorf("upstream Authorization is not the account's token (client key forwarded?)")
	}
}

// TestCodexResponsesStreamDecidedByBody: the OpenAI SDK sends accept:
// application/json even when it streams, and often a plain string input.
func TestCodexResponsesStreamDecidedByBody(t *testing.T) {
	cases := []struct {
		name       string
		stream     string
		wantStream bool
	}{
		{"stream true with accept json", "true", true},
		{"stream absent", "", false},
		{"stream false", "false", false},
	}
	h := newHarness(t, harnessOptions{})
	h.addCodex("tok-a")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"model":"` + codexTestModel + `","input":"say hello"`
			if tc.stream != "" {
				body += `,"stream":` + tc.stream
			}
			body += "}"
			resp := h.do(http.MethodPost, codexPath, body, map[string]string{"Accept": "application/json"})
			got := readAll(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d: %s", resp.StatusCode, got)
			}
			if tc.wantStream {
				if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
					t.Fatalf("Content-Type = %q, want text/event-stream", ct)
				}
				evs := codexParseWire(t, got)
				if len(evs) == 0 || evs[len(evs)-1].Name != codex.EventCompleted {
					t.Fatalf("last event is not response.completed: %v", codexNames(evs))
				}
				return
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("Content-Type = %q, want JSON", ct)
			}
			var r struct {
				Object string `json:"object"`
				Status string `json:"status"`
				Output []struct {
					Type    string `json:"type"`
					Content []struct {
						Text string `json:"text"`
					} `json:"content"`
				} `json:"output"`
				Usage struct {
					InputTokens  int `json:"input_tokens"`
					OutputTokens int `json:"output_tokens"`
				} `json:"usage"`
			}
			if err := json.Unmarshal([]byte(got), &r); err != nil {
				t.Fatalf("response is not JSON: %v: %s", err, got)
			}
			if r.Object != "response" || r.Status != "completed" {
				t.Errorf("object, status = %q, %q; want response, completed", r.Object, r.Status)
			}
			if len(r.Output) != 1 || len(r.Output[0].Content) != 1 || r.Output[0].Content[0].Text != codexfake.DefaultText {
				t.Errorf("output = %+v, want one message with %q", r.Output, codexfake.DefaultText)
			}
			if r.Usage.InputTokens != 12 || r.Usage.OutputTokens != 5 {
				t.Errorf("usage = %+v, want 12 in, 5 out", r.Usage)
			}
			// The string input went upstream as one user message.
			reqs := h.cfake.RequestsTo(codexfake.Responses)
			var up struct {
				Input []struct {
					Role string `json:"role"`
				} `json:"input"`
			}
			if err := json.Unmarshal(reqs[len(reqs)-1].Body, &up); err != nil || len(up.Input) != 1 || up.Input[0].Role != "user" {
				t.Errorf("upstream input = %s, want one user message", reqs[len(reqs)-1].Body)
			}
		})
	}
}

func TestCodexResponsesDroppedParams(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addCodex("tok-a")
	body := `{"model":"` + codexTestModel + `","input":"hi","stream":true,"temperature":0.2,"max_output_tokens":100}`
	resp := h.do(http.MethodPost, codexPath, body, nil)
	readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	if got, want := resp.Header.Get("x-pollux-dropped-params"), "max_output_tokens,temperature"; got != want {
		t.Errorf("x-pollux-dropped-params = %q, want %q", got, want)
	}
	logged := h.logs.FilterMessage("codex: dropped request params the backend rejects").
		FilterField(zap.String(keyRequestID, resp.Header.Get("X-Request-Id"))).All()
	if len(logged) != 1 || logged[0].ContextMap()["params"] != "max_output_tokens,temperature" {
		t.Errorf("debug log of the dropped params with the request id: got %v", logged)
	}
	reqs := h.cfake.RequestsTo(codexfake.Responses)
	var up map[string]json.RawMessage
	if err := json.Unmarshal(reqs[0].Body, &up); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"temperature", "max_output_tokens"} {
		if _, ok := up[k]; ok {
			t.Errorf("upstream body still has %q: %s", k, reqs[0].Body)
		}
	}
}

// TestCodexResponsesFlushesEachEvent proves each event reaches the client
// before the upstream sends the next: event i+1 is held at the fake until the
// client has read event i.
func TestCodexResponsesFlushesEachEvent(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addCodex("tok-a")
	evs := codexScripted("resp_flush", "one ", "two ", "three")
	gates := make([]chan struct{}, len(evs))
	// The relay reads the stream's head (up to the first output event,
	// index 2) before answering, so gating starts after it.
	const firstGated = 3
	for i := firstGated; i < len(evs); i++ {
		gates[i] = make(chan struct{})
		evs[i].Gate = gates[i]
	}
	h.cfake.Push(codexfake.Responses, codexfake.Reply{Stream: &codexfake.Stream{Events: evs}})
	resp := codexStreamRequest(t, h, codexTestBody("true"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	live := codexReadLive(t, resp.Body)
	for i := range evs {
		if gates[i] != nil {
			close(gates[i])
		}
		got := codexNextLive(t, live)
		want := codexWireEvent{Name: evs[i].Name, Data: evs[i].Data}
		if i == len(evs)-1 {
			// The terminal event is the one Pollux may touch: its empty
			// output (store=false) is filled from the streamed items.
			if got.Name != want.Name || !strings.Contains(got.Data, `"text":"one two three"`) {
				t.Fatalf("terminal event = %+v, want %s with the streamed output filled in", got, want.Name)
			}
			continue
		}
		if got != want {
			t.Fatalf("event %d = %+v, want %+v", i, got, want)
		}
	}
}

func TestCodexResponsesKeepAliveWhileSilent(t *testing.T) {
	h := newHarness(t, harnessOptions{keepAlive: 20 * time.Millisecond})
	h.addCodex("tok-a")
	evs := codexScripted("resp_ka", "hello")
	gate := make(chan struct{})
	const gated = 4
	evs[gated].Gate = gate
	h.cfake.Push(codexfake.Responses, codexfake.Reply{Stream: &codexfake.Stream{Events: evs}})
	resp := codexStreamRequest(t, h, codexTestBody("true"))
	live := codexReadLive(t, resp.Body)
	for i := range gated {
		if got := codexNextLive(t, live); got.Name != evs[i].Name {
			t.Fatalf("event %d = %+v, want %s", i, got, evs[i].Name)
		}
	}
	// The upstream is silent until the gate opens: a keep-alive comment
	// must come first.
	if got := codexNextLive(t, live); got.Comment != "keep-alive" {
		t.Fatalf("during the silence got %+v, want a keep-alive comment", got)
	}
	close(gate)
	var rest []string
	for {
		got := codexNextLive(t, live)
		if got.Comment != "" {
			continue
		}
		rest = append(rest, got.Name)
		if got.Name == codex.EventCompleted {
			break
		}
	}
	if want := codexNames(codexToWire(evs[gated:])); !cmp.Equal(rest, want) {
		t.Errorf("after the silence got %v, want %v", rest, want)
	}
}

func codexToWire(evs []codexfake.Event) []codexWireEvent {
	out := make([]codexWireEvent, len(evs))
	for i, e := range evs {
		out[i] = codexWireEvent{Name: e.Name, Data: e.Data}
	}
	return out
}

func TestCodexResponsesOverloadFailsOver(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addCodex("tok-a", "tok-b")
	h.cfake.Push(codexfake.Responses, codexfake.Reply{Stream: &codexfake.Stream{Overloaded: true}})
	resp := h.do(http.MethodPost, codexPath, codexTestBody("true"), nil)
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d: %s", resp.StatusCode, body)
	}
	if strings.Contains(body, "server_is_overloaded") {
		t.Errorf("the client saw the overload event:\n%s", body)
	}
	evs := codexParseWire(t, body)
	if diff := cmp.Diff(codexDefaultNames, codexNames(evs)); diff != "" {
		t.Errorf("event sequence (-want +got):\n%s", diff)
	}
	if accts := codexUpstreamAccounts(h); len(accts) != 2 || accts[0] == accts[1] {
		t.Errorf("upstream accounts = %v, want two different ones", accts)
	}
}

// codexUsageLimitBody is the backend's 429 for a spent usage window.
func codexUsageLimitBody(resetsAt int64) string {
	return fmt.Sprintf(`{"error":{"type":"usage_limit_reached","message":"The usage limit has been reached","plan_type":"plus","resets_at":%d,"resets_in_seconds":3600}}`, resetsAt)
}

func TestCodexResponsesUsageLimitRotates(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addCodex("tok-a", "tok-b")
	h.cfake.Push(codexfake.Responses, codexfake.Reply{Status: http.StatusTooManyRequests, Body: codexUsageLimitBody(time.Now().Add(time.Hour).Unix())})
	resp := h.do(http.MethodPost, codexPath, codexTestBody("true"), nil)
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d: %s", resp.StatusCode, body)
	}
	if evs := codexParseWire(t, body); len(evs) == 0 || evs[len(evs)-1].Name != codex.EventCompleted {
		t.Errorf("stream did not complete: %v", codexNames(evs))
	}
	if accts := codexUpstreamAccounts(h); len(accts) != 2 || accts[0] == accts[1] {
		t.Errorf("upstream accounts = %v, want two different ones", accts)
	}
}

// TestCodexResponsesFailuresBeforeOutput: when every attempt fails before
// any output, the client gets the OpenAI envelope with a real status and the
// upstream's error fields.
func TestCodexResponsesFailuresBeforeOutput(t *testing.T) {
	resetsAt := time.Now().Add(time.Hour).Unix()
	limit429 := codexfake.Reply{Status: http.StatusTooManyRequests, Body: codexUsageLimitBody(resetsAt)}
	stream := func(evs ...codexfake.Event) codexfake.Reply {
		return codexfake.Reply{Stream: &codexfake.Stream{Events: evs}}
	}
	head := codexScripted("resp_h", "partial ")
	cases := []struct {
		name       string
		stream     string
		accounts   []string
		replies    []codexfake.Reply
		wantStatus int
		wantType   string
		wantCode   string
		wantParam  string
		wantResets bool
	}{
		{
			name: "http usage limit on every account", stream: "true", accounts: []string{"tok-a", "tok-b"},
			replies:    []codexfake.Reply{limit429, limit429},
			wantStatus: http.StatusTooManyRequests, wantType: "usage_limit_reached", wantResets: true,
		},
		{
			name: "usage limit event at the stream head", stream: "true", accounts: []string{"tok-a"},
			replies: []codexfake.Reply{stream(head[0], codexFailedEvt(fmt.Sprintf(
				`{"type":"usage_limit_reached","code":"usage_limit_reached","message":"limit","resets_at":%d,"resets_in_seconds":3600}`, resetsAt)))},
			wantStatus: http.StatusTooManyRequests, wantType: "usage_limit_reached", wantCode: "usage_limit_reached", wantResets: true,
		},
		{
			name: "overload on every attempt", stream: "true", accounts: []string{"tok-a"},
			replies:    []codexfake.Reply{{Stream: &codexfake.Stream{Overloaded: true}}},
			wantStatus: http.StatusServiceUnavailable, wantCode: "server_is_overloaded",
		},
		{
			name: "client error passes through", stream: "true", accounts: []string{"tok-a"},
			replies: []codexfake.Reply{{Status: http.StatusBadRequest,
				Body: `{"error":{"message":"Invalid value: 'input_txt'.","type":"invalid_request_error","param":"input[0].content[0]","code":"invalid_value"}}`}},
			wantStatus: http.StatusBadRequest, wantType: "invalid_request_error", wantCode: "invalid_value", wantParam: "input[0].content[0]",
		},
		{
			name: "non-stream: stream cut", stream: "false", accounts: []string{"tok-a"},
			replies:    []codexfake.Reply{{Stream: &codexfake.Stream{CutAfter: 5}}},
			wantStatus: http.StatusBadGateway, wantCode: "stream_interrupted",
		},
		{
			name: "non-stream: context length failure after output", stream: "false", accounts: []string{"tok-a"},
			replies:    []codexfake.Reply{stream(head[0], head[1], head[2], codexFailedEvt(`{"code":"context_length_exceeded","message":"too long"}`))},
			wantStatus: http.StatusBadRequest, wantCode: "context_length_exceeded",
		},
		{
			name: "non-stream: usage limit error event after output", stream: "", accounts: []string{"tok-a"},
			replies: []codexfake.Reply{stream(head[0], head[1], head[2], head[3], codexfake.Event{Name: "error",
				Data: fmt.Sprintf(`{"type":"error","code":"usage_limit_reached","message":"limit","resets_at":%d}`, resetsAt)})},
			wantStatus: http.StatusTooManyRequests, wantCode: "usage_limit_reached",
		},
		{
			name: "non-stream: overloaded", stream: "false", accounts: []string{"tok-a"},
			replies:    []codexfake.Reply{{Stream: &codexfake.Stream{Overloaded: true}}},
			wantStatus: http.StatusServiceUnavailable, wantCode: "server_is_overloaded",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			h.addCodex(tc.accounts...)
			h.cfake.Push(codexfake.Responses, tc.replies...)
			resp := h.do(http.MethodPost, codexPath, codexTestBody(tc.stream), nil)
			body := readAll(t, resp)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			e := codexDecodeErr(t, body)
			if tc.wantType != "" && e.Error.Type != tc.wantType {
				t.Errorf("type = %q, want %q", e.Error.Type, tc.wantType)
			}
			if got := codexDeref(e.Error.Code); tc.wantCode != "" && got != tc.wantCode {
				t.Errorf("code = %q, want %q", got, tc.wantCode)
			}
			if got := codexDeref(e.Error.Param); got != tc.wantParam {
				t.Errorf("param = %q, want %q", got, tc.wantParam)
			}
			if tc.wantStatus == http.StatusTooManyRequests {
				secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
				if err != nil || secs < 3500 || secs > 3601 {
					t.Errorf("Retry-After = %q, want about 3600", resp.Header.Get("Retry-After"))
				}
			}
			if tc.wantResets {
				if e.Error.ResetsAt == nil || *e.Error.ResetsAt != resetsAt || e.Error.ResetsInSeconds == nil || *e.Error.ResetsInSeconds != 3600 {
					t.Errorf("resets_at, resets_in_seconds = %v, %v; want %d, 3600: %s", e.Error.ResetsAt, e.Error.ResetsInSeconds, resetsAt, body)
				}
			}
			if len(h.cfake.RequestsTo(codexfake.Responses)) != len(tc.replies) {
				t.Errorf("upstream requests = %d, want %d", len(h.cfake.RequestsTo(codexfake.Responses)), len(tc.replies))
			}
		})
	}
}

func TestCodexResponsesRefreshesOn401(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addCodex("tok-a")
	const acct = "acct-tok-a"
	before, oldRT := h.cfake.Refreshes(acct), h.cfake.RefreshToken(acct)
	h.cfake.InvalidateAccess(acct)
	resp := h.do(http.MethodPost, codexPath, codexTestBody("true"), nil)
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d: %s", resp.StatusCode, body)
	}
	if evs := codexParseWire(t, body); len(evs) == 0 || evs[len(evs)-1].Name != codex.EventCompleted {
		t.Errorf("stream did not complete: %v", codexNames(evs))
	}
	if got := h.cfake.Refreshes(acct); got != before+1 {
		t.Errorf("refreshes = %d, want %d", got, before+1)
	}
	if rt := h.cfake.RefreshToken(acct); rt == oldRT || rt == "" {
		t.Error("the refresh token did not rotate")
	}
	if n := len(h.cfake.RequestsTo(codexfake.Responses)); n != 2 {
		t.Errorf("upstream requests = %d, want 2 (401, then success)", n)
	}
}

func TestCodexResponsesStreamCutEndsWithFailedEvent(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addCodex("tok-a")
	const cut = 5
	h.cfake.Push(codexfake.Responses, codexfake.Reply{Stream: &codexfake.Stream{CutAfter: cut}})
	resp := h.do(http.MethodPost, codexPath, codexTestBody("true"), nil)
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d: %s", resp.StatusCode, body)
	}
	evs := codexParseWire(t, body)
	want := append(append([]string(nil), codexDefaultNames[:cut]...), codex.EventFailed)
	if diff := cmp.Diff(want, codexNames(evs)); diff != "" {
		t.Fatalf("event sequence (-want +got):\n%s", diff)
	}
	var created, failed struct {
		Type     string `json:"type"`
		Response struct {
			ID     string `json:"id"`
			Object string `json:"object"`
			Status string `json:"status"`
			Error  struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		} `json:"response"`
	}
	if err := json.Unmarshal([]byte(evs[0].Data), &created); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(evs[len(evs)-1].Data), &failed); err != nil {
		t.Fatalf("response.failed is not JSON: %v", err)
	}
	r := failed.Response
	if failed.Type != codex.EventFailed || r.ID != created.Response.ID || r.ID == "" || r.Object != "response" ||
		r.Status != "failed" || r.Error.Code != "stream_interrupted" || r.Error.Message == "" {
		t.Errorf("response.failed = %s, want id %q, status failed, code stream_interrupted", evs[len(evs)-1].Data, created.Response.ID)
	}
}

func TestCodexResponsesRequestErrors(t *testing.T) {
	cases := []struct {
		name       string
		noAccounts bool
		body       string
		wantStatus int
		wantType   string
		wantCode   string
		wantParam  string
	}{
		{name: "unknown model", body: `{"model":"gpt-nope","input":"hi"}`,
			wantStatus: http.StatusNotFound, wantType: "invalid_request_error", wantCode: "model_not_found", wantParam: "model"},
		{name: "invalid JSON", body: `{"model":`,
			wantStatus: http.StatusBadRequest, wantType: "invalid_request_error", wantCode: "invalid_request"},
		{name: "not an object", body: `["model"]`,
			wantStatus: http.StatusBadRequest, wantType: "invalid_request_error", wantCode: "invalid_request"},
		{name: "missing model", body: `{"input":"hi"}`,
			wantStatus: http.StatusBadRequest, wantType: "invalid_request_error", wantCode: "invalid_request", wantParam: "model"},
		{name: "stream not a boolean", body: `{"model":"` + codexTestModel + `","stream":"yes"}`,
			wantStatus: http.StatusBadRequest, wantType: "invalid_request_error", wantCode: "invalid_request", wantParam: "stream"},
		{name: "no credentials", noAccounts: true, body: codexTestBody("true"),
			wantStatus: http.StatusServiceUnavailable, wantType: "server_error", wantCode: "service_unavailable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			if !tc.noAccounts {
				h.addCodex("tok-a")
			}
			resp := h.do(http.MethodPost, codexPath, tc.body, nil)
			body := readAll(t, resp)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			e := codexDecodeErr(t, body)
			if e.Error.Type != tc.wantType || codexDeref(e.Error.Code) != tc.wantCode || codexDeref(e.Error.Param) != tc.wantParam {
				t.Errorf("type, code, param = %q, %q, %q; want %q, %q, %q",
					e.Error.Type, codexDeref(e.Error.Code), codexDeref(e.Error.Param), tc.wantType, tc.wantCode, tc.wantParam)
			}
			if n := len(h.cfake.RequestsTo(codexfake.Responses)); n != 0 {
				t.Errorf("upstream requests = %d, want 0", n)
			}
		})
	}
}

func TestCodexResponsesSessionAffinity(t *testing.T) {
	cases := []struct {
		name     string
		header   map[string]string
		body     string
		wantSame bool
	}{
		{name: "session-id header", header: map[string]string{"session-id": "sess-1"}, body: codexTestBody("true"), wantSame: true},
		{name: "session_id header", header: map[string]string{"session_id": "sess-2"}, body: codexTestBody("true"), wantSame: true},
		{name: "prompt_cache_key", body: `{"model":"` + codexTestModel + `","input":"hi","stream":true,"prompt_cache_key":"pck-1"}`, wantSame: true},
		// Control: without a key the scheduler spreads the load, so the
		// cases above are not passing by chance.
		{name: "no key", body: codexTestBody("true"), wantSame: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// LRU routing: quota routing would rightly keep both requests on
			// the account whose headroom the first answer reported.
			h := newHarness(t, harnessOptions{mutateCfg: func(c *config.Config) { c.Providers.Codex.Routing = config.RoutingLRU }})
			h.addCodex("tok-a", "tok-b")
			for range 2 {
				resp := h.do(http.MethodPost, codexPath, tc.body, tc.header)
				if body := readAll(t, resp); resp.StatusCode != http.StatusOK {
					t.Fatalf("status = %d: %s", resp.StatusCode, body)
				}
			}
			accts := codexUpstreamAccounts(h)
			if len(accts) != 2 {
				t.Fatalf("upstream requests = %d, want 2", len(accts))
			}
			if same := accts[0] == accts[1]; same != tc.wantSame {
				t.Errorf("accounts %v: same = %v, want %v", accts, same, tc.wantSame)
			}
		})
	}
}

func TestCodexCompactPassthrough(t *testing.T) {
	const body = `{"model":"` + codexTestModel + `","input":[{"type":"message","role":"user","content":"hi"}],"instructions":"x"}`
	const upstreamBody = `{"output":[{"type":"compaction","encrypted_content":"abc"}],"extra":{"kept":true}}`
	cases := []struct {
		name       string
		accounts   []string
		replies    []codexfake.Reply
		wantStatus int
		wantBody   string
		wantCalls  int
	}{
		{name: "verbatim", accounts: []string{"tok-a"},
			replies:    []codexfake.Reply{{Body: upstreamBody}},
			wantStatus: http.StatusOK, wantBody: upstreamBody, wantCalls: 1},
		{name: "fails over on 429", accounts: []string{"tok-a", "tok-b"},
			replies:    []codexfake.Reply{{Status: http.StatusTooManyRequests, Body: codexUsageLimitBody(time.Now().Add(time.Hour).Unix())}, {Body: upstreamBody}},
			wantStatus: http.StatusOK, wantBody: upstreamBody, wantCalls: 2},
		{name: "client error", accounts: []string{"tok-a"},
			replies:    []codexfake.Reply{{Status: http.StatusBadRequest, Body: `{"detail":"Invalid request body"}`}},
			wantStatus: http.StatusBadRequest, wantCalls: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			h.addCodex(tc.accounts...)
			h.cfake.Push(codexfake.Compact, tc.replies...)
			resp := h.do(http.MethodPost, "/codex/v1/responses/compact", body, map[string]string{"session-id": "s-c"})
			got := readAll(t, resp)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tc.wantStatus, got)
			}
			if tc.wantBody != "" && got != tc.wantBody {
				t.Errorf("body = %s, want %s", got, tc.wantBody)
			}
			if tc.wantStatus != http.StatusOK {
				e := codexDecodeErr(t, got)
				if e.Error.Message != "Invalid request body" {
					t.Errorf("message = %q, want the upstream's", e.Error.Message)
				}
			}
			reqs := h.cfake.RequestsTo(codexfake.Compact)
			if len(reqs) != tc.wantCalls {
				t.Fatalf("upstream requests = %d, want %d", len(reqs), tc.wantCalls)
			}
			if up := string(reqs[len(reqs)-1].Body); up != body {
				t.Errorf("upstream body = %s, want the client's bytes %s", up, body)
			}
		})
	}
}
