package transport

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/pollux-gateway/pollux/config"
)

// testKey is the Pollux key of every test server.
const testKey = "pk-test-7c1f0e9a4b2d5e8f"

// newTestServer returns a server with two models per provider and a log
// observer capturing every level.
func newTestServer(t *testing.T, ready func(context.Context) error) (*Server, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	var cfg config.Config
	cfg.Basic.PolluxKey = testKey
	cfg.Providers.GeminiCLI.ModelList = []string{"gemini-2.5-pro", "gemini-2.5-flash"}
	cfg.Providers.Codex.ModelList = []string{"gpt-5-codex", "gpt-5"}
	return New(Deps{Config: cfg, Logger: zap.New(core), Ready: ready}), logs
}

// do serves one request in memory.
func do(t *testing.T, s *Server, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec
}

// withKey returns a GET request for target carrying the key as a Bearer token.
func withKey(target string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("Authorization", "Bearer "+testKey)
	return req
}

// decodeJSON decodes a JSON body for comparison with cmp.
func decodeJSON(t *testing.T, body []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("body %q is not JSON: %v", body, err)
	}
	return v
}

// assertJSON fails unless got holds the same JSON value as want.
func assertJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	if diff := cmp.Diff(decodeJSON(t, []byte(want)), decodeJSON(t, got)); diff != "" {
		t.Errorf("body mismatch (-want +got):\n%s\ngot: %s", diff, got)
	}
}

// startServer serves s on a loopback listener; cleanup shuts it down.
func startServer(t *testing.T, s *Server) (addr string, serveErr <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = s.Shutdown(ctx) // already shut down in most tests
	})
	return ln.Addr().String(), errc
}

// newClient returns a client with its own transport, closed at cleanup.
func newClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

type result struct {
	status int
	body   string
	err    error
}

func get(client *http.Client, url string) result {
	resp, err := client.Get(url)
	if err != nil {
		return result{err: err}
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, body: string(b), err: err}
}

// blockingRoute registers a plain-surface route that signals when it starts
// and answers 200 "done" once release is closed.
func blockingRoute(t *testing.T, s *Server) (started, release chan struct{}) {
	t.Helper()
	started, release = make(chan struct{}), make(chan struct{})
	s.Echo().GET("/__slow", func(c echo.Context) error {
		close(started)
		<-release
		return c.String(http.StatusOK, "done")
	})
	return started, release
}

func TestShutdownDrainsInFlightAndRefusesNew(t *testing.T) {
	s, _ := newTestServer(t, nil)
	started, release := blockingRoute(t, s)
	addr, serveErr := startServer(t, s)
	client := newClient(t)

	inflight := make(chan result, 1)
	go func() { inflight <- get(client, "http://"+addr+"/__slow") }()
	<-started

	shutdownErr := make(chan error, 1)
	go func() { shutdownErr <- s.Shutdown(context.Background()) }()

	// Serve returns once the listener is closed, before the drain ends.
	if err := <-serveErr; err != nil {
		t.Fatalf("Serve = %v, want nil after Shutdown", err)
	}
	if conn, err := net.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		if conn != nil {
			_ = conn.Close()
		}
		t.Errorf("dial after Shutdown: err = %v, want connection refused", err)
	}

	close(release)
	got := <-inflight
	if got.err != nil || got.status != http.StatusOK || got.body != "done" {
		t.Errorf("in-flight request = %d %q (err %v), want 200 \"done\"", got.status, got.body, got.err)
	}
	if err := <-shutdownErr; err != nil {
		t.Errorf("Shutdown = %v, want nil", err)
	}
}

func TestShutdownDeadlineClosesRemaining(t *testing.T) {
	s, _ := newTestServer(t, nil)
	started, release := blockingRoute(t, s)
	t.Cleanup(func() { close(release) })
	addr, serveErr := startServer(t, s)
	client := newClient(t)

	inflight := make(chan result, 1)
	go func() { inflight <- get(client, "http://"+addr+"/__slow") }()
	<-started

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the drain deadline has already passed
	if err := s.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown = %v, want an error wrapping context.Canceled", err)
	}
	if err := <-serveErr; err != nil {
		t.Errorf("Serve = %v, want nil after Shutdown", err)
	}
	if got := <-inflight; got.err == nil {
		t.Errorf("in-flight request = %d %q, want a connection error after forced close", got.status, got.body)
	}
}

func TestServeReportsListenerFailure(t *testing.T) {
	s, _ := newTestServer(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	if err := ln.Close(); err != nil {
		t.Fatalf("close listener: %v", err)
	}
	if err := s.Serve(ln); err == nil || !strings.Contains(err.Error(), "transport: serve") {
		t.Errorf("Serve on a closed listener = %v, want a wrapped accept error", err)
	}
}
