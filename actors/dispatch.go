package actors

import (
	"sync"
)

// workers is the dispatcher of the pools' hot actors (scheduler and
// credentials): it runs a mailbox on a goroutine that outlives the run.
//
// protoactor's default dispatcher starts a goroutine per mailbox run. An
// Acquire and its Outcome took three runs (the scheduler twice, the
// credential once), and each new goroutine started on a small stack that
// the scheduler's and the credential's handlers outgrew: the runtime copied
// the stack to a bigger one, freed it when the run ended, and allocated a
// fresh one for the next goroutine, a fifth of an Acquire's CPU. With
// 10,000 credential actors the goroutines a run takes from the runtime's
// free lists and their stacks were also cold. A worker keeps its grown
// stack and stays warm.
//
// A run goes to an idle worker when there is one, and to a new goroutine
// (the default dispatcher's way) when every worker is busy, so a handler
// that blocks, or a burst of runs, never waits for a worker: nothing queues
// behind a busy worker, and the actor contract (one run of a mailbox at a
// time, in order; the mailbox decides that, not the dispatcher) is as it
// was.
type workers struct {
	throughput int
	wg         sync.WaitGroup

	mu sync.Mutex
	// guards the following fields
	idle    []*worker // last in, first out: the warmest first
	stopped bool
}

// worker is one long-lived goroutine; run hands it a mailbox's run.
type worker struct{ run chan func() }

// mailboxWorkers is how many workers a system keeps: a few per core, enough
// for the runs of a busy pool in flight at once (more take new goroutines).
const mailboxWorkers = 8

// mailboxThroughput is protoactor's default: a run yields the processor
// after that many messages.
const mailboxThroughput = 300

func newWorkers(n int) *workers {
	w := &workers{throughput: mailboxThroughput, idle: make([]*worker, 0, n)}
	w.wg.Add(n)
	for range n {
		wk := &worker{run: make(chan func(), 1)}
		w.idle = append(w.idle, wk)
		go w.loop(wk)
	}
	return w
}

func (w *workers) loop(wk *worker) {
	defer w.wg.Done()
	for fn := range wk.run {
		fn()
		w.mu.Lock()
		if w.stopped {
			w.mu.Unlock()
			return
		}
		w.idle = append(w.idle, wk)
		w.mu.Unlock()
	}
}

// Schedule runs fn (a mailbox's run) on an idle worker, or on a new
// goroutine when none is idle (or the workers have stopped).
func (w *workers) Schedule(fn func()) {
	w.mu.Lock()
	if n := len(w.idle); n > 0 {
		wk := w.idle[n-1]
		w.idle = w.idle[:n-1]
		w.mu.Unlock()
		wk.run <- fn // buffered, and empty while the worker is idle
		return
	}
	w.mu.Unlock()
	go fn()
}

// Throughput is how many messages a run handles before it yields.
func (w *workers) Throughput() int { return w.throughput }

// stop ends the workers once they finish their runs; later runs take new
// goroutines.
func (w *workers) stop() {
	w.mu.Lock()
	idle := w.idle
	w.idle, w.stopped = nil, true
	w.mu.Unlock()
	for _, wk := range idle {
		close(wk.run)
	}
	w.wg.Wait()
}
