package relay

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/sse"
	"github.com/pollux-gateway/pollux/transport/relay/relaytest"
)

// echoCodec relays each event's data and ends with "tail" unless the
// stream ended cleanly.
type echoCodec struct{ ended error }

func (c *echoCodec) Event(ev sse.Event, dst []byte) ([]byte, bool, error) {
	return sse.AppendEvent(dst, "", ev.Data), string(ev.Data) == "last", nil
}

func (c *echoCodec) End(how error) Ending {
	c.ended = how
	if how == nil {
		return Ending{Outcome: providers.Outcome{Kind: providers.KindOK}}
	}
	return Ending{Outcome: providers.Outcome{Kind: providers.KindTransient, Reason: "cut"}, Tail: []byte("data: tail\n\n")}
}

// streamReply is a reply over body on a fake pool's lease, as Do returns it.
func streamReply(r *Relay, pool *relaytest.Pool, body io.ReadCloser) *Reply {
	lease, _ := pool.Acquire(context.Background(), "m", actors.AcquireOptions{})
	return &Reply{Resp: &http.Response{StatusCode: 200, Body: body}, Lease: lease, relay: r,
		cancel: func(error) {}, record: Discard, outcome: providers.Outcome{Kind: providers.KindAbandoned}}
}

// TestStreamKeepAlives: while the upstream is silent the client gets a
// comment every keep-alive interval; events reset the interval. Runs on
// synctest's clock.
func TestStreamKeepAlives(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := relaytest.NewPool(1)
		r := New(Options{Pool: pool, KeepAlive: 15 * time.Second})
		pr, pw := io.Pipe()
		reply := streamReply(r, pool, pr)
		rec := httptest.NewRecorder()
		done := make(chan error)
		codec := &echoCodec{}
		go func() { done <- r.Stream(context.Background(), rec, reply, codec) }()
		time.Sleep(46 * time.Second) // three keep-alives
		_, _ = io.WriteString(pw, "data: one\n\n")
		synctest.Wait()
		time.Sleep(14 * time.Second) // none: the event reset the interval
		_, _ = io.WriteString(pw, "data: last\n\n")
		if err := <-done; err != nil {
			t.Fatalf("Stream = %v", err)
		}
		reply.Finish()
		want := ": keep-alive\n\n: keep-alive\n\n: keep-alive\n\ndata: one\n\ndata: last\n\n"
		if got := rec.Body.String(); got != want {
			t.Errorf("client got %q, want %q", got, want)
		}
		if rec.Header().Get("Content-Type") != "text/event-stream" {
			t.Errorf("Content-Type = %q", rec.Header().Get("Content-Type"))
		}
		if rs := pool.Reports(); len(rs) != 1 || rs[0].Outcome.Kind != providers.KindOK {
			t.Errorf("reports = %+v, want one ok", rs)
		}
	})
}

// TestStreamEnds: a cut stream and the shutdown end with the codec's
// tail; a client that left gets none. Each reply reports the codec's verdict.
func TestStreamEnds(t *testing.T) {
	cases := []struct {
		name     string
		end      func(pw *io.PipeWriter, cancel context.CancelFunc, ending chan struct{})
		wantHow  error
		wantTail bool
		wantKind providers.Kind
	}{
		{"upstream cut", func(pw *io.PipeWriter, _ context.CancelFunc, _ chan struct{}) {
			pw.CloseWithError(errors.New("connection reset"))
		}, nil, true, providers.KindTransient},
		{"shutdown", func(_ *io.PipeWriter, _ context.CancelFunc, ending chan struct{}) { close(ending) },
			ErrShuttingDown, true, providers.KindTransient},
		{"client gone", func(_ *io.PipeWriter, cancel context.CancelFunc, _ chan struct{}) { cancel() },
			ErrClientGone, false, providers.KindTransient},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pool := relaytest.NewPool(1)
				ending := make(chan struct{})
				r := New(Options{Pool: pool, Ending: ending})
				pr, pw := io.Pipe()
				reply := streamReply(r, pool, pr)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				rec := httptest.NewRecorder()
				codec := &echoCodec{}
				done := make(chan error)
				go func() { done <- r.Stream(ctx, rec, reply, codec) }()
				_, _ = io.WriteString(pw, "data: one\n\n")
				synctest.Wait()
				tc.end(pw, cancel, ending)
				how := <-done
				reply.Finish()
				if tc.wantHow != nil && !errors.Is(how, tc.wantHow) {
					t.Errorf("Stream = %v, want %v", how, tc.wantHow)
				}
				if tc.wantHow == nil && (how == nil || errors.Is(how, ErrClientGone)) {
					t.Errorf("Stream = %v, want the cut", how)
				}
				if got := strings.HasSuffix(rec.Body.String(), "data: tail\n\n"); got != tc.wantTail {
					t.Errorf("tail written = %v, want %v (body %q)", got, tc.wantTail, rec.Body.String())
				}
				if rs := pool.Reports(); len(rs) != 1 || rs[0].Outcome.Kind != tc.wantKind {
					t.Errorf("reports = %+v, want one %s", rs, tc.wantKind)
				}
				_ = pw.Close()
			})
		})
	}
}

// skipCodec relays every event but those whose data is "skip".
type skipCodec struct{ echoCodec }

func (c *skipCodec) Event(ev sse.Event, dst []byte) ([]byte, bool, error) {
	if string(ev.Data) == "skip" {
		return dst, false, nil
	}
	return c.echoCodec.Event(ev, dst)
}

// TestStreamFlushesBeforeASkippedEvent: a burst whose last event the codec
// skips is still flushed at once, not held until the next event or
// keep-alive (a translating codec skips events that carry nothing for its
// client).
func TestStreamFlushesBeforeASkippedEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := relaytest.NewPool(1)
		r := New(Options{Pool: pool, KeepAlive: 15 * time.Second})
		pr, pw := io.Pipe()
		reply := streamReply(r, pool, pr)
		rec := httptest.NewRecorder()
		done := make(chan error)
		go func() { done <- r.Stream(context.Background(), rec, reply, &skipCodec{}) }()
		// One write: "one" is read with "skip" already buffered.
		_, _ = io.WriteString(pw, "data: one\n\ndata: skip\n\n")
		synctest.Wait()
		if !rec.Flushed || rec.Body.String() != "data: one\n\n" {
			t.Errorf("after the burst: flushed %v, body %q; want \"data: one\" flushed", rec.Flushed, rec.Body.String())
		}
		_, _ = io.WriteString(pw, "data: last\n\n")
		if err := <-done; err != nil {
			t.Fatalf("Stream = %v", err)
		}
		reply.Finish()
	})
}
