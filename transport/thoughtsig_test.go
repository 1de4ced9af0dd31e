package transport

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	geminifake "github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
)

// upstreamContents returns the thoughtSignature of each model-role part of
// the last request the fake Code Assist received on path.
func upstreamModelSignatures(t *testing.T, h *harness, path string) []string {
	t.Helper()
	reqs := h.gfake.RequestsTo(path)
	var env struct {
		Request struct {
			Contents []struct {
				Role  string `json:"role"`
				Parts []struct {
					ThoughtSignature string `json:"thoughtSignature"`
				} `json:"parts"`
			} `json:"contents"`
		} `json:"request"`
	}
	if err := json.Unmarshal(reqs[len(reqs)-1].Body, &env); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range env.Request.Contents {
		if c.Role == "model" {
			for _, p := range c.Parts {
				out = append(out, p.ThoughtSignature)
			}
		}
	}
	return out
}

// TestThoughtSignatureRepairEndToEnd: a client that drops thoughtSignature
// (OpenAI-compatible tools, older SDKs) gets its follow-up repaired with
// the signatures Pollux saw in the unary and the streamed replies, the
// bypass value for parts it never saw, its own signatures untouched, and
// the repairs counted in /metrics (issue 11).
func TestThoughtSignatureRepairEndToEnd(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addGemini("sig-g1")
	unary := `{"response":{"candidates":[{"content":{"role":"model","parts":[` +
		`{"text":"thinking","thought":true,"thoughtSignature":"SIG-U-THOUGHT"},` +
		`{"functionCall":{"name":"lookup","args":{"q":"a"}},"thoughtSignature":"SIG-U-CALL"}]},"finishReason":"STOP"}]}}`
	h.gfake.ScriptGenerate(geminifake.Response{Status: 200, Body: unary})
	h.gfake.ScriptStream(geminifake.Stream{Events: []geminifake.Event{
		{Data: `{"response":{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"lookup","args":{"q":"b"}},"thoughtSignature":"SIG-S-CALL"}]}}]}}`},
		{Data: `{"response":{"candidates":[{"content":{"role":"model","parts":[{"text":""}]},"finishReason":"STOP"}]}}`},
	}})
	first := `{"contents":[{"role":"user","parts":[{"text":"go"}]}]}`
	if resp := h.do(http.MethodPost, "/geminicli/v1beta/models/gemini-2.5-pro:generateContent", first, nil); resp.StatusCode != 200 {
		t.Fatalf("unary: %d %s", resp.StatusCode, readAll(t, resp))
	}
	resp := h.do(http.MethodPost, "/geminicli/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", first, nil)
	if body := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(body, "SIG-S-CALL") {
		t.Fatalf("stream: %d %s", resp.StatusCode, body)
	}

	followUp := `{"contents":[{"role":"user","parts":[{"text":"go"}]},{"role":"model","parts":[` +
		`{"text":"thinking","thought":true},` +
		`{"functionCall":{"name":"lookup","args":{"q":"a"}}},` +
		`{"functionCall":{"name":"lookup","args":{"q":"b"}}},` +
		`{"functionCall":{"name":"other","args":{}}},` +
		`{"functionCall":{"name":"lookup","args":{"q":"a"}},"thoughtSignature":"MINE"}]},` +
		`{"role":"user","parts":[{"functionResponse":{"name":"lookup","response":{}}}]}]}`
	if resp := h.do(http.MethodPost, "/geminicli/v1beta/models/gemini-2.5-pro:generateContent", followUp, nil); resp.StatusCode != 200 {
		t.Fatalf("follow-up: %d %s", resp.StatusCode, readAll(t, resp))
	}
	got := strings.Join(upstreamModelSignatures(t, h, "/v1internal:generateContent"), ",")
	if want := "SIG-U-THOUGHT,SIG-U-CALL,SIG-S-CALL,skip_thought_signature_validator,MINE"; got != want {
		t.Fatalf("upstream model-part signatures = %s\nwant %s", got, want)
	}

	metrics := readAll(t, h.do(http.MethodGet, "/metrics", "", nil))
	for _, want := range []string{
		`pollux_thought_signature_repairs_total{provider="geminicli",result="hit"} 3`,
		`pollux_thought_signature_repairs_total{provider="geminicli",result="miss"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !bytes.Contains([]byte(metrics), []byte("pollux_thought_signature_cache_entries")) {
		t.Error("/metrics lacks the cache size")
	}
}
