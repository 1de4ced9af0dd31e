package actors

import "time"

// Clock is the only source of time for actors, so tests can drive cooldowns,
// refreshes and waiter deadlines deterministically. AfterFunc runs f on a
// goroutine of the clock's choosing after d and returns a function that stops
// the timer (reporting whether it stopped it before it fired). f must only
// send messages; it must never touch actor state.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// RealClock returns the wall clock.
func RealClock() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}
