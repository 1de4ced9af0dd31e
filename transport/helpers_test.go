package transport

import (
	"net/http"
	"testing"
	"time"

	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
)

// Helpers the root's whole-gateway tests share with the fault tables in
// cmd/internal/gatewayfaults (each package keeps its own copy).

// faultCodexModel is a Codex model of the default config.
const faultCodexModel = "gpt-5.2-codex"

// faultCodexSend posts one streaming request and returns it with its body.
func faultCodexSend(t *testing.T, h *harness, model string) (*http.Response, string) {
	t.Helper()
	resp := h.do(http.MethodPost, "/codex/v1/responses", `{"model":"`+model+`","input":"hi","stream":true}`, nil)
	return resp, readAll(t, resp)
}

// faultCodexCalls lists the chatgpt-account-id of every call the fake's
// responses endpoint received, in order.
func faultCodexCalls(h *harness) []string {
	var out []string
	for _, r := range h.cfake.RequestsTo(codexfake.Responses) {
		out = append(out, r.Header.Get("chatgpt-account-id"))
	}
	return out
}

// eventually polls cond for up to 5 s: actors are asynchronous, so this
// waits for a message to be processed; it is not a timing assertion.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
