package actors

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// TestWorkersNeverQueue checks that a run never waits for a worker: with
// every worker blocked in a run, the next run still goes ahead (on a
// goroutine of its own), and after stop runs still go ahead.
func TestWorkersNeverQueue(t *testing.T) {
	const n = 2
	w := newWorkers(n)
	release := make(chan struct{})
	started := make(chan struct{}, n)
	for range n {
		w.Schedule(func() { started <- struct{}{}; <-release })
	}
	for range n {
		<-started
	}
	ran := make(chan struct{})
	w.Schedule(func() { close(ran) })
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("a run waited behind busy workers")
	}
	close(release)
	w.stop()
	after := make(chan struct{})
	w.Schedule(func() { close(after) })
	select {
	case <-after:
	case <-time.After(10 * time.Second):
		t.Fatal("a run scheduled after stop did not run")
	}
}

// TestWorkersReuse checks that a worker that has run a mailbox goes back
// to the idle list for the next run (it outlives the run) and that the next
// run takes it.
func TestWorkersReuse(t *testing.T) {
	w := newWorkers(1)
	t.Cleanup(w.stop)
	idle := func() []*worker {
		w.mu.Lock()
		defer w.mu.Unlock()
		return slices.Clone(w.idle)
	}
	first := idle()
	for range 3 {
		done := make(chan struct{})
		w.Schedule(func() { close(done) })
		<-done
		deadline := time.Now().Add(10 * time.Second)
		for len(idle()) != 1 {
			if time.Now().After(deadline) {
				t.Fatal("the worker did not come back to the idle list")
			}
			time.Sleep(time.Millisecond)
		}
		if got := idle(); got[0] != first[0] {
			t.Fatal("another worker in the idle list, want the one that ran")
		}
	}
}

// TestReplyPoolReuse checks that an answered request's reply mailbox takes
// the next request (no registration per request), and that one whose caller
// gave up is not reused: its late reply goes to late, not to a later
// request.
func TestReplyPoolReuse(t *testing.T) {
	sys := actor.NewActorSystem()
	t.Cleanup(sys.Shutdown)
	probe := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return askProbe{} }))
	t.Cleanup(func() { _ = sys.Root.PoisonFuture(probe).Wait() })
	p := newReplyPool(sys)
	ctx := context.Background()
	if _, err := replyAs[*pong](p.ask(ctx, probe, &askRight{}, 10*time.Second, nil)); err != nil {
		t.Fatal(err)
	}
	r := <-p.free
	p.free <- r
	for range 3 {
		if _, err := replyAs[*pong](p.ask(ctx, probe, &askRight{}, 10*time.Second, nil)); err != nil {
			t.Fatal(err)
		}
		if len(p.free) != 1 {
			t.Fatalf("%d idle reply mailboxes after an answered request, want 1", len(p.free))
		}
		again := <-p.free
		p.free <- again
		if again != r {
			t.Fatal("an answered request's mailbox was not reused")
		}
	}
	if _, ok := sys.ProcessRegistry.Get(r.pid); !ok {
		t.Fatal("the reused mailbox is not registered")
	}

	// A caller that gives up: the reply comes later, to late.
	held := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &heldReply{} }))
	t.Cleanup(func() { _ = sys.Root.PoisonFuture(held).Wait() })
	late := make(chan any, 1)
	gaveUp, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.ask(gaveUp, held, &askRight{}, 10*time.Second, func(m any) { late <- m }); err == nil {
		t.Fatal("a cancelled request returned no error")
	}
	if got := len(p.free); got != 0 {
		t.Fatalf("%d idle reply mailboxes, want 0 (the abandoned one is not reused)", got)
	}
	got, err := replyAs[*pong](p.ask(ctx, probe, &askRight{}, 10*time.Second, nil))
	if err != nil || got == nil {
		t.Fatalf("next request: %v, %v", got, err)
	}
	if next := <-p.free; next == r {
		t.Fatal("the abandoned mailbox took the next request")
	}
	sys.Root.Send(held, &releaseHeld{})
	select {
	case m := <-late:
		if _, ok := m.(*pong); !ok {
			t.Fatalf("late got %T, want *pong", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the late reply did not reach late")
	}
}

// TestAskUnregisters checks that the one-shot ask leaves no reply mailbox
// registered once its reply has come.
func TestAskUnregisters(t *testing.T) {
	sys := actor.NewActorSystem()
	t.Cleanup(sys.Shutdown)
	probe := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return askProbe{} }))
	t.Cleanup(func() { _ = sys.Root.PoisonFuture(probe).Wait() })
	registered := func() int {
		n := 0
		for _, m := range sys.ProcessRegistry.LocalPIDs.LocalPIDs {
			n += m.Count()
		}
		return n
	}
	before := registered()
	for range 3 {
		if _, err := askAs[*pong](context.Background(), sys, probe, &askRight{}, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if got := registered(); got != before {
		t.Fatalf("%d processes registered after three answered asks, want %d", got, before)
	}
}

// heldReply answers a request only when told to.
type heldReply struct{ sender *actor.PID }

type releaseHeld struct{}

func (h *heldReply) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *askRight:
		h.sender = ctx.Sender()
	case *releaseHeld:
		ctx.Send(h.sender, &pong{})
	}
}
