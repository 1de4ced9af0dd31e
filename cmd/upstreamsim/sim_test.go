package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pelletier/go-toml/v2"

	"github.com/pollux-gateway/pollux/config"
	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
	"github.com/pollux-gateway/pollux/providers/sse"
)

// sim is a running simulator and what it printed before "listening on".
type sim struct {
	addr   string
	config string
	// tokens are the JSON arrays printed after "resource:add" comments,
	// in order (geminicli, then codex).
	tokens [][]string
}

// startSim runs the simulator on a loopback port until the test ends; the
// cleanup checks that run shut down cleanly.
func startSim(t *testing.T, args ...string) sim {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-listen", "127.0.0.1:0"}, args...), pw)
		_ = pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run returned %v, want nil after cancel", err)
		}
	})

	var s sim
	var cfg strings.Builder
	sc := bufio.NewScanner(pr)
	for s.addr == "" && sc.Scan() {
		line := sc.Text()
		if addr, ok := strings.CutPrefix(strings.TrimPrefix(line, "# "), "listening on "); ok {
			s.addr = addr
			break
		}
		cfg.WriteString(line + "\n")
		if js, ok := strings.CutPrefix(line, "# ["); ok {
			var toks []string
			if err := json.Unmarshal([]byte("["+js), &toks); err != nil {
				t.Fatalf("token line %q: %v", line, err)
			}
			s.tokens = append(s.tokens, toks)
		}
	}
	if s.addr == "" {
		cancel()
		t.Fatalf("run ended before listening: %v", <-done)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	s.config = cfg.String()
	return s
}

func newClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// do sends a request and returns the status and body.
func do(t *testing.T, c *http.Client, method, u string, header http.Header, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", u, err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// refresh does a refresh_token grant and returns the token answer.
func refresh(t *testing.T, c *http.Client, tokenURL, refreshToken, clientID string) map[string]any {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}, "client_id": {clientID}}
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	status, body := do(t, c, http.MethodPost, tokenURL, h, form.Encode())
	if status != http.StatusOK {
		t.Fatalf("refresh at %s: status %d, body %s", tokenURL, status, body)
	}
	var tok map[string]any
	if err := json.Unmarshal(body, &tok); err != nil {
		t.Fatalf("token answer %s: %v", body, err)
	}
	if _, ok := tok["access_token"].(string); !ok {
		t.Fatalf("token answer has no access_token: %s", body)
	}
	return tok
}

