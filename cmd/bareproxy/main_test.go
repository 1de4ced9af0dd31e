package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestProxyFlushesEachEvent: the upstream writes one SSE event and waits
// until the client has read it before writing the next, so the stream
// only completes if the proxy passes each event on as it comes.
func TestProxyFlushesEachEvent(t *testing.T) {
	read := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/gemini/v1internal:streamGenerateContent" || r.URL.RawQuery != "alt=sse" {
			http.Error(w, "wrong path "+r.URL.String(), http.StatusNotFound)
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			io.WriteString(w, "data: "+string(body)+"\n\n")
			w.(http.Flusher).Flush()
			if i < 2 {
				select {
				case <-read:
				case <-time.After(5 * time.Second):
					return // the event never reached the client
				}
			}
		}
	}))
	defer upstream.Close()
	target, _ := url.Parse(upstream.URL)
	proxy := httptest.NewServer(newProxy(target))
	defer proxy.Close()

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Post(proxy.URL+"/gemini/v1internal:streamGenerateContent?alt=sse", "application/json", strings.NewReader(`{"x":1}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	events := 0
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			if line != `data: {"x":1}` {
				t.Fatalf("event %q, want the request body echoed", line)
			}
			events++
			if events < 3 {
				read <- struct{}{}
			}
		}
	}
	if events != 3 {
		t.Fatalf("%d events arrived, want 3 (read error: %v)", events, sc.Err())
	}
}

func TestRunRefusesNonLoopback(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"upstream elsewhere", []string{"-upstream", "http://192.0.2.1:80"}},
		{"upstream not http", []string{"-upstream", "https://127.0.0.1:1"}},
		{"no upstream", nil},
		{"listen elsewhere", []string{"-listen", "0.0.0.0:0", "-upstream", "http://127.0.0.1:1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := run(ctx, tc.args, io.Discard); err == nil {
				t.Fatal("run accepted it")
			}
		})
	}
}
