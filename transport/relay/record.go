package relay

import (
	"time"

	"github.com/pollux-gateway/pollux/providers"
)

// Usage is the token accounting an upstream reported for a reply.
type Usage struct {
	Input, Output, Cached, Reasoning int64
}

// Record is what one request tells the access log and the metrics. The
// assembly implements it over the request's log record and its provider's
// series; every method is called on the request's goroutine (or, for
// FirstEvent, while the request's handler waits on the stream), never
// concurrently.
type Record interface {
	// Model notes the model the request asked for.
	Model(model string)
	// NoUsage marks a method whose replies carry no token usage.
	NoUsage()
	// Attempted notes the n-th upstream attempt, on a credential; pick is
	// why the scheduler chose it ("" unless debug logging is on).
	Attempted(credentialID int64, n int, pick string)
	// Outcome notes the verdict of the latest attempt.
	Outcome(k providers.Kind)
	// Answered observes an upstream call's time to response headers.
	Answered(d time.Duration)
	// FirstByte notes when the answer's first byte came from upstream.
	FirstByte(at time.Time)
	// FirstEvent observes the upstream's time to its first streamed event.
	FirstEvent(d time.Duration)
	// Failover counts an attempt that failed with k and is retried.
	Failover(k providers.Kind)
	// Usage notes the token usage the upstream reported.
	Usage(u Usage)
	// Tokens counts a served reply's tokens under its model.
	Tokens(model string, input, output int64)
	// FellBack notes that every credential for model cooled beyond the
	// request's patience and the request moved on to fallback.
	FellBack(model, fallback string)
	// Served notes the model that serves the request: the one asked for,
	// an alias's model, or a fallback.
	Served(model string)
}

// Discard is a Record that keeps nothing.
var Discard Record = discard{}

type discard struct{}

func (discard) Model(string)                 {}
func (discard) NoUsage()                     {}
func (discard) Attempted(int64, int, string) {}
func (discard) Outcome(providers.Kind)       {}
func (discard) Answered(time.Duration)       {}
func (discard) FirstByte(time.Time)          {}
func (discard) FirstEvent(time.Duration)     {}
func (discard) Failover(providers.Kind)      {}
func (discard) Usage(Usage)                  {}
func (discard) Tokens(string, int64, int64)  {}
func (discard) FellBack(string, string)      {}
func (discard) Served(string)                {}
