package relay

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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

// countingWriter is a recorder that counts flushes and fails every write
// after failAfter successful ones (0: never). A test reads it with body
// while the stream runs: keep-alives are written from a timer's goroutine.
type countingWriter struct {
	*httptest.ResponseRecorder
	mu        sync.Mutex
	flushes   int
	writes    int
	failAfter int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failAfter > 0 && w.writes >= w.failAfter {
		return 0, errors.New("broken pipe")
	}
	w.writes++
	return w.ResponseRecorder.Write(p)
}

func (w *countingWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushes++
	w.ResponseRecorder.Flush()
}

// body returns what the client got so far and the flush count.
func (w *countingWriter) body() (string, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.Body.String(), w.flushes
}

// TestStreamFlushesABurstOnce: events that arrive together are written
// and flushed once; an event that arrives alone is flushed alone.
func TestStreamFlushesABurstOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := relaytest.NewPool(1)
		r := New(Options{Pool: pool, Ending: make(chan struct{})})
		pr, pw := io.Pipe()
		reply := streamReply(r, pool, pr)
		w := &countingWriter{ResponseRecorder: httptest.NewRecorder()}
		done := make(chan error)
		go func() { done <- r.Stream(context.Background(), w, reply, &echoCodec{}) }()
		_, _ = io.WriteString(pw, "data: a\n\ndata: b\n\ndata: c\n\n")
		synctest.Wait()
		if body, flushes := w.body(); flushes != 1 || body != "data: a\n\ndata: b\n\ndata: c\n\n" {
			t.Errorf("after one burst: %d flushes, body %q; want 1 flush of a, b, c", flushes, body)
		}
		_, _ = io.WriteString(pw, "data: last\n\n")
		if err := <-done; err != nil {
			t.Fatalf("Stream = %v", err)
		}
		reply.Finish()
		// The last burst is the stream's end (the codec said done): it is
		// written and left for the handler's return to send with the
		// response's end, not flushed on its own.
		if body, flushes := w.body(); flushes != 1 || !strings.HasSuffix(body, "data: last\n\n") {
			t.Errorf("flushes = %d, body %q; want 1 (the first burst) and the last event written", flushes, body)
		}
	})
}

// TestStreamKeepAliveAfterSilenceMidStream: a keep-alive is due one
// interval after the client last got bytes, not on a fixed beat.
func TestStreamKeepAliveAfterSilenceMidStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := relaytest.NewPool(1)
		r := New(Options{Pool: pool, KeepAlive: 15 * time.Second})
		pr, pw := io.Pipe()
		reply := streamReply(r, pool, pr)
		w := &countingWriter{ResponseRecorder: httptest.NewRecorder()}
		done := make(chan error)
		go func() { done <- r.Stream(context.Background(), w, reply, &echoCodec{}) }()
		time.Sleep(10 * time.Second)
		_, _ = io.WriteString(pw, "data: one\n\n")
		time.Sleep(14 * time.Second) // t=24: none yet, the event was at t=10
		synctest.Wait()
		if got, _ := w.body(); got != "data: one\n\n" {
			t.Errorf("at t=24 the client got %q, want only the event", got)
		}
		time.Sleep(2 * time.Second) // t=26: one at t=25
		synctest.Wait()
		if got, _ := w.body(); got != "data: one\n\n: keep-alive\n\n" {
			t.Errorf("at t=26 the client got %q, want the event and one keep-alive", got)
		}
		_, _ = io.WriteString(pw, "data: last\n\n")
		if err := <-done; err != nil {
			t.Fatalf("Stream = %v", err)
		}
		reply.Finish()
	})
}

// cancelCodec relays events and cancels the client's context at the event
// whose data is "cancel", as a client leaving mid-burst.
type cancelCodec struct {
	echoCodec
	cancel context.CancelFunc
}

func (c *cancelCodec) Event(ev sse.Event, dst []byte) ([]byte, bool, error) {
	if string(ev.Data) == "cancel" {
		c.cancel()
	}
	return c.echoCodec.Event(ev, dst)
}

