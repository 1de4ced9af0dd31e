package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	geminifake "github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
)

// TestKillAfterAcceptedIngestLosesNothing: resource:add answers 202, the
// process is killed with SIGKILL 300 ms later while it is still onboarding
// (the token endpoint is paced at 5 a second), and a new process on the same
// database resumes the job: the job id still answers, every token gets a
// verdict, and all 60 credentials are in the pool.
func TestKillAfterAcceptedIngestLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real processes")
	}
	const tokens = 60
	u := newUpstreams(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "pollux.db")
	port := freePort(t)
	slow := strings.Replace(u.config(port, db), "oauth_tps = 1000\n\n[providers.codex]", "oauth_tps = 5\n\n[providers.codex]", 1)
	cfg := writeConfig(t, dir, slow)

	first := startProcess(t, "--config", cfg)
	first.waitHealthy(t, port)
	var seeds []string
	for i := range tokens {
		tok := fmt.Sprintf("1//e2e-refresh-kill-%02d", i)
		u.gemini.AddAccount(tok, geminifake.Account{Email: fmt.Sprintf("k%02d@example.com", i), Sub: fmt.Sprintf("k%02d", i),
			Tier: "standard-tier", Project: fmt.Sprintf("proj-k%02d", i)})
		seeds = append(seeds, tok)
	}
	body, _ := json.Marshal(seeds)
	status, got := postJSON(t, fmt.Sprintf("http://127.0.0.1:%d/geminicli/resource:add", port), string(body))
	if status != http.StatusAccepted {
		t.Fatalf("resource:add: %d %s", status, got)
	}
	var accepted struct {
		Job      string `json:"job"`
		Accepted int    `json:"accepted"`
	}
	if err := json.Unmarshal([]byte(got), &accepted); err != nil || accepted.Job == "" || accepted.Accepted != tokens {
		t.Fatalf("202 body %s (%v)", got, err)
	}
	time.Sleep(300 * time.Millisecond)
	_, before := getJSON(t, fmt.Sprintf("http://127.0.0.1:%d/geminicli/resource:jobs/%s", port, accepted.Job))
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	first.exitCode(t)
	if strings.Contains(before, `"finished":true`) {
		t.Fatalf("the job finished before the kill; nothing was resumed: %s", before)
	}
	t.Logf("killed with %d pending verdicts", strings.Count(before, `"pending"`))

	fast := writeConfig(t, dir, u.config(port, db))
	second := startProcess(t, "--config", fast)
	second.waitHealthy(t, port)
	jobURL := fmt.Sprintf("http://127.0.0.1:%d/geminicli/resource:jobs/%s", port, accepted.Job)
	var job struct {
		Total    int  `json:"total"`
		Done     int  `json:"done"`
		Finished bool `json:"finished"`
		Verdicts []struct {
			Result string `json:"result"`
			Reason string `json:"reason"`
		} `json:"verdicts"`
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		status, got := getJSON(t, jobURL)
		if status != http.StatusOK {
			t.Fatalf("job after restart: %d %s", status, got)
		}
		if err := json.Unmarshal([]byte(got), &job); err != nil {
			t.Fatal(err)
		}
		if job.Finished {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job not finished after restart: %s", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if job.Total != tokens || job.Done != tokens {
		t.Errorf("job total %d done %d, want %d", job.Total, job.Done, tokens)
	}
	for i, v := range job.Verdicts {
		if v.Result != "added" {
			t.Errorf("verdict %d: %s (%s), want added", i, v.Result, v.Reason)
		}
	}
	status, got = getJSON(t, fmt.Sprintf("http://127.0.0.1:%d/admin/v1/credentials?provider=geminicli", port))
	var creds struct {
		Credentials []json.RawMessage `json:"credentials"`
	}
	if err := json.Unmarshal([]byte(got), &creds); status != http.StatusOK || err != nil {
		t.Fatalf("credentials: %d %s", status, got)
	}
	if len(creds.Credentials) != tokens {
		t.Errorf("%d credentials in the pool after kill -9 and restart, want %d", len(creds.Credentials), tokens)
	}
	if strings.Contains(second.stderr.String(), "e2e-refresh-kill") || strings.Contains(first.stderr.String(), "e2e-refresh-kill") {
		t.Error("a refresh token reached the log")
	}
}

func postJSON(t *testing.T, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e2eKey)
	req.Header.Set("Content-Type", "application/json")
	return doReq(t, req)
}

func getJSON(t *testing.T, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+e2eKey)
	return doReq(t, req)
}

