package relay

import (
	"context"
	"io"
	"net/http"
	"runtime/metrics"
	"testing"

	"github.com/pollux-gateway/pollux/providers/sse"
	"github.com/pollux-gateway/pollux/transport/relay/relaytest"
)

// eventBody is an upstream body that yields one event per Read, as a
// stream whose events arrive apart does: every event is its own burst.
type eventBody struct {
	event []byte
	left  int
}

func (b *eventBody) Read(p []byte) (int, error) {
	if b.left == 0 {
		return 0, io.EOF
	}
	b.left--
	return copy(p, b.event), nil
}

func (b *eventBody) Close() error { return nil }

// discardWriter is a flushable ResponseWriter that keeps nothing.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Flush()                      {}

// passCodec relays each event's data as it came.
type passCodec struct{}

func (passCodec) Event(ev sse.Event, dst []byte) ([]byte, bool, error) {
	return sse.AppendEvent(dst, "", ev.Data), false, nil
}

func (passCodec) End(error) Ending { return Ending{} }

// BenchmarkStreamPump relays streams of 64 events, each its own burst,
// through Stream, one stream at a time and 16 at once: ns and allocations
// per event, goroutines created per stream, and goroutine wake-ups per
// event (the runtime samples one in eight scheduling latencies; the count
// is scaled back).
func BenchmarkStreamPump(b *testing.B) {
	b.Run("serial", func(b *testing.B) { benchStreamPump(b, 1) })
	b.Run("parallel", func(b *testing.B) { benchStreamPump(b, 16) })
}

func benchStreamPump(b *testing.B, parallelism int) {
	const events = 64
	ev := []byte(`data: {"response":{"candidates":[{"content":{"parts":[{"text":"hello, world"}]}}]}}` + "\n\n")
	pool := relaytest.NewPool(1)
	ending := make(chan struct{})
	r := New(Options{Pool: pool, Ending: ending})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	samples := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}, {Name: "/sched/latencies:seconds"}}
	read := func() (created, wakeups uint64) {
		metrics.Read(samples)
		for _, c := range samples[1].Value.Float64Histogram().Counts {
			wakeups += c
		}
		return samples[0].Value.Uint64(), wakeups * 8
	}
	stream := func(w http.ResponseWriter) {
		reply := streamReply(r, pool, &eventBody{event: ev, left: events})
		if err := r.Stream(ctx, w, reply, passCodec{}); err != nil {
			b.Error(err)
		}
		reply.Finish()
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(ev) * events))
	c0, w0 := read()
	b.ResetTimer()
	if parallelism == 1 {
		w := &discardWriter{h: http.Header{}}
		for b.Loop() {
			stream(w)
		}
	} else {
		b.SetParallelism(parallelism)
		b.RunParallel(func(pb *testing.PB) {
			w := &discardWriter{h: http.Header{}}
			for pb.Next() {
				stream(w)
			}
		})
	}
	b.StopTimer()
	c1, w1 := read()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
	b.ReportMetric(float64(c1-c0)/float64(b.N), "goroutines/stream")
	b.ReportMetric(float64(w1-w0)/float64(b.N*events), "wakeups/event")
}
