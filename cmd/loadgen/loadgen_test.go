package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// runJSON runs loadgen with -json and decodes the summary.
func runJSON(t *testing.T, args ...string) Summary {
	t.Helper()
	var out bytes.Buffer
	if err := run(t.Context(), append(args, "-json"), &out); err != nil {
		t.Fatalf("run(%q) = %v", args, err)
	}
	var s Summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatalf("summary %s: %v", out.Bytes(), err)
	}
	return s
}

func newServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

// jsonHandler answers 503 to every fifth request and 200 otherwise; a
// request without the expected header, content type and body gets 400.
func jsonHandler(wantBody string) http.HandlerFunc {
	var n atomic.Int64
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("X-Test") != "yes a: b" ||
			r.Header.Get("Content-Type") != "application/json" || string(body) != wantBody {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		if n.Add(1)%5 == 0 {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}
}

func TestPlainJSON(t *testing.T) {
	const body = `{"model":"m","input":"hi"}`
	ts := newServer(t, jsonHandler(body))
	file := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(file, []byte(body+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		body string
	}{
		{"inline body", body},
		{"body from file", file},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := runJSON(t, "-url", ts.URL+"/v1/x", "-header", "X-Test: yes a: b", "-body", tc.body, "-n", "20", "-c", "4")
			got := struct {
				Requests, OK int
				Errors       map[string]int
			}{s.Requests, s.OK, s.Errors}
			want := struct {
				Requests, OK int
				Errors       map[string]int
			}{20, 16, map[string]int{"503": 4}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("summary (-want +got):\n%s", diff)
			}
			if s.Stream != nil || s.Process != nil {
				t.Errorf("stream %+v, process %+v: want both absent", s.Stream, s.Process)
			}
			if s.Latency.Max <= 0 || s.Latency.P50 > s.Latency.P99 || s.Latency.P99 > s.Latency.Max {
				t.Errorf("latency %+v: want 0 < p50 <= p99 <= max", s.Latency)
			}
		})
	}
}

// sseHandler writes events[i] for the i-th request (cycling); an event
// "CUT" aborts the connection there.
func sseHandler(t *testing.T, status int, streams ...[]string) http.HandlerFunc {
	t.Helper()
	var n atomic.Int64
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		events := streams[int(n.Add(1)-1)%len(streams)]
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(status)
		rc := http.NewResponseController(w)
		for _, ev := range events {
			if ev == "CUT" {
				panic(http.ErrAbortHandler)
			}
			if _, err := io.WriteString(w, ev+"\n\n"); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}

var (
	geminiOK = []string{
		`data: {"response":{"candidates":[{"content":{"parts":[{"text":"Hel"}]}}]}}`,
		": keep-alive",
		`data: {"response":{"candidates":[{"content":{"parts":[{"text":"lo"}]}}]}}`,
		`data: {"response":{"candidates":[{"content":{"parts":[{"text":""}]},"finishReason":"STOP"}]}}`,
	}
	geminiError = []string{
		`data: {"response":{"candidates":[{"content":{"parts":[{"text":"Hel"}]}}]}}`,
		`data: {"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}`,
	}
	openaiOK = []string{
		"event: response.created\ndata: {\"type\":\"response.created\"}",
		"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}",
		"event: response.completed\ndata: {\"type\":\"response.completed\"}",
	}
	openaiFailed = []string{
		"event: response.created\ndata: {\"type\":\"response.created\"}",
		"event: response.failed\ndata: {\"type\":\"response.failed\"}",
	}
	openaiCleanEnd = openaiOK[:2]
	geminiCut      = []string{geminiOK[0], "CUT"}
)

func TestStreams(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		streams [][]string
		want    StreamSummary
		errors  map[string]int
	}{
		{"gemini complete", 200, [][]string{geminiOK},
			StreamSummary{Streams: 10, Complete: 10, EventsMean: 3, EventsMin: 3, EventsMax: 3}, map[string]int{}},
		{"openai complete", 200, [][]string{openaiOK},
			StreamSummary{Streams: 10, Complete: 10, EventsMean: 3, EventsMin: 3, EventsMax: 3}, map[string]int{}},
		{"every other gemini stream cut", 200, [][]string{geminiOK, geminiCut},
			StreamSummary{Streams: 10, Complete: 5, Incomplete: 5, EventsMean: 2, EventsMin: 1, EventsMax: 3}, map[string]int{}},
		{"openai ends without completed", 200, [][]string{openaiCleanEnd},
			StreamSummary{Streams: 10, Incomplete: 10, EventsMean: 2, EventsMin: 2, EventsMax: 2}, map[string]int{}},
		{"gemini error event", 200, [][]string{geminiError, geminiOK},
			StreamSummary{Streams: 10, Complete: 5, Errored: 5, EventsMean: 2.5, EventsMin: 2, EventsMax: 3}, map[string]int{}},
		{"openai response.failed", 200, [][]string{openaiFailed},
			StreamSummary{Streams: 10, Errored: 10, EventsMean: 2, EventsMin: 2, EventsMax: 2}, map[string]int{}},
		{"non-2xx is an error, not a stream", 429, [][]string{geminiOK},
			StreamSummary{}, map[string]int{"429": 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newServer(t, sseHandler(t, tt.status, tt.streams...))
			// -c 1 keeps the handler's cycle aligned with the requests.
			s := runJSON(t, "-url", ts.URL, "-body", `{"stream":true}`, "-n", "10", "-c", "1", "-stream")
			if s.Stream == nil {
				t.Fatal("summary has no stream section")
			}
			if diff := cmp.Diff(tt.want, *s.Stream, cmpopts.IgnoreFields(StreamSummary{}, "TTFB")); diff != "" {
				t.Errorf("stream summary (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.errors, s.Errors); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if s.Requests != 10 {
				t.Errorf("requests = %d, want 10", s.Requests)
			}
			if tt.want.Streams > 0 && (s.Stream.TTFB.P50 <= 0 || s.Stream.TTFB.P99 > s.Latency.Max) {
				t.Errorf("ttfb %+v with latency max %v: want 0 < ttfb <= latency", s.Stream.TTFB, s.Latency.Max)
			}
		})
	}
}

func TestTextOutputHidesQueryKey(t *testing.T) {
	ts := newServer(t, sseHandler(t, 200, geminiOK))
	var out bytes.Buffer
	if err := run(t.Context(), []string{"-url", ts.URL + "/v1beta/models/m:streamGenerateContent?alt=sse&key=sekrit-key", "-n", "4", "-c", "2", "-stream"}, &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"requests     4 (ok 4, errors 0)", "streams      4 (complete 4, incomplete 0, errored 0)", "latency      p50 ", "ttfb         p50 "} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "sekrit") {
		t.Errorf("output shows the query key:\n%s", text)
	}
}