// TestStreamClientGoneMidBurst: a client that leaves during a burst ends
// the stream before the rest of the burst, with no tail, and so does a
// client whose connection fails during a burst or during a keep-alive.
func TestStreamClientGoneMidBurst(t *testing.T) {
	cases := []struct {
		name      string
		failAfter int
		keepAlive bool
		burst     string
		wantBody  string
	}{
		{name: "context ends", burst: "data: a\n\ndata: cancel\n\ndata: b\n\ndata: c\n\n", wantBody: "data: a\n\ndata: cancel\n\n"},
		{name: "write fails", failAfter: 2, burst: "data: a\n\ndata: b\n\ndata: c\n\ndata: d\n\n", wantBody: "data: a\n\ndata: b\n\n"},
		{name: "keep-alive write fails", failAfter: 1, keepAlive: true, burst: "data: a\n\n", wantBody: "data: a\n\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pool := relaytest.NewPool(1)
				r := New(Options{Pool: pool, KeepAlive: 15 * time.Second, Ending: make(chan struct{})})
				pr, pw := io.Pipe()
				defer pw.Close()
				reply := streamReply(r, pool, pr)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				w := &countingWriter{ResponseRecorder: httptest.NewRecorder(), failAfter: tc.failAfter}
				codec := &cancelCodec{cancel: cancel}
				done := make(chan error)
				go func() { done <- r.Stream(ctx, w, reply, codec) }()
				_, _ = io.WriteString(pw, tc.burst)
				if tc.keepAlive {
					time.Sleep(20 * time.Second)
				}
				how := <-done
				reply.Finish()
				if !errors.Is(how, ErrClientGone) || !errors.Is(codec.ended, ErrClientGone) {
					t.Errorf("Stream = %v, codec told %v; want ErrClientGone", how, codec.ended)
				}
				if got := w.Body.String(); got != tc.wantBody {
					t.Errorf("client got %q, want %q (no tail)", got, tc.wantBody)
				}
				if rs := pool.Reports(); len(rs) != 1 {
					t.Errorf("reports = %+v, want one", rs)
				}
			})
		})
	}
}

// TestStreamEndingStopsEveryOpenStream: the server's Ending stops every
// stream open on the relay while their upstreams are silent, each with its
// tail; a stream that starts after it ends at once.
func TestStreamEndingStopsEveryOpenStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := relaytest.NewPool(1, 2)
		ending := make(chan struct{})
		r := New(Options{Pool: pool, Ending: ending})
		type stream struct {
			rec  *httptest.ResponseRecorder
			pw   *io.PipeWriter
			done chan error
		}
		var streams []stream
		for range 2 {
			pr, pw := io.Pipe()
			defer pw.Close()
			reply := streamReply(r, pool, pr)
			defer reply.Finish()
			s := stream{rec: httptest.NewRecorder(), pw: pw, done: make(chan error, 1)}
			go func() { s.done <- r.Stream(context.Background(), s.rec, reply, &echoCodec{}) }()
			_, _ = io.WriteString(pw, "data: one\n\n")
			streams = append(streams, s)
		}
		time.Sleep(50 * time.Second) // silent upstreams: keep-alives at 15, 30, 45 s
		close(ending)
		for i, s := range streams {
			if how := <-s.done; !errors.Is(how, ErrShuttingDown) {
				t.Errorf("stream %d: Stream = %v, want ErrShuttingDown", i, how)
			}
			if got := s.rec.Body.String(); got != "data: one\n\n: keep-alive\n\n: keep-alive\n\n: keep-alive\n\ndata: tail\n\n" {
				t.Errorf("stream %d: client got %q, want the event, keep-alives, the tail", i, got)
			}
		}
		pr, pw := io.Pipe()
		defer pw.Close()
		late := streamReply(r, pool, pr)
		rec := httptest.NewRecorder()
		if how := r.Stream(context.Background(), rec, late, &echoCodec{}); !errors.Is(how, ErrShuttingDown) {
			t.Errorf("a stream after the ending: Stream = %v, want ErrShuttingDown", how)
		}
		late.Finish()
		if got := rec.Body.String(); got != "data: tail\n\n" {
			t.Errorf("a stream after the ending got %q, want the tail", got)
		}
	})
}
