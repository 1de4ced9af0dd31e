package actors

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/pollux-gateway/pollux/providers"
)

// RefreshResult classifies a finished token refresh for an Observer.
type RefreshResult uint8

// The refresh results.
const (
	// RefreshOK: new tokens arrived.
	RefreshOK RefreshResult = iota
	// RefreshTransient: the refresh failed in a way a retry may fix.
	RefreshTransient
	// RefreshPermanent: the upstream refused for good (re-auth, ban,
	// ineligible).
	RefreshPermanent
)

// String returns the result's metric label: ok, transient or permanent.
func (r RefreshResult) String() string {
	switch r {
	case RefreshOK:
		return "ok"
	case RefreshTransient:
		return "transient"
	case RefreshPermanent:
		return "permanent"
	}
	return "unknown"
}

// refreshResultOf classifies a refresh's error.
func refreshResultOf(err error) RefreshResult {
	var verdict *providers.VerdictError
	switch {
	case err == nil:
		return RefreshOK
	case errors.As(err, &verdict):
		return RefreshPermanent
	}
	return RefreshTransient
}

// Observer is told about pool events that metrics count. Its methods run on
// actor goroutines: they must be quick, must not block and must be safe for
// concurrent use.
type Observer interface {
	// RefreshDone is called once per finished token refresh call.
	RefreshDone(provider string, r RefreshResult)
	// QueueWait is called once per answered Acquire with the time it spent
	// in the scheduler's queue (zero when answered at once).
	QueueWait(provider string, waited time.Duration)
}

// observerSlot holds a pool's Observer. It may be set while the pool runs;
// an empty slot drops every event.
type observerSlot struct{ p atomic.Pointer[Observer] }

func (s *observerSlot) set(o Observer) {
	if o == nil {
		s.p.Store(nil)
		return
	}
	s.p.Store(&o)
}

func (s *observerSlot) refreshDone(provider string, r RefreshResult) {
	if o := s.p.Load(); o != nil {
		(*o).RefreshDone(provider, r)
	}
}

func (s *observerSlot) queueWait(provider string, waited time.Duration) {
	if o := s.p.Load(); o != nil {
		(*o).QueueWait(provider, waited)
	}
}