func TestTransportErrorsHideQueryKey(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	closed := ts.URL
	ts.Close()
	var out bytes.Buffer
	if err := run(t.Context(), []string{"-url", closed + "/x?key=sekrit-key", "-n", "3", "-c", "1", "-json"}, &out); err != nil {
		t.Fatal(err)
	}
	var s Summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"transport": 3}, s.Errors); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if s.FirstError == "" || strings.Contains(out.String(), "sekrit") {
		t.Errorf("first error %q / output %s: want a reason without the key", s.FirstError, out.String())
	}
}

func TestDurationBound(t *testing.T) {
	ts := newServer(t, jsonHandler(`{}`))
	s := runJSON(t, "-url", ts.URL, "-header", "X-Test: yes a: b", "-body", "{}", "-duration", "50ms", "-c", "2")
	if s.Requests == 0 {
		t.Error("requests = 0, want some")
	}
	for k := range s.Errors {
		if k != "503" {
			t.Errorf("errors = %v: requests in flight at the deadline must finish, not fail", s.Errors)
		}
	}
}

func TestBounds(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantN    int
		wantTime time.Duration
	}{
		{"default count", nil, defaultRequests, 0},
		{"duration alone is not capped by the default count", []string{"-duration", "3s"}, 0, 3 * time.Second},
		{"both", []string{"-n", "5", "-duration", "3s"}, 5, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(append([]string{"-url", "http://127.0.0.1:1/"}, tt.args...), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if o.n != tt.wantN || o.duration != tt.wantTime {
				t.Errorf("n, duration = %d, %v; want %d, %v", o.n, o.duration, tt.wantN, tt.wantTime)
			}
		})
	}
}

func TestProcessSampling(t *testing.T) {
	ts := newServer(t, jsonHandler(`{}`))
	pid := os.Getpid()
	s := runJSON(t, "-url", ts.URL, "-header", "X-Test: yes a: b", "-body", "{}", "-n", "10", "-c", "2", "-pid", fmt.Sprint(pid))
	p := s.Process
	if p == nil {
		t.Fatal("summary has no process section")
	}
	if p.PID != pid || p.CPUMillis < 0 || p.RSSAfterMiB <= 0 || p.PeakRSSMiB < p.RSSAfterMiB {
		t.Errorf("process = %+v: want pid %d, cpu >= 0, 0 < rss <= peak", p, pid)
	}
	if p.CPUPerRequest != p.CPUMillis/10 {
		t.Errorf("cpu per request = %v, want %v", p.CPUPerRequest, p.CPUMillis/10)
	}
}

