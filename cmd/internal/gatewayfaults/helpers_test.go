package gatewayfaults

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
)

// codexHangTimeout turns a hang into a failure.
const codexHangTimeout = 10 * time.Second

const (
	codexTestModel = "gpt-5.2-codex"
	codexPath      = "/codex/v1/responses"
)

// codexTestBody is a Responses request in the Codex CLI's shape; stream is
// "" to leave the member out.
func codexTestBody(stream string) string {
	b := `{"model":"` + codexTestModel + `","instructions":"be brief","input":[{"type":"message","id":"msg_1","role":"user","content":[{"type":"input_text","text":"hi"}]}]`
	if stream != "" {
		b += `,"stream":` + stream
	}
	return b + "}"
}

// codexStreamRequest posts body and returns the live response. The deadline
// only turns a hang (a relay that buffers) into a failure; the cleanup
// cancels the request first, so a test that fails mid-stream does not wait
// on a blocked read.
func codexStreamRequest(t *testing.T, h *harness, body string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), codexHangTimeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.ts.URL+codexPath, strings.NewReader(body))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+harnessKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = resp.Body.Close()
	})
	return resp
}

// ingestJob is the resource:add answer, as far as the fault tables read it.
type ingestJob struct {
	Verdicts []struct {
		Result       string `json:"result"`
		CredentialID int64  `json:"credential_id,omitempty"`
		URL          string `json:"url,omitempty"`
		Reason       string `json:"reason,omitempty"`
	} `json:"verdicts"`
}

// codexScripted is a complete answer with the given text deltas, in the
// backend's order.
func codexScripted(respID string, deltas ...string) []codexfake.Event {
	resp := func(status, extra string) string {
		return `{"id":"` + respID + `","object":"response","status":"` + status + `","model":"` + codexTestModel + `","output":[]` + extra + `}`
	}
	text := strings.Join(deltas, "")
	part := `{"type":"output_text","text":` + strconv.Quote(text) + `,"annotations":[]}`
	type ev struct{ name, rest string }
	evs := []ev{
		{"response.created", `"response":` + resp("in_progress", "")},
		{"response.in_progress", `"response":` + resp("in_progress", "")},
		{"response.output_item.added", `"output_index":0,"item":{"id":"msg_s","type":"message","status":"in_progress","role":"assistant","content":[]}`},
		{"response.content_part.added", `"item_id":"msg_s","output_index":0,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]}`},
	}
	for _, d := range deltas {
		evs = append(evs, ev{"response.output_text.delta", `"item_id":"msg_s","output_index":0,"content_index":0,"delta":` + strconv.Quote(d)})
	}
	evs = append(evs,
		ev{"response.output_text.done", `"item_id":"msg_s","output_index":0,"content_index":0,"text":` + strconv.Quote(text)},
		ev{"response.content_part.done", `"item_id":"msg_s","output_index":0,"content_index":0,"part":` + part},
		ev{"response.output_item.done", `"output_index":0,"item":{"id":"msg_s","type":"message","status":"completed","role":"assistant","content":[` + part + `]}`},
		ev{"response.completed", `"response":` + resp("completed", `,"usage":{"input_tokens":3,"output_tokens":2,"total_tokens":5}`)},
	)
	out := make([]codexfake.Event, len(evs))
	for i, e := range evs {
		out[i] = codexfake.Event{Name: e.name, Data: fmt.Sprintf(`{"type":%q,"sequence_number":%d,%s}`, e.name, i, e.rest)}
	}
	return out
}
