package transport

import (
	"net/http"
	"testing"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/actors/actorstest"
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

// untilPool returns once cond holds, checking it at once and then after
// each message provider's scheduler handles: every change of a credential
// (status, cooldowns, refresh, windows) and every closed lease reaches the
// scheduler, so this waits on the message that makes cond true instead of
// polling. A snapshot cond asks for is not such a message.
func untilPool(t testing.TB, tap *actorstest.Expector, provider, what string, cond func() bool) {
	t.Helper()
	tap.Until(t, actors.SchedulerID(provider), what, func(msg any) bool {
		_, snapshot := msg.(*actors.SnapshotRequest)
		return !snapshot
	}, cond)
}
