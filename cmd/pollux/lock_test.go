package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// process is Pollux running as a real child process (the test binary
// re-executed into main).
type process struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan error
}

func startProcess(t *testing.T, args ...string) *process {
	t.Helper()
	return startProcessIn(t, "", args...)
}

// startProcessIn is startProcess with dir as the working directory ("" for
// the test's own).
func startProcessIn(t *testing.T, dir string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), childEnv+"=1", "POLLUX_KEY=", "POLLUX_CONFIG=", "POLLUX_DATABASE_URL=")
	p := &process{cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout = p.stderr
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

// waitHealthy polls /healthz until it answers or the process exits.
func (p *process) waitHealthy(t *testing.T, port int) time.Duration {
	t.Helper()
	begin := time.Now()
	client := &http.Client{Timeout: time.Second}
	for time.Since(begin) < 30*time.Second {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("pollux exited during start (%v): %s", err, p.stderr.String())
		default:
		}
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(begin)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("pollux did not become healthy in 30s: %s", p.stderr.String())
	return 0
}

// exitCode waits for the process to end and returns its exit status.
func (p *process) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		t.Fatalf("pollux did not exit: %s", p.stderr.String())
	}
	return 0
}

// TestSecondProcessOnSameDatabaseIsRefused: two Pollux processes on one
// database once both started silently, and the second reused refresh tokens
// the first had rotated, so Codex accounts ended in needs_reauth (issue 11).
// The second now exits non-zero naming the file and the holder's PID; after
// the first is killed with SIGKILL, a new one starts at once.
func TestSecondProcessOnSameDatabaseIsRefused(t *testing.T) {
	u := newUpstreams(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "pollux.db")
	port := freePort(t)
	cfg1 := writeConfig(t, dir, u.config(port, db))
	first := startProcess(t, "--config", cfg1)
	first.waitHealthy(t, port)

	dir2 := t.TempDir()
	cfg2 := writeConfig(t, dir2, u.config(freePort(t), db))
	second := startProcess(t, "--config", cfg2)
	if code := second.exitCode(t); code == 0 {
		t.Fatalf("second process exited 0; output: %s", second.stderr.String())
	}
	msg := second.stderr.String()
	t.Logf("second process said: %s", msg)
	for _, want := range []string{db, "PID " + strconv.Itoa(first.cmd.Process.Pid), "in use"} {
		if !strings.Contains(msg, want) {
			t.Errorf("second process's message does not name %q:\n%s", want, msg)
		}
	}

	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := first.exitCode(t); code == 0 {
		t.Fatal("killed process reported success")
	}
	third := startProcess(t, "--config", cfg1)
	took := third.waitHealthy(t, port)
	t.Logf("restart after kill -9 healthy in %v", took)
	if bytes.Contains([]byte(third.stderr.String()), []byte("in use")) {
		t.Fatalf("restart was refused: %s", third.stderr.String())
	}
}