// TestPrintConfig: the printed text, listening line included, is a config
// file Pollux loads as it is, without warnings, with every upstream URL on
// the simulator.
func TestPrintConfig(t *testing.T) {
	s := startSim(t, "-print-config", "-gemini-accounts", "2", "-codex-accounts", "3")
	path := filepath.Join(t.TempDir(), "sim.toml")
	if err := os.WriteFile(path, []byte(s.config+"# listening on "+s.addr+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, warnings, err := config.Load(path, func(string) string { return "" })
	if err != nil || len(warnings) > 0 {
		t.Fatalf("printed config: err %v, warnings %v\n%s", err, warnings, s.config)
	}
	base := "http://" + s.addr
	p := got.Providers
	want := []string{base + "/gemini", base + "/gemini/token", base + "/gemini/userinfo", base + "/codex", base + "/codex/oauth/token"}
	if diff := cmp.Diff(want, []string{p.GeminiCLI.CustomAPIURL, p.GeminiCLI.OAuthTokenURL, p.GeminiCLI.OAuthUserInfoURL,
		p.Codex.CustomAPIURL, p.Codex.OAuthTokenURL}); diff != "" {
		t.Errorf("printed upstream URLs (-want +got):\n%s", diff)
	}
	if b := got.Basic; b.Addr() != "127.0.0.1:8188" || b.DatabasePath() != "sim.db" || len(b.PolluxKey.Reveal()) < config.MinKeyLength {
		t.Errorf("printed [basic]: addr %s, database %s, key of %d characters", b.Addr(), b.DatabasePath(), len(b.PolluxKey.Reveal()))
	}
	wantTokens := [][]string{{"sim-gemini-0", "sim-gemini-1"}, {"sim-codex-0", "sim-codex-1", "sim-codex-2"}}
	if diff := cmp.Diff(wantTokens, s.tokens); diff != "" {
		t.Errorf("printed refresh tokens (-want +got):\n%s", diff)
	}
}

// TestPrintedConfigServes drives both fakes through the URLs and tokens the
// simulator prints, the way Pollux would use them.
func TestPrintedConfigServes(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no latency", nil},
		{"with latency", []string{"-latency", "1ms"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startSim(t, append([]string{"-print-config", "-gemini-accounts", "2", "-codex-accounts", "2"}, tc.args...)...)
			var cfg config.Config
			if err := toml.Unmarshal([]byte(s.config), &cfg); err != nil {
				t.Fatal(err)
			}
			c := newClient(t)
			t.Run("gemini", func(t *testing.T) { checkGemini(t, c, cfg.Providers.GeminiCLI, s.tokens[0][1]) })
			t.Run("codex", func(t *testing.T) { checkCodex(t, c, cfg.Providers.Codex, s.tokens[1][1]) })
		})
	}
}

func checkGemini(t *testing.T, c *http.Client, p config.Provider, refreshToken string) {
	tok := refresh(t, c, p.OAuthTokenURL, refreshToken, "pollux-test")
	bearer := http.Header{"Authorization": {"Bearer " + tok["access_token"].(string)}, "Content-Type": {"application/json"}}

	status, body := do(t, c, http.MethodPost, p.CustomAPIURL+"/v1internal:loadCodeAssist", bearer, `{"metadata":{"pluginType":"GEMINI"}}`)
	var load struct {
		CurrentTier struct {
			ID string `json:"id"`
		} `json:"currentTier"`
		Project string `json:"cloudaicompanionProject"`
	}
	if err := json.Unmarshal(body, &load); status != http.StatusOK || err != nil {
		t.Fatalf("loadCodeAssist: status %d, body %s, err %v", status, body, err)
	}
	if load.CurrentTier.ID != "standard-tier" || load.Project != "sim-project-1" {
		t.Errorf("loadCodeAssist = tier %q project %q, want standard-tier sim-project-1", load.CurrentTier.ID, load.Project)
	}

	envelope := `{"model":"gemini-2.5-pro","project":"sim-project-1","request":{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}}`
	status, body = do(t, c, http.MethodPost, p.CustomAPIURL+"/v1internal:generateContent", bearer, envelope)
	var gen struct {
		Response struct {
			Candidates []struct {
				Content struct {
					Parts []struct {
						Text string `json:"text"`
					} `json:"parts"`
				} `json:"content"`
				FinishReason string `json:"finishReason"`
			} `json:"candidates"`
		} `json:"response"`
	}
	if err := json.Unmarshal(body, &gen); status != http.StatusOK || err != nil || len(gen.Response.Candidates) != 1 {
		t.Fatalf("generateContent: status %d, body %s, err %v", status, body, err)
	}
	cand := gen.Response.Candidates[0]
	if len(cand.Content.Parts) != 1 || cand.Content.Parts[0].Text != "echo: gemini-2.5-pro" || cand.FinishReason != "STOP" {
		t.Errorf("generateContent candidate = %+v, want text %q and STOP", cand, "echo: gemini-2.5-pro")
	}

	status, body = do(t, c, http.MethodPost, p.CustomAPIURL+"/v1internal:generateContent", nil, envelope)
	if status != http.StatusUnauthorized {
		t.Errorf("generateContent without token: status %d, want 401 (body %s)", status, body)
	}
}

func checkCodex(t *testing.T, c *http.Client, p config.Provider, refreshToken string) {
	tok := refresh(t, c, p.OAuthTokenURL, refreshToken, codexfake.ClientID)
	if next, _ := tok["refresh_token"].(string); next == "" || next == refreshToken {
		t.Errorf("codex refresh_token = %q, want a new one", next)
	}
	h := http.Header{
		"Authorization":      {"Bearer " + tok["access_token"].(string)},
		"Chatgpt-Account-Id": {"sim-codex-account-1"},
		"Content-Type":       {"application/json"},
		"Accept":             {"text/event-stream"},
	}
	status, body := do(t, c, http.MethodPost, p.CustomAPIURL+"/backend-api/codex/responses", h,
		`{"model":"gpt-5.2-codex","stream":true,"store":false,"input":[{"role":"user","content":[{"type":"input_text","text":"hi"}]}]}`)
	if status != http.StatusOK {
		t.Fatalf("responses: status %d, body %s", status, body)
	}
	r := sse.NewReader(strings.NewReader(string(body)))
	var names []string
	var text strings.Builder
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read stream: %v", err)
		}
		names = append(names, ev.Name)
		if ev.Name == "response.output_text.delta" {
			var d struct {
				Delta string `json:"delta"`
			}
			if err := json.Unmarshal(ev.Data, &d); err != nil {
				t.Fatalf("delta %s: %v", ev.Data, err)
			}
			text.WriteString(d.Delta)
		}
	}
	if len(names) == 0 || names[len(names)-1] != "response.completed" {
		t.Errorf("stream events = %q, want the last to be response.completed", names)
	}
	if text.String() != codexfake.DefaultText {
		t.Errorf("streamed text = %q, want %q", text.String(), codexfake.DefaultText)
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"negative accounts", []string{"-gemini-accounts", "-1"}},
		{"negative latency", []string{"-latency", "-1s"}},
		{"unknown flag", []string{"-nope"}},
		{"positional argument", []string{"extra"}},
		{"bad listen address", []string{"-listen", "127.0.0.1:notaport"}},
		{"window without quota", []string{"-window", "10s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(t.Context(), tc.args, io.Discard)
			if err == nil {
				t.Fatalf("run(%q) = nil, want an error", tc.args)
			}
			if errors.Is(err, flag.ErrHelp) {
				t.Errorf("run(%q) = ErrHelp, want a flag error", tc.args)
			}
		})
	}
}

// TestWindowedQuota: with -quota and -window the quota endpoints report the
// windows (cmd/internal/quotasim behind the fakes).
func TestWindowedQuota(t *testing.T) {
	srv := httptest.NewServer(newHandler(geminiTokens(2), codexTokens(1), options{quota: 3, window: 10 * time.Second}))
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Post(srv.URL+"/gemini/v1internal:retrieveUserQuota", "application/json",
		strings.NewReader(`{"project":"sim-project-1"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var q struct {
		Buckets []struct {
			ModelID           string  `json:"modelId"`
			RemainingFraction float64 `json:"remainingFraction"`
			ResetTime         string  `json:"resetTime"`
		} `json:"buckets"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&q); err != nil || len(q.Buckets) != 2 ||
		q.Buckets[0].RemainingFraction != 1 || q.Buckets[0].ResetTime == "" {
		t.Fatalf("quota answer %+v (%v), want two full buckets with resets", q, err)
	}
}
