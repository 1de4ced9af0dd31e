package gatewayfaults

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
)

// TestCapacityExhaustedEverywhereIs503WithRetryAfter: when every
// credential answers with the upstream's capacity limit
// (MODEL_CAPACITY_EXHAUSTED on Gemini, server_is_overloaded on Codex),
// every surface answers 503 with a Retry-After, not 502.
func TestCapacityExhaustedEverywhereIs503WithRetryAfter(t *testing.T) {
	t.Run("gemini", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		h.addGemini("g-a", "g-b")
		for range 12 {
			h.gfake.ScriptGenerate(faultGoogleError(429, "RESOURCE_EXHAUSTED", "No capacity available for model gemini-2.5-pro on the server",
				faultErrorInfo("MODEL_CAPACITY_EXHAUSTED", nil)))
		}
		resp := h.do(http.MethodPost, "/geminicli/v1beta/models/gemini-2.5-pro:generateContent", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`, nil)
		body := readAll(t, resp)
		checkCapacity503(t, resp, body, `"status":"UNAVAILABLE"`)
	})
	t.Run("codex", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		h.addCodex("c-a", "c-b")
		for range 12 {
			h.cfake.Push(codexfake.Responses, codexfake.Reply{Stream: &codexfake.Stream{Overloaded: true}})
		}
		resp := codexStreamRequest(t, h, codexTestBody("true"))
		body := readAll(t, resp)
		checkCapacity503(t, resp, body, `"code":"server_is_overloaded"`)
	})
	// The Anthropic Messages surface over each pool: the same 503, in
	// Anthropic's envelope.
	t.Run("messages over gemini", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		h.addGemini("g-a", "g-b")
		for range 12 {
			h.gfake.ScriptGenerate(faultGoogleError(429, "RESOURCE_EXHAUSTED", "No capacity available for model gemini-2.5-pro on the server",
				faultErrorInfo("MODEL_CAPACITY_EXHAUSTED", nil)))
		}
		resp := h.do(http.MethodPost, "/geminicli/v1/messages", `{"model":"gemini-2.5-pro","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`, nil)
		body := readAll(t, resp)
		checkCapacity503(t, resp, body, `"type":"overloaded_error"`)
	})
	t.Run("messages over codex", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		h.addCodex("c-a", "c-b")
		for range 12 {
			h.cfake.Push(codexfake.Responses, codexfake.Reply{Stream: &codexfake.Stream{Overloaded: true}})
		}
		resp := h.do(http.MethodPost, "/codex/v1/messages", `{"model":"gpt-5.2-codex","max_tokens":16,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, nil)
		body := readAll(t, resp)
		checkCapacity503(t, resp, body, `"type":"overloaded_error"`)
	})
}

func checkCapacity503(t *testing.T, resp *http.Response, body, envelope string) {
	t.Helper()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", resp.StatusCode, body)
	}
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || secs < 1 {
		t.Errorf("Retry-After %q, want whole seconds ≥ 1", resp.Header.Get("Retry-After"))
	}
	if !strings.Contains(body, envelope) {
		t.Errorf("body %s lacks %s", body, envelope)
	}
}
