package actors

import (
	"container/heap"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// alarms is one clock timer for the long waits of a pool's credentials:
// each credential's next refresh (most of an hour away), next quota read
// (minutes away) and turn at the token endpoint wait in one heap under one
// timer, instead of a runtime timer and its closures per credential and
// purpose (~340 bytes per credential, 3.4 MB for 10,000 idle ones).
//
// An alarm is a message sent to an actor when due. Alarms are never
// cancelled: every alarm message carries a generation, and the actor drops
// one it has moved past (it re-armed, stopped the wait, or is a new
// incarnation: see incarnation), as it drops a stale timer's. A superseded
// alarm stays queued until it is due (at most one refresh or poll interval).
type alarms struct {
	clock Clock
	send  func(pid *actor.PID, msg any)
	// incarnations numbers the credential actors' starts (incarnation).
	incarnations atomic.Uint64

	mu sync.Mutex
	// guards the following fields
	queue  alarmQueue
	armed  time.Time   // when the clock timer fires; zero: none armed
	stop   func() bool // stops the armed clock timer
	gen    uint64      // the armed clock timer's generation
	closed bool
}

// alarm is one queued message: 32 bytes.
type alarm struct {
	at  int64 // unix nanoseconds on the pool's clock
	pid *actor.PID
	msg any
}

type alarmQueue []alarm

func (q alarmQueue) Len() int           { return len(q) }
func (q alarmQueue) Less(i, j int) bool { return q[i].at < q[j].at }
func (q alarmQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *alarmQueue) Push(x any)        { *q = append(*q, x.(alarm)) }
func (q *alarmQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	old[len(old)-1] = alarm{}
	*q = old[:len(old)-1]
	return x
}

// newAlarms returns alarms on clock that deliver with send (the actor
// system's root Send).
func newAlarms(clock Clock, send func(pid *actor.PID, msg any)) *alarms {
	return &alarms{clock: clock, send: send}
}

// incarnation returns a number no earlier start of any actor of the pool
// was given, shifted into the high half of a generation: an actor that
// seeds its alarm generations with it never takes an alarm armed by its
// previous incarnation (a restart starts from scratch) for its own.
func (a *alarms) incarnation() uint64 { return a.incarnations.Add(1) << 32 }

// after sends msg to pid once d has passed on the clock.
func (a *alarms) after(d time.Duration, pid *actor.PID, msg any) {
	now := a.clock.Now()
	at := now.Add(d)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	heap.Push(&a.queue, alarm{at: at.UnixNano(), pid: pid, msg: msg})
	if a.armed.IsZero() || at.Before(a.armed) {
		a.armLocked(at)
	}
}

// armLocked (re)arms the clock timer for at. The new timer is armed before
// the old one stops, from the clock's time read now: a fake clock moving
// ahead meanwhile never sees no timer, nor one armed from a stale time.
func (a *alarms) armLocked(at time.Time) {
	stop := a.stop
	a.gen++
	gen := a.gen
	a.armed = at
	a.stop = a.clock.AfterFunc(at.Sub(a.clock.Now()), func() { a.fire(gen) })
	if stop != nil {
		stop()
	}
}

// fire sends every alarm that is due and arms the timer for the next one.
func (a *alarms) fire(gen uint64) {
	now := a.clock.Now()
	var due []alarm
	a.mu.Lock()
	for len(a.queue) > 0 && a.queue[0].at <= now.UnixNano() {
		due = append(due, heap.Pop(&a.queue).(alarm))
	}
	if gen == a.gen {
		a.armed, a.stop = time.Time{}, nil
	}
	if len(a.queue) > 0 && !a.closed {
		if next := time.Unix(0, a.queue[0].at); a.armed.IsZero() || next.Before(a.armed) {
			a.armLocked(next)
		}
	}
	if len(a.queue) == 0 && cap(a.queue) > 1024 {
		a.queue = nil // a burst's backing array goes with it
	}
	a.mu.Unlock()
	for _, al := range due {
		a.send(al.pid, al.msg)
	}
}

// close stops the timer and drops every alarm (the pool is stopping).
func (a *alarms) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	if a.stop != nil {
		a.stop()
	}
	a.queue, a.armed, a.stop = nil, time.Time{}, nil
}

// len returns how many alarms are queued.
func (a *alarms) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.queue)
}
