package transport

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// anthropicHeaders are what the Anthropic SDKs send: the key as x-api-key
// and the version header.
func anthropicHeaders() map[string]string {
	return map[string]string{"x-api-key": harnessKey, "anthropic-version": "2023-06-01"}
}

// messagesPools are the Messages mounts and a model each pool serves.
var messagesPools = []struct {
	name, path, model string
	add               func(h *harness)
}{
	{"geminicli", "/geminicli/v1/messages", "gemini-2.5-pro", func(h *harness) { h.addGemini("g-a") }},
	{"codex", "/codex/v1/messages", faultCodexModel, func(h *harness) { h.addCodex("c-a") }},
}

func TestMessagesUnaryOverBothPools(t *testing.T) {
	for _, p := range messagesPools {
		t.Run(p.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			p.add(h)
			resp := h.do(http.MethodPost, p.path,
				`{"model":"`+p.model+`","max_tokens":64,"system":"be brief","messages":[{"role":"user","content":"hi"}]}`, anthropicHeaders())
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var msg struct {
				Type, Role, Model string
				StopReason        string `json:"stop_reason"`
				Content           []struct{ Type, Text string }
				Usage             struct {
					Input  int64 `json:"input_tokens"`
					Output int64 `json:"output_tokens"`
				}
			}
			if err := json.Unmarshal([]byte(body), &msg); err != nil {
				t.Fatal(err)
			}
			if msg.Type != "message" || msg.Role != "assistant" || msg.Model != p.model || msg.StopReason != "end_turn" {
				t.Errorf("message = %+v", msg)
			}
			if len(msg.Content) != 1 || msg.Content[0].Type != "text" || msg.Content[0].Text == "" {
				t.Errorf("content = %+v, want one text block", msg.Content)
			}
		})
	}
}

func TestMessagesStreamOverBothPools(t *testing.T) {
	for _, p := range messagesPools {
		t.Run(p.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			p.add(h)
			resp := h.do(http.MethodPost, p.path,
				`{"model":"`+p.model+`","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, anthropicHeaders())
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			for _, want := range []string{"event: message_start", "event: content_block_start", "event: content_block_delta", "event: content_block_stop", "event: message_delta", "event: message_stop"} {
				if !strings.Contains(body, want) {
					t.Errorf("stream lacks %q:\n%s", want, body)
				}
			}
			if strings.Contains(body, "event: error") {
				t.Errorf("stream has an error event:\n%s", body)
			}
		})
	}
}
