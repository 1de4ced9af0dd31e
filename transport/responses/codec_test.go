package responses

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/codex"
	"github.com/pollux-gateway/pollux/transport/relay"
)

// hangTimeout turns a hang into a failure.
const hangTimeout = 10 * time.Second

// wireEvent is one SSE block as it came over the wire: an event (name and
// data) or a comment.
type wireEvent struct {
	Name    string
	Data    string
	Comment string
}

// parseWire splits an SSE body strictly: every block is a comment line or
// an "event:" line followed by one "data:" line, and ends with a blank line.
func parseWire(t *testing.T, body string) []wireEvent {
	t.Helper()
	if body != "" && !strings.HasSuffix(body, "\n\n") {
		t.Fatalf("SSE body does not end with a blank line: %q", body)
	}
	var out []wireEvent
	for _, block := range strings.Split(strings.TrimSuffix(body, "\n\n"), "\n\n") {
		if block == "" {
			continue
		}
		lines := strings.Split(block, "\n")
		if len(lines) == 1 && strings.HasPrefix(lines[0], ":") {
			out = append(out, wireEvent{Comment: strings.TrimSpace(strings.TrimPrefix(lines[0], ":"))})
			continue
		}
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "event: ") || !strings.HasPrefix(lines[1], "data: ") {
			t.Fatalf("malformed SSE block %q", block)
		}
		out = append(out, wireEvent{Name: strings.TrimPrefix(lines[0], "event: "), Data: strings.TrimPrefix(lines[1], "data: ")})
	}
	return out
}

// interruptedEvent is the response.failed event that ends a stream the
// upstream left without a terminal event.
func interruptedEvent(respID string) []byte {
	e := interruptedError()
	return failedEvent(respID, e.Code, e.Message)
}

// peek holds back the head of resp as the streaming handler does.
func peek(resp *http.Response, wait time.Duration) (*http.Response, *providers.Outcome, *relay.Rejection) {
	lim := headLimits
	lim.Wait = wait
	out, err := relay.HoldHead(head{}, lim)(resp)
	var rej *relay.Rejection
	if errors.As(err, &rej) {
		return nil, &rej.Outcome, rej
	}
	return out, nil, nil
}

// TestCodexInterruptedEvent checks the synthesized response.failed event
// against a client's parse, for a known and an unknown response id.
func TestCodexInterruptedEvent(t *testing.T) {
	for _, id := range []string{"resp_1", ""} {
		t.Run("id="+id, func(t *testing.T) {
			evs := parseWire(t, string(interruptedEvent(id)))
			if len(evs) != 1 || evs[0].Name != codex.EventFailed {
				t.Fatalf("events = %+v, want one response.failed", evs)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(evs[0].Data), &got); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"type": "response.failed", "response": map[string]any{
				"id": id, "object": "response", "status": "failed",
				"error": map[string]any{"code": "stream_interrupted", "message": "upstream stream ended before response.completed"},
			}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("data (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCodexPeekReplaysBytes: whatever the peek read comes back in order
// before the rest of the body, and Close reaches the original body.
func TestCodexPeekReplaysBytes(t *testing.T) {
	big := strings.Repeat("x", headLimits.Bytes)
	cases := []struct {
		name       string
		stream     string
		wantReject bool
	}{
		{"output after head", "event: response.created\ndata: {}\n\nevent: response.in_progress\ndata: {}\n\nevent: response.output_item.added\ndata: {}\n\nevent: response.completed\ndata: {\"response\":{}}\n\n", false},
		{"head larger than the peek", "event: response.created\ndata: " + big + "\n\nevent: response.completed\ndata: {\"response\":{}}\n\n", false},
		{"overload at head", "event: response.created\ndata: {}\n\nevent: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"error\":{\"code\":\"server_is_overloaded\"}}}\n\n", true},
		{"ends before output", "event: response.created\ndata: {}\n\n", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := &codexCloseRecorder{Reader: strings.NewReader(tc.stream)}
			resp, reject, rej := peek(&http.Response{StatusCode: http.StatusOK, Body: body}, headLimits.Wait)
			if tc.wantReject {
				if reject == nil || rej == nil || !reject.Kind.Retryable() {
					t.Fatalf("reject = %+v, want a retryable outcome", reject)
				}
				return
			}
			if reject != nil {
				t.Fatalf("reject = %+v, want the response", reject)
			}
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.stream {
				t.Errorf("replayed body differs from the upstream's (%d vs %d bytes)", len(got), len(tc.stream))
			}
			if err := resp.Body.Close(); err != nil || !body.closed {
				t.Errorf("Close did not reach the original body (err %v)", err)
			}
		})
	}
}

type codexCloseRecorder struct {
	io.Reader
	closed bool
}

func (c *codexCloseRecorder) Close() error {
	if c.closed {
		return errors.New("closed twice")
	}
	c.closed = true
	return nil
}

// TestCodexPeekGivesUpWaiting: a stream whose head stays silent after
// response.created (a model thinking) is accepted after the peek's time
// bound, so the client starts receiving (and keep-alives can flow) instead
// of waiting on a held-back head; everything read so far and after arrives
// in order.
func TestCodexPeekGivesUpWaiting(t *testing.T) {
	pr, pw := io.Pipe()
	head := "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\"}}\n\n"
	tail := "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\"}\n\n"
	go func() {
		_, _ = io.WriteString(pw, head)
	}()
	done := make(chan struct{})
	var resp *http.Response
	var reject *providers.Outcome
	go func() {
		defer close(done)
		resp, reject, _ = peek(&http.Response{StatusCode: http.StatusOK, Body: pr}, 20*time.Millisecond)
	}()
	select {
	case <-done:
	case <-time.After(hangTimeout):
		t.Fatal("the peek waited for output beyond its bound")
	}
	if reject != nil || resp == nil {
		t.Fatalf("silent head was rejected: %+v", reject)
	}
	go func() {
		_, _ = io.WriteString(pw, tail)
		_ = pw.Close()
	}()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != head+tail {
		t.Fatalf("relayed %q, want %q", got, head+tail)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestWithPoolReset: a usage-limit body from the last account tried tells the
// Codex CLI the pool's earliest reset when another account resets sooner
// (issue 9), and is left alone otherwise.
func TestWithPoolReset(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	i64 := func(v int64) *int64 { return &v }
	tests := []struct {
		name           string
		in             codex.APIError
		retryAt        time.Time
		wantAt, wantIn *int64
	}{
		{"pool resets sooner", codex.APIError{ResetsAt: i64(now.Unix() + 3600), ResetsInSeconds: i64(3600)},
			now.Add(90 * time.Second), i64(now.Unix() + 90), i64(90)},
		{"same reset kept", codex.APIError{ResetsAt: i64(now.Unix() + 3600), ResetsInSeconds: i64(3600)},
			now.Add(3600 * time.Second), i64(now.Unix() + 3600), i64(3600)},
		{"no reset fields: none added", codex.APIError{}, now.Add(time.Minute), nil, nil},
		{"only resets_at", codex.APIError{ResetsAt: i64(now.Unix() + 600)}, now.Add(1500 * time.Millisecond), i64(now.Unix() + 2), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := withPoolReset(tt.in, providers.Outcome{Kind: providers.KindQuotaExhausted, RetryAt: tt.retryAt}, now)
			if diff := cmp.Diff(tt.wantAt, got.ResetsAt); diff != "" {
				t.Errorf("resets_at (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantIn, got.ResetsInSeconds); diff != "" {
				t.Errorf("resets_in_seconds (-want +got):\n%s", diff)
			}
		})
	}
}
