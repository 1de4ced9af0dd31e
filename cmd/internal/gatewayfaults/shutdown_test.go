package gatewayfaults

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
	geminifake "github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
)

// TestShutdownEndsOpenStreamsWithTerminalEvents: 12 streams (4 per native
// surface, 2 per pool on the Messages surface) whose upstreams never finish are open when Shutdown's 1 s drain runs out;
// each gets its surface's terminal error event before the connection
// closes, and Shutdown returns by its deadline.
func TestShutdownEndsOpenStreamsWithTerminalEvents(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addGemini("g-a")
	h.addCodex("c-a")
	never := make(chan struct{})
	defer close(never)

	gs := geminifake.DefaultStream("gemini-2.5-pro")
	gs.Events[1].Gate = never
	evs := codexScripted("resp_shut", "one ", "two ")
	evs[3].Gate = never
	for range 6 {
		h.gfake.ScriptStream(gs)
		h.cfake.Push(codexfake.Responses, codexfake.Reply{Stream: &codexfake.Stream{Events: evs}})
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = h.srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()

	type result struct {
		surface, body string
		err           error
	}
	const streams = 12
	results := make(chan result, streams)
	started := make(chan struct{}, streams)
	open := func(surface, path, body string) {
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+harnessKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			results <- result{surface: surface, err: err}
			started <- struct{}{}
			return
		}
		defer func() { _ = resp.Body.Close() }()
		br := bufio.NewReader(resp.Body)
		first, _ := br.ReadString('\n') // the first event is through: the stream is open
		started <- struct{}{}
		rest, err := io.ReadAll(br)
		results <- result{surface: surface, body: first + string(rest), err: err}
	}
	for range 4 {
		go open("gemini", "/geminicli/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`)
		go open("codex", "/codex/v1/responses", codexTestBody("true"))
	}
	for range 2 {
		go open("messages", "/geminicli/v1/messages", `{"model":"gemini-2.5-pro","max_tokens":16,"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
		go open("messages", "/codex/v1/messages", `{"model":"gpt-5.2-codex","max_tokens":16,"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	}
	for range streams {
		<-started
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	begin := time.Now()
	_ = h.srv.Shutdown(ctx)
	if took := time.Since(begin); took > 1500*time.Millisecond {
		t.Errorf("Shutdown took %v with a 1 s deadline", took)
	}
	for range streams {
		r := <-results
		if r.err != nil {
			t.Errorf("%s stream: %v (body %q)", r.surface, r.err, r.body)
			continue
		}
		switch r.surface {
		case "gemini":
			if !strings.Contains(r.body, `"status":"UNAVAILABLE"`) || !strings.Contains(r.body, "shutting down") {
				t.Errorf("gemini stream ended without its error event: %q", r.body)
			}
		case "codex":
			if !strings.Contains(r.body, "event: response.failed") || !strings.Contains(r.body, "server_shutting_down") {
				t.Errorf("codex stream ended without response.failed: %q", r.body)
			}
		case "messages":
			if !strings.Contains(r.body, "event: error\n") || !strings.Contains(r.body, `"type":"overloaded_error"`) || !strings.Contains(r.body, "shutting down") {
				t.Errorf("messages stream ended without its error event: %q", r.body)
			}
		}
	}
}
