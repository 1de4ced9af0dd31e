package actors

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
)

// BenchmarkAcquire measures one Acquire+Report round trip through the
// scheduler actor. The cost must not grow with the pool.
func BenchmarkAcquire(b *testing.B) {
	for _, routing := range []string{config.RoutingLRU, config.RoutingQuota} {
		for _, n := range []int{10, 1000, 10000} {
			b.Run(fmt.Sprintf("routing=%s/credentials=%d", routing, n), func(b *testing.B) {
				benchAcquire(b, routing, n)
			})
		}
	}
}

func benchAcquire(b *testing.B, routing string, n int) {
	e := newEnv(b)
	e.cfg.Routing = routing
	e.seed(n, nil)
	e.start()
	ctx := context.Background()
	ok := providers.Outcome{Kind: providers.KindOK}
	// The first Acquire of a model builds its queue (once per model,
	// O(pool)); keep that out of the measurement.
	warm, err := e.pool.Acquire(ctx, testModel, AcquireOptions{})
	if err != nil {
		b.Fatal(err)
	}
	e.pool.Report(warm, ok)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l, err := e.pool.Acquire(ctx, testModel, AcquireOptions{})
		if err != nil {
			b.Fatal(err)
		}
		e.pool.Report(l, ok)
	}
}

// BenchmarkAcquireParallel measures Acquire+Report throughput with many
// concurrent callers on a 1000-credential pool.
func BenchmarkAcquireParallel(b *testing.B) {
	e := newEnv(b)
	e.seed(1000, nil)
	e.start()
	ok := providers.Outcome{Kind: providers.KindOK}
	warm, err := e.pool.Acquire(context.Background(), testModel, AcquireOptions{})
	if err != nil {
		b.Fatal(err)
	}
	e.pool.Report(warm, ok)
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			l, err := e.pool.Acquire(ctx, testModel, AcquireOptions{})
			if err != nil {
				b.Error(err)
				return
			}
			e.pool.Report(l, ok)
		}
	})
}

// BenchmarkPoolHeap reports the live heap one credential costs in a pool of
// 10,000 (credential actor, scheduler entry, queue membership).
func BenchmarkPoolHeap(b *testing.B) {
	const n = 10000
	for i := 0; i < b.N; i++ {
		e := newEnv(b)
		e.seed(n, nil)
		before := liveHeap()
		e.start()
		// One grant per credential builds the model queue too.
		ctx := context.Background()
		l, err := e.pool.Acquire(ctx, testModel, AcquireOptions{})
		if err != nil {
			b.Fatal(err)
		}
		e.pool.Report(l, providers.Outcome{Kind: providers.KindOK})
		after := liveHeap()
		b.ReportMetric(float64(after-before)/n, "heap-bytes/credential")
		b.ReportMetric(float64(after)/(1<<20), "heap-MiB-total")
		e.stop()
	}
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