func TestParseStatCPU(t *testing.T) {
	tail := " S 1 2 3 4 5 6 7 8 9 10 150 50 0 0 20 0 1 0 100"
	tests := []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr bool
	}{
		{"plain name", "42 (pollux)" + tail, 2 * time.Second, false},
		{"name with spaces and parens", "42 (a b) c)" + tail, 2 * time.Second, false},
		{"no name", "42 pollux" + tail, 0, true},
		{"truncated", "42 (pollux) S 1 2", 0, true},
		{"not a number", "42 (pollux) S 1 2 3 4 5 6 7 8 9 10 x 50", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.stat))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseStatCPU = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestLoopbackOnly(t *testing.T) {
	tests := []struct {
		url    string
		refuse bool
	}{
		{"http://127.0.0.1:8188/x", false},
		{"http://127.9.8.7/x", false},
		{"http://[::1]:8188/x", false},
		{"http://localhost:8188/x", false},
		{"https://LOCALHOST/x", false},
		{"http://example.com/x", true},
		{"http://10.0.0.1:8188/x", true},
		{"http://[2001:db8::1]/x", true},
		{"http://127.0.0.1.example.com/x", true},
		{"http://0.0.0.0:8188/x", true},
		{"ftp://127.0.0.1/x", true},
		{"", true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			err := run(t.Context(), []string{"-url", tt.url, "-n", "1"}, io.Discard)
			if tt.refuse {
				if err == nil {
					t.Fatalf("run(-url %q) = nil, want a refusal", tt.url)
				}
				return
			}
			if err := checkLoopbackURL(tt.url); err != nil {
				t.Errorf("checkLoopbackURL(%q) = %v, want nil", tt.url, err)
			}
		})
	}
	t.Run("error names the rule", func(t *testing.T) {
		err := run(t.Context(), []string{"-url", "http://192.0.2.1/"}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
			t.Errorf("err = %v, want it to say the host is not a loopback address", err)
		}
	})
	t.Run("dial hook", func(t *testing.T) {
		for addr, refuse := range map[string]bool{"127.0.0.1:80": false, "[::1]:80": false, "192.0.2.1:80": true, "[2001:db8::1]:80": true} {
			if err := loopbackOnly("tcp", addr, nil); (err != nil) != refuse {
				t.Errorf("loopbackOnly(%q) = %v, want refused %v", addr, err, refuse)
			}
		}
	})
}

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"zero concurrency", []string{"-c", "0"}},
		{"negative n", []string{"-n", "-1"}},
		{"zero timeout", []string{"-timeout", "0"}},
		{"header without colon", []string{"-header", "NoColon"}},
		{"missing body file", []string{"-body", "/nonexistent/body.json"}},
		{"missing pid", []string{"-pid", "999999999"}},
		{"positional argument", []string{"extra"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"-url", "http://127.0.0.1:1/", "-n", "1"}, tc.args...)
			if err := run(t.Context(), args, io.Discard); err == nil {
				t.Errorf("run(%q) = nil, want an error", args)
			}
		})
	}
}

func TestParseMetrics(t *testing.T) {
	page := "# HELP go_goroutines x\n# TYPE go_goroutines gauge\ngo_goroutines 42\ngo_memstats_heap_alloc_bytes 1.048576e+07\n" +
		"pollux_requests_total{code=\"2xx\"} 7\nprocess_open_fds 19\n"
	m, err := parseMetrics(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	if m["go_goroutines"] != 42 || m["go_memstats_heap_alloc_bytes"] != 10485760 || m["process_open_fds"] != 19 {
		t.Errorf("parsed %v", m)
	}
	if _, ok := m["pollux_requests_total"]; ok {
		t.Error("a labelled sample was read as unlabelled")
	}
}

// TestSoakSampling: soak mode samples the process (RSS, fds) and the
// target's metrics (heap, goroutines) during the run and at its end.
func TestSoakSampling(t *testing.T) {
	ts := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			if r.Header.Get("X-Test") != "yes a: b" {
				http.Error(w, "no key", http.StatusUnauthorized)
				return
			}
			_, _ = io.WriteString(w, "go_goroutines 12\ngo_memstats_heap_alloc_bytes 2097152\n")
			return
		}
		jsonHandler(`{}`)(w, r)
	})
	s := runJSON(t, "-url", ts.URL, "-header", "X-Test: yes a: b", "-body", "{}", "-duration", "300ms", "-c", "2",
		"-pid", fmt.Sprint(os.Getpid()), "-sample", "50ms", "-metrics", ts.URL+"/metrics")
	if len(s.Soak) < 3 {
		t.Fatalf("%d soak samples in 300 ms at 50 ms, want several", len(s.Soak))
	}
	last := s.Soak[len(s.Soak)-1]
	if last.RSSMiB <= 0 || last.FDs <= 0 || last.HeapMiB != 2 || last.Goroutines != 12 {
		t.Errorf("last sample %+v: want rss > 0, fds > 0, heap 2 MiB, 12 goroutines", last)
	}
	if last.ElapsedSecs < 0.3 {
		t.Errorf("last sample at %.2fs, want at the end of the 300 ms run", last.ElapsedSecs)
	}
}
