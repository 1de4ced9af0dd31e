package actorstest

import (
	"sort"
	"sync"
	"time"
)

// FakeClock is a manual clock. Timers fire, in deadline order, only inside
// Advance or Set, on the calling goroutine. It satisfies actors.Clock.
type FakeClock struct {
	mu sync.Mutex
	// guards the following fields
	now     time.Time
	timers  []*fakeTimer
	seq     uint64
	changed chan struct{}
}

type fakeTimer struct {
	at      time.Time
	seq     uint64
	f       func()
	stopped bool
}

// NewFakeClock returns a clock set to start.
func NewFakeClock(start time.Time) *FakeClock {
	return &FakeClock{now: start, changed: make(chan struct{})}
}

// Now returns the fake time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc registers f to run once the clock reaches Now()+d.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{at: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	c.notifyLocked()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, x := range c.timers {
			if x == t {
				c.timers = append(c.timers[:i], c.timers[i+1:]...)
				t.stopped = true
				c.notifyLocked()
				return true
			}
		}
		return false
	}
}

// Advance moves the clock forward by d, firing every timer that falls due,
// each with the clock set to its deadline.
func (c *FakeClock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// Set moves the clock to t (never backwards), firing due timers in order.
func (c *FakeClock) Set(t time.Time) {
	for {
		c.mu.Lock()
		sort.Slice(c.timers, func(i, j int) bool {
			if c.timers[i].at.Equal(c.timers[j].at) {
				return c.timers[i].seq < c.timers[j].seq
			}
			return c.timers[i].at.Before(c.timers[j].at)
		})
		if len(c.timers) == 0 || c.timers[0].at.After(t) {
			if t.After(c.now) {
				c.now = t
			}
			c.notifyLocked()
			c.mu.Unlock()
			return
		}
		next := c.timers[0]
		c.timers = c.timers[1:]
		if next.at.After(c.now) {
			c.now = next.at
		}
		c.notifyLocked()
		c.mu.Unlock()
		next.f()
	}
}

// Pending returns how many timers are armed.
func (c *FakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// NextDeadline returns the earliest armed timer's deadline.
func (c *FakeClock) NextDeadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var best time.Time
	for _, t := range c.timers {
		if best.IsZero() || t.at.Before(best) {
			best = t.at
		}
	}
	return best, !best.IsZero()
}

// WaitFor blocks until cond (evaluated under the clock's lock with the armed
// timer deadlines) holds or timeout passes, and reports whether it held. It
// lets a test wait for an actor to arm a timer before advancing.
func (c *FakeClock) WaitFor(timeout time.Duration, cond func(deadlines []time.Time) bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		ds := make([]time.Time, 0, len(c.timers))
		for _, t := range c.timers {
			ds = append(ds, t.at)
		}
		ok := cond(ds)
		ch := c.changed
		c.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}

func (c *FakeClock) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}
