package actorstest

import (
	"sync"
	"testing"
	"time"
)

// Expector is the test side of protoactor's observer style: the actors under
// test report every message they have handled (Observe, called by a
// receiver middleware once the actor's Receive returned), and a test waits
// for the message after which the state it checks must hold, instead of
// polling that state with sleeps.
//
// Messages are kept per actor (by PID id), in the order that actor handled
// them; an actor's order is causal, the order between actors is not, so
// each wait names the actor it waits on.
type Expector struct {
	timeout time.Duration

	mu sync.Mutex
	// guards the following fields
	seen    map[string][]any
	cursor  map[string]int
	changed chan struct{}
}

// NewExpector returns an Expector whose waits fail the test after timeout
// (of real time: a bound on a wait for a message, not a timing assertion).
func NewExpector(timeout time.Duration) *Expector {
	return &Expector{timeout: timeout, seen: map[string][]any{}, cursor: map[string]int{}, changed: make(chan struct{})}
}

// Observe records that actor who has handled msg. It never blocks and is
// safe for concurrent use.
func (x *Expector) Observe(who string, msg any) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.seen[who] = append(x.seen[who], msg)
	close(x.changed)
	x.changed = make(chan struct{})
}

// Is reports whether msg has type T: a match for Next and Until.
func Is[T any](msg any) bool {
	_, ok := msg.(T)
	return ok
}

// Next waits until actor who has handled a message match accepts, after
// those Next and Until already passed for who, and returns it. The test
// fails when the timeout passes first.
func (x *Expector) Next(t testing.TB, who, what string, match func(msg any) bool) any {
	t.Helper()
	deadline := time.NewTimer(x.timeout)
	defer deadline.Stop()
	for {
		msg, ok, changed := x.take(who, match)
		if ok {
			return msg
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("timed out after %s waiting for %s (a message to %s)", x.timeout, what, who)
			return nil
		}
	}
}

// Until returns once cond holds. cond is checked at once, then again each
// time actor who has handled a message match accepts; match must not accept
// the messages cond itself sends (a snapshot request, say). The test fails
// when the timeout passes first.
func (x *Expector) Until(t testing.TB, who, what string, match func(msg any) bool, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(x.timeout)
	defer deadline.Stop()
	for !cond() {
		for {
			_, ok, changed := x.take(who, match)
			if ok {
				break
			}
			select {
			case <-changed:
			case <-deadline.C:
				t.Fatalf("timed out after %s waiting for %s (checked after each matching message to %s)", x.timeout, what, who)
				return
			}
		}
	}
}

// take returns the first message of who past its cursor that match accepts
// and moves the cursor past it; otherwise it moves the cursor to the end
// and returns the channel closed by the next Observe.
func (x *Expector) take(who string, match func(any) bool) (any, bool, <-chan struct{}) {
	x.mu.Lock()
	defer x.mu.Unlock()
	msgs := x.seen[who]
	for i := x.cursor[who]; i < len(msgs); i++ {
		if match(msgs[i]) {
			x.cursor[who] = i + 1
			return msgs[i], true, nil
		}
	}
	x.cursor[who] = len(msgs)
	return nil, false, x.changed
}
