package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	geminifake "github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
)

// TestAliasesAndFallbacksEndToEnd: aliases and a fallback chain from the
// config file. The only Gemini account answers 429 with an hour to wait
// for gemini-2.5-pro: a Chat Completions request naming "smart" (an alias
// of gemini-2.5-pro) is served by gemini-2.5-flash and says so; after a
// restart the cooldown is remembered and the chain still serves, without
// asking upstream for pro again.
func TestAliasesAndFallbacksEndToEnd(t *testing.T) {
	u := newUpstreams(t)
	dir := t.TempDir()
	port := freePort(t)
	cfg := u.config(port, filepath.Join(dir, "pollux.db")) + `
[providers.geminicli.aliases]
smart = "gemini-2.5-pro"

[providers.geminicli.fallbacks]
"gemini-2.5-pro" = ["gemini-2.5-flash"]
`
	cfgPath := writeConfig(t, dir, cfg)
	u.gemini.AddAccount("e2e-alias-g1", geminifake.Account{Email: "a1@example.com", Sub: "a1", Tier: "standard-tier", Project: "proj-a1"})
	in := start(t, []string{"--config", cfgPath}, nil)
	if code, _, body := in.do(http.MethodPost, "/geminicli/resource:add?wait=true", `["e2e-alias-g1"]`, nil); code != http.StatusOK || !strings.Contains(body, `"added"`) {
		t.Fatalf("add: %d %s", code, body)
	}

	chat := `{"model":"smart","messages":[{"role":"user","content":"hi"}]}`
	code, hdr, body := in.do(http.MethodPost, "/geminicli/v1beta/openai/chat/completions", chat, nil)
	if code != http.StatusOK || hdr.Get("X-Pollux-Model") != "gemini-2.5-pro" || !strings.Contains(body, `"model":"gemini-2.5-pro"`) {
		t.Fatalf("alias: %d X-Pollux-Model=%q %s; want gemini-2.5-pro", code, hdr.Get("X-Pollux-Model"), body)
	}

	u.gemini.ScriptGenerate(geminifake.Response{Status: 429, Body: `{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"3600s"}]}}`})
	code, hdr, body = in.do(http.MethodPost, "/geminicli/v1beta/openai/chat/completions", chat, nil)
	if code != http.StatusOK || hdr.Get("X-Pollux-Model") != "gemini-2.5-flash" || !strings.Contains(body, `"model":"gemini-2.5-flash"`) {
		t.Fatalf("fallback: %d X-Pollux-Model=%q %s; want gemini-2.5-flash", code, hdr.Get("X-Pollux-Model"), body)
	}
	code, _, body = in.do(http.MethodGet, "/geminicli/v1beta/openai/models", "", nil)
	if code != http.StatusOK || !strings.Contains(body, `"id":"smart"`) || !strings.Contains(body, `"alias_of":"gemini-2.5-pro","fallbacks":["gemini-2.5-flash"]`) {
		t.Errorf("models: %d %s", code, body)
	}
	if err := in.stop(); err != nil {
		t.Fatal(err)
	}

	before := len(u.gemini.RequestsTo("/v1internal:generateContent"))
	in2 := start(t, []string{"--config", cfgPath}, nil)
	code, hdr, body = in2.do(http.MethodPost, "/geminicli/v1beta/models/smart:generateContent", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`, nil)
	if code != http.StatusOK || hdr.Get("X-Pollux-Model") != "gemini-2.5-flash" || !strings.Contains(body, `"modelVersion":"gemini-2.5-flash"`) {
		t.Fatalf("after restart: %d X-Pollux-Model=%q %s; want gemini-2.5-flash", code, hdr.Get("X-Pollux-Model"), body)
	}
	if n := len(u.gemini.RequestsTo("/v1internal:generateContent")) - before; n != 1 {
		t.Errorf("upstream calls after restart = %d, want 1 (flash only)", n)
	}
}
