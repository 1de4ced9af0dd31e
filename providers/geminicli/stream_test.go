package geminicli

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
	"github.com/pollux-gateway/pollux/providers/sse"
)

func TestTranslateEvent(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		want    StreamEvent
		wantErr bool
	}{
		{
			name: "text chunk",
			data: `{"response":{"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"}]}}]},"traceId":"t1"}`,
			want: StreamEvent{Data: []byte(`{"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"}]}}]}`)},
		},
		{
			name: "final chunk with usage",
			data: `{"response":{"candidates":[{"content":{"parts":[{"text":""}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"totalTokenCount":27,"thoughtsTokenCount":12}}}`,
			want: StreamEvent{
				Data:     []byte(`{"candidates":[{"content":{"parts":[{"text":""}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"totalTokenCount":27,"thoughtsTokenCount":12}}`),
				Finished: true,
				Usage:    &Usage{Prompt: 10, Candidates: 5, Total: 27, Thoughts: 12},
			},
		},
		{
			name: "error object mid-stream",
			data: `{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"7s"}]}}`,
			want: StreamEvent{Failure: &providers.Outcome{
				Kind: providers.KindRateLimited, Scope: providers.ScopeModel, Status: 429,
				RetryAt: testNow.Add(7 * time.Second), Reason: "RESOURCE_EXHAUSTED",
			}},
		},
		{
			name: "error object without a code",
			data: `{"error":{"message":"backend died","status":"UNAVAILABLE"}}`,
			want: StreamEvent{Failure: &providers.Outcome{
				Kind: providers.KindTransient, Scope: providers.ScopeModel, Status: 503, Reason: "UNAVAILABLE",
			}},
		},
		{name: "empty data", data: "", want: StreamEvent{}},
		{name: "metadata only", data: `{"traceId":"t"}`, want: StreamEvent{}},
		{name: "not JSON", data: `{"response":`, wantErr: true},
	}
	env := newEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := env.c.TranslateEvent(sse.Event{Data: []byte(tt.data)})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("event (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTranslateEventCopiesData reuses the event buffer, as sse.Reader does,
// and checks the translated Data is unaffected.
func TestTranslateEventCopiesData(t *testing.T) {
	buf := []byte(`{"response":{"a":1}}`)
	got, err := TranslateEvent(sse.Event{Data: buf})
	if err != nil {
		t.Fatal(err)
	}
	copy(buf, `{"response":{"b":2}}`)
	if string(got.Data) != `{"a":1}` {
		t.Errorf("Data = %s after buffer reuse, want {\"a\":1}", got.Data)
	}
}

func TestUsageOf(t *testing.T) {
	if got := UsageOf([]byte(`{"candidates":[]}`)); got != nil {
		t.Errorf("UsageOf without usageMetadata = %+v, want nil", got)
	}
	if got := UsageOf([]byte(`not json`)); got != nil {
		t.Errorf("UsageOf(not json) = %+v, want nil", got)
	}
}

// TestStreamOverUpstream reads the fake's default stream through Send and
// translates it event by event.
func TestStreamOverUpstream(t *testing.T) {
	env := newEnv(t)
	g := env.grant(t, "1//rt-s", "p")
	resp, err := env.c.Send(context.Background(), g, &providers.Call{Model: "gemini-2.5-pro", Method: MethodStream, Stream: true, Body: []byte(`{"contents":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	rd := sse.NewReader(resp.Body)
	var texts []string
	var last StreamEvent
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out, err := env.c.TranslateEvent(ev)
		if err != nil {
			t.Fatal(err)
		}
		if out.Failure != nil || out.Data == nil {
			t.Fatalf("event %s: want data, got %+v", ev.Data, out)
		}
		var r struct {
			Candidates []struct {
				Content struct{ Parts []struct{ Text string } }
			}
		}
		if err := json.Unmarshal(out.Data, &r); err != nil {
			t.Fatal(err)
		}
		texts = append(texts, r.Candidates[0].Content.Parts[0].Text)
		last = out
	}
	if diff := cmp.Diff([]string{"Hel", "lo", ""}, texts); diff != "" {
		t.Errorf("texts (-want +got):\n%s", diff)
	}
	if !last.Finished || !cmp.Equal(last.Usage, &Usage{Prompt: 4, Candidates: 2, Total: 6}) {
		t.Errorf("last event finished %v usage %+v, want finished with usage 4/2/6", last.Finished, last.Usage)
	}
}

// TestStreamFlushPerEvent proves each upstream event can be read before the
// next is written (the fake flushes per event and the reader does not wait
// for more), then that a cut stream surfaces as an error, not a clean end.
func TestStreamFlushPerEvent(t *testing.T) {
	env := newEnv(t)
	g := env.grant(t, "1//rt-f", "p")
	gates := []chan struct{}{make(chan struct{}), make(chan struct{}), make(chan struct{})}
	events := make([]fakeupstream.Event, len(gates))
	for i, gate := range gates {
		events[i] = fakeupstream.Event{Data: `{"response":{"candidates":[{"content":{"parts":[{"text":"x"}]}}]}}`, Gate: gate}
	}
	env.fake.ScriptStream(fakeupstream.Stream{Events: events, CutAfter: 2})
	resp, err := env.c.Send(context.Background(), g, &providers.Call{Model: "gemini-2.5-pro", Method: MethodStream, Stream: true, Body: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	rd := sse.NewReader(resp.Body)
	for i := range 2 {
		close(gates[i]) // event i may now be written; event i+1 may not
		ev, err := rd.Next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if out, err := TranslateEvent(ev); err != nil || out.Data == nil {
			t.Fatalf("event %d: %+v, %v", i, out, err)
		}
	}
	close(gates[2])
	if ev, err := rd.Next(); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("after the cut: event %q, err %v; want a read error", ev.Data, err)
	}
}
