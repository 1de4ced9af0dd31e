package actors

import (
	"context"
	"runtime"
	"sync"
	"testing"

	"github.com/pollux-gateway/pollux/providers"
)

// TestAcquireHeapPlateaus: the live heap after a quarter of a million
// Acquire/Report round trips at concurrency 32 stops growing once the
// peak concurrency has been reached. Each Acquire registers a future in
// protoactor's process registry; its concurrent map keeps the size of the
// peak (Go maps do not shrink) but does not grow with the number of calls.
func TestAcquireHeapPlateaus(t *testing.T) {
	if testing.Short() {
		t.Skip("256,000 round trips")
	}
	e := newEnv(t)
	e.tap = nil // it keeps every message handled; this test weighs the heap
	e.seed(8, nil)
	e.start()
	ok := providers.Outcome{Kind: providers.KindOK}
	round := func() uint64 {
		var wg sync.WaitGroup
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 1000 {
					l, err := e.pool.Acquire(context.Background(), testModel, AcquireOptions{})
					if err != nil {
						continue
					}
					e.pool.Report(l, ok)
				}
			}()
		}
		wg.Wait()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	for range 3 {
		round()
	}
	warm := round() // 128,000 round trips: the registry has met the peak
	var last uint64
	for range 4 {
		last = round()
	}
	t.Logf("live heap after 128,000 round trips %.2f MiB, after 256,000 %.2f MiB", float64(warm)/(1<<20), float64(last)/(1<<20))
	if last > warm+2<<20 {
		t.Errorf("live heap grew from %.2f to %.2f MiB over 128,000 more round trips", float64(warm)/(1<<20), float64(last)/(1<<20))
	}
}