func doReq(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestKillAfterFinal429KeepsTheCooldown: the only credential answers 429
// with an hour's reset; the client gets its 429, the process is killed with
// SIGKILL at once, and after a restart the cooldown that decided the answer
// is still there. Ten rounds, each on a fresh database: one kill in ten lost
// it before.
func TestKillAfterFinal429KeepsTheCooldown(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real processes")
	}
	u := newUpstreams(t)
	u.gemini.AddAccount("e2e-refresh-cool", geminifake.Account{Email: "cool@example.com", Sub: "cool", Tier: "standard-tier", Project: "proj-cool"})
	const quota = `{"error":{"code":429,"message":"Quota exceeded.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"QUOTA_EXHAUSTED","domain":"cloudcode-pa.googleapis.com","metadata":{"quotaResetDelay":"3600s"}}]}}`
	for round := range 10 {
		dir := t.TempDir()
		port := freePort(t)
		cfg := writeConfig(t, dir, u.config(port, filepath.Join(dir, "pollux.db")))
		base := fmt.Sprintf("http://127.0.0.1:%d", port)

		p := startProcess(t, "--config", cfg)
		p.waitHealthy(t, port)
		if status, got := postJSON(t, base+"/geminicli/resource:add?wait=true", `["e2e-refresh-cool"]`); status != http.StatusOK || !strings.Contains(got, `"added"`) {
			t.Fatalf("resource:add: %d %s", status, got)
		}
		u.gemini.ScriptGenerate(geminifake.Response{Status: 429, Body: quota})
		status, got := postJSON(t, base+"/geminicli/v1beta/models/gemini-2.5-pro:generateContent", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`)
		if status != http.StatusTooManyRequests {
			t.Fatalf("round %d: status %d %s, want 429", round, status, got)
		}
		if err := p.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		p.exitCode(t)

		again := startProcess(t, "--config", cfg)
		again.waitHealthy(t, port)
		_, view := getJSON(t, base+"/admin/v1/credentials?provider=geminicli")
		if !strings.Contains(view, `"cooldowns":[{"model":"gemini-2.5-pro"`) || !strings.Contains(view, "QUOTA_EXHAUSTED") {
			t.Fatalf("round %d: the cooldown behind the 429 was lost in the kill: %s", round, view)
		}
		if err := again.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		again.exitCode(t)
	}
}

// TestSecondSignalStopsAtOnce: with a stream open whose upstream never
// finishes and a 10 s drain, SIGTERM starts the drain and a second SIGTERM
// ends it at once; the stream still gets its terminal error event.
func TestSecondSignalStopsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real processes")
	}
	u := newUpstreams(t)
	u.gemini.AddAccount("e2e-refresh-sig", geminifake.Account{Email: "sig@example.com", Sub: "sig", Tier: "standard-tier", Project: "proj-sig"})
	dir := t.TempDir()
	port := freePort(t)
	cfg := writeConfig(t, dir, u.config(port, filepath.Join(dir, "pollux.db")))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	p := startProcess(t, "--config", cfg)
	p.waitHealthy(t, port)
	if status, got := postJSON(t, base+"/geminicli/resource:add?wait=true", `["e2e-refresh-sig"]`); status != http.StatusOK {
		t.Fatalf("resource:add: %d %s", status, got)
	}
	// under is taken by the fake as it writes the stream's first event;
	// the second never comes.
	under, never := make(chan struct{}), make(chan struct{})
	defer close(never)
	stream := geminifake.DefaultStream("gemini-2.5-pro")
	stream.Events[0].Gate = under
	stream.Events[1].Gate = never
	u.gemini.ScriptStream(stream)

	body := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, base+"/geminicli/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
			strings.NewReader(`{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`))
		req.Header.Set("Authorization", "Bearer "+e2eKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			body <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		body <- string(b)
	}()
	select {
	case under <- struct{}{}: // the stream is under way upstream
	case b := <-body:
		t.Fatalf("the stream ended before it began: %q", b)
	case <-time.After(10 * time.Second):
		t.Fatal("stream never reached the upstream")
	}
	time.Sleep(100 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the drain is under way
	begin := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.exitCode(t)
	if took := time.Since(begin); took > 3*time.Second {
		t.Errorf("exited %v after the second SIGTERM (drain 10 s), want at once", took)
	}
	if got := <-body; !strings.Contains(got, "shutting down") {
		t.Errorf("the open stream got no terminal error event: %q", got)
	}
}
