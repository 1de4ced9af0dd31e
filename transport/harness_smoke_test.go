package transport

import (
	"net/http"
	"testing"
)

// TestHarnessOnboardsBothProviders checks the harness itself: both pools
// onboard through the fakes and the model lists answer.
func TestHarnessOnboardsBothProviders(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	g := h.addGemini("g-one")
	c := h.addCodex("c-one")
	if g[0].Account != "proj-g-one" || c[0].Account != "acct-c-one" {
		t.Fatalf("verdicts: %+v %+v", g, c)
	}
	if resp := h.do(http.MethodGet, "/codex/v1/models", "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("models: %d", resp.StatusCode)
	}
}
