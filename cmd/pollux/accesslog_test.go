package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/pollux-gateway/pollux/config"
)

// tickClock is a zapcore.Clock whose tickers tick when the test says.
type tickClock struct {
	mu sync.Mutex
	ch chan time.Time
}

func (c *tickClock) Now() time.Time { return time.Now() }

func (c *tickClock) NewTicker(time.Duration) *time.Ticker {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ch = make(chan time.Time)
	return &time.Ticker{C: c.ch}
}

func (c *tickClock) tick() {
	c.mu.Lock()
	ch := c.ch
	c.mu.Unlock()
	ch <- time.Now()
}

// TestAccessLogFlushesOnItsInterval: an access line waits in the buffer
// until the flush interval ticks, then reaches the output; stop writes out
// the rest.
func TestAccessLogFlushesOnItsInterval(t *testing.T) {
	out := filepath.Join(t.TempDir(), "access.log")
	clock := &tickClock{}
	log, stop, err := newAccessLogger(config.Basic{LogLevel: "info"}, zap.NewAtomicLevelAt(zapcore.InfoLevel),
		hooks{accessClock: clock, accessOutput: out})
	if err != nil {
		t.Fatal(err)
	}
	read := func() string {
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	log.Info("request", zap.String("path", "/one"))
	if got := read(); got != "" {
		t.Fatalf("before the interval the output holds %q, want nothing (buffered)", got)
	}
	clock.tick()
	// The tick's flush runs on the syncer's goroutine: wait for its write.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(read(), "/one"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the interval's flush did not write the line")
		}
	}
	log.Info("request", zap.String("path", "/two"))
	log.Debug("request", zap.String("path", "/debug")) // under the level
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	got := read()
	if !strings.Contains(got, "/two") || strings.Contains(got, "/debug") || strings.Count(got, "\n") != 2 {
		t.Errorf("after stop the output is %q, want the two info lines", got)
	}
}

// TestAccessLogWrittenOutOnSIGTERM: a real process stopped by SIGTERM
// right after serving requests has written every access line, though the
// buffer is flushed only once a second while it runs.
func TestAccessLogWrittenOutOnSIGTERM(t *testing.T) {
	u := newUpstreams(t)
	dir := t.TempDir()
	port := freePort(t)
	p := startProcess(t, "--config", writeConfig(t, dir, u.config(port, filepath.Join(dir, "pollux.db"))))
	p.waitHealthy(t, port)
	const n = 40
	client := &http.Client{Timeout: 10 * time.Second}
	for i := range n {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/geminicli/v1beta/models?n=%d", port, i))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.exitCode(t); code != 0 {
		t.Fatalf("exit code %d: %s", code, p.stderr.String())
	}
	lines := 0
	for line := range strings.SplitSeq(p.stderr.String(), "\n") {
		if strings.Contains(line, `"msg":"request"`) && strings.Contains(line, `"path":"/geminicli/v1beta/models"`) {
			lines++
		}
	}
	if lines != n {
		t.Errorf("%d access lines for the %d requests; output:\n%s", lines, n, p.stderr.String())
	}
}
