package chat

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pollux-gateway/pollux/transport/models"
	"github.com/pollux-gateway/pollux/transport/relay"
)

// TestAliasAndFallback: an alias is served by its model; while every
// credential for that model cools beyond the request's patience, the
// chain's next model serves with a request translated for it (a Gemini 3
// thinking level becomes a Gemini 2.5 thinking budget), and the completion
// and X-Pollux-Model name it.
func TestAliasAndFallback(t *testing.T) {
	reply := `{"response":{"candidates":[{"content":{"role":"model","parts":[{"text":"hi"}]},"finishReason":"STOP"}]}}`
	table := models.New([]string{"gemini-3-pro-preview", "gemini-2.5-flash"}, map[string]string{"smart": "gemini-3-pro-preview"},
		map[string][]string{"gemini-3-pro-preview": {"gemini-2.5-flash"}})
	e := newEnvWith(t, map[string]answer{"token-1": {status: 200, body: reply}}, nil, table, 1)
	req := `{"model":"smart","reasoning_effort":"low","messages":[{"role":"user","content":"hi"}]}`

	type sent struct {
		Model   string
		Request struct {
			GenerationConfig struct {
				ThinkingConfig struct {
					ThinkingLevel  string `json:"thinkingLevel"`
					ThinkingBudget *int64 `json:"thinkingBudget"`
				} `json:"thinkingConfig"`
			} `json:"generationConfig"`
		}
	}
	check := func(wantModel string) sent {
		t.Helper()
		status, hdr, body := e.post(t, "gemini", req)
		if status != http.StatusOK || hdr.Get(relay.HeaderServedModel) != wantModel || !strings.Contains(body, `"model":"`+wantModel+`"`) {
			t.Fatalf("status %d %s=%q %s; want %s", status, relay.HeaderServedModel, hdr.Get(relay.HeaderServedModel), body, wantModel)
		}
		bodies := e.geminiUp.Bodies()
		var s sent
		if err := json.Unmarshal([]byte(bodies[len(bodies)-1]), &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := check("gemini-3-pro-preview"); s.Model != "gemini-3-pro-preview" || s.Request.GenerationConfig.ThinkingConfig.ThinkingLevel != "low" {
		t.Errorf("alias: upstream got %+v, want gemini-3-pro-preview with thinking level low", s)
	}
	e.gemini.CoolModel("gemini-3-pro-preview", time.Now().Add(time.Hour))
	s := check("gemini-2.5-flash")
	if tc := s.Request.GenerationConfig.ThinkingConfig; s.Model != "gemini-2.5-flash" || tc.ThinkingLevel != "" || tc.ThinkingBudget == nil || *tc.ThinkingBudget != 1024 {
		t.Errorf("fallback: upstream got %+v, want gemini-2.5-flash with a 1024-token budget", s)
	}
	if n := len(e.geminiUp.Bodies()); n != 2 {
		t.Errorf("upstream calls = %d, want 2", n)
	}
}
