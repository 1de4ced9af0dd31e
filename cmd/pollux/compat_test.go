package main

import (
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	geminifake "github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
)

// TestOriginalConfigServesWithTraceHeader: a config in the original
// Pollux's style (upper-case filter loglevel, trace_header, an Antigravity
// section) starts, warns once per thing it does not take, and every
// upstream call carries "<provider>:<email>:<lease id>" (issue 11).
func TestOriginalConfigServesWithTraceHeader(t *testing.T) {
	u := newUpstreams(t)
	dir := t.TempDir()
	cfg := u.config(freePort(t), filepath.Join(dir, "pollux.db"))
	cfg = strings.Replace(cfg, `loglevel = "debug"`, `loglevel = "INFO,hyper=warn"`, 1)
	cfg = strings.Replace(cfg, "[providers.defaults]\n", "[providers.defaults]\ntrace_header = \"x-pollux-trace\"\n", 1)
	cfg += "\n[providers.antigravity]\nmodel_list = [\"claude-sonnet\"]\n"
	cfgPath := writeConfig(t, dir, cfg)
	u.gemini.AddAccount("e2e-refresh-g1", geminifake.Account{Email: "g1@example.com", Sub: "g1", Tier: "standard-tier", Project: "proj-g1"})

	in := start(t, []string{"--config", cfgPath}, nil)
	var warned []string
	for _, e := range in.logs.All() {
		if strings.HasPrefix(e.Message, "config: ") {
			warned = append(warned, e.Message)
		}
	}
	if len(warned) != 2 || !strings.Contains(strings.Join(warned, "\n"), "hyper=warn") || !strings.Contains(strings.Join(warned, "\n"), "Antigravity") {
		t.Errorf("config warnings: %q; want one for the loglevel filter and one for Antigravity", warned)
	}
	if code, _, body := in.do(http.MethodPost, "/geminicli/resource:add?wait=true", `["e2e-refresh-g1"]`, nil); code != 200 {
		t.Fatalf("add: %d %s", code, body)
	}
	gemReq := `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
	if code, _, body := in.do(http.MethodPost, "/geminicli/v1beta/models/gemini-2.5-pro:generateContent", gemReq, nil); code != 200 {
		t.Fatalf("generate: %d %s", code, body)
	}
	reqs := u.gemini.RequestsTo("/v1internal:generateContent")
	if len(reqs) == 0 {
		t.Fatal("no upstream call")
	}
	got := reqs[len(reqs)-1].Header.Get("x-pollux-trace")
	if !regexp.MustCompile(`^geminicli:g1@example\.com:[1-9][0-9]*$`).MatchString(got) {
		t.Errorf("trace header = %q, want geminicli:g1@example.com:<lease id>", got)
	}
}
