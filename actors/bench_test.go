package actors

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

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

// BenchmarkAcquireFlat measures what BenchmarkAcquire does, robustly
// enough to compare pool sizes on a busy machine: pools of 10, 1,000 and
// 10,000 credentials run side by side, and each iteration is one round in
// which every size does acquireRound round trips, in an order that rotates
// from round to round, so the sizes share the machine's ups and downs. It
// reports each size's median ns per round trip and the ratio 10,000 : 10 as
// the median of the rounds' ratios, with their minimum and maximum (the
// spread), and the ratio of each size's fastest round. Run it with several
// rounds:
//
//	go test ./actors/ -run '^$' -bench BenchmarkAcquireFlat -benchtime 21x
func BenchmarkAcquireFlat(b *testing.B) {
	for _, routing := range []string{config.RoutingLRU, config.RoutingQuota} {
		b.Run("routing="+routing, func(b *testing.B) { benchAcquireFlat(b, routing) })
	}
}

// acquireRound is how many round trips one size does per round.
const acquireRound = 2000

func benchAcquireFlat(b *testing.B, routing string) {
	sizes := []int{10, 1000, 10000}
	pools := make([]*Pool, len(sizes))
	ok := providers.Outcome{Kind: providers.KindOK}
	ctx := context.Background()
	for i, n := range sizes {
		e := newEnv(b)
		e.cfg.Routing = routing
		e.seed(n, nil)
		e.start()
		pools[i] = e.pool
		// Build the model's queue, and warm up, outside the measurement.
		for range acquireRound {
			l, err := e.pool.Acquire(ctx, testModel, AcquireOptions{})
			if err != nil {
				b.Fatal(err)
			}
			e.pool.Report(l, ok)
		}
	}
	perOp := make([][]float64, len(sizes))
	var ratios []float64
	b.ResetTimer()
	for round := 0; round < b.N; round++ {
		took := make([]float64, len(sizes))
		for k := range sizes {
			i := (k + round) % len(sizes)
			start := time.Now()
			for range acquireRound {
				l, err := pools[i].Acquire(ctx, testModel, AcquireOptions{})
				if err != nil {
					b.Fatal(err)
				}
				pools[i].Report(l, ok)
			}
			took[i] = float64(time.Since(start).Nanoseconds()) / acquireRound
			perOp[i] = append(perOp[i], took[i])
		}
		ratios = append(ratios, took[len(sizes)-1]/took[0])
	}
	b.StopTimer()
	for i, n := range sizes {
		b.ReportMetric(median(perOp[i]), fmt.Sprintf("ns/op-%d", n))
	}
	b.ReportMetric(median(ratios), "ratio-10000:10")
	b.ReportMetric(slices.Min(ratios), "ratio-min")
	b.ReportMetric(slices.Max(ratios), "ratio-max")
	// Each size's fastest round is its least disturbed one.
	b.ReportMetric(slices.Min(perOp[len(sizes)-1])/slices.Min(perOp[0]), "fastest-ratio")
}

// median returns the median of xs (not modified).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkStart measures start-up with 10,000 credentials in the database:
// Start (the pool read page by page, 10,000 credential actors spawned, the
// scheduler told of each) until it returns, which is when the gateway
// reports ready.
func BenchmarkStart(b *testing.B) {
	const n = 10000
	e := newEnv(b)
	e.seed(n, nil)
	if err := e.db.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e.openDB()
		b.StartTimer()
		e.start()
		b.StopTimer()
		e.stop()
		b.StartTimer()
	}
}
