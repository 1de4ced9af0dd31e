package actors

import (
	"context"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/storage"
)

// This file is the scheduler's account of itself, for diagnosis: why each
// credential is or is not ready for a model (Pool.Readiness), and why a
// request was refused (a debug-level log record per refusal). Neither is on
// the request path unless asked for: cmd/poolbench -explain uses both to
// tell, for a client 429 sent while an account had quota, what Pollux
// believed and which rule refused (issue 9).

// Blockers: why a credential is not ready for a model (Readiness.Blocker).
const (
	BlockNone        = ""
	BlockOut         = "out_of_service" // not active or cooling (needs re-auth, banned, disabled...)
	BlockToken       = "token"          // no valid token (refreshing or due)
	BlockInflightCap = "inflight_cap"
	BlockPending     = "pending_report" // an outcome the credential has not yet reported
	BlockCooldown    = "cooldown"
	BlockProbe       = "probe_out" // one probe after a cooldown in flight
	BlockRamp        = "ramp"      // ramp-up cap after a probe
	BlockSpent       = "estimate_spent"
	BlockLastBusy    = "last_request_busy" // one request left, others in flight
)

// Refusal paths: which scheduler rule answered Unavailable (the "path"
// field of the debug record "scheduler: refused").
const (
	RefusedAtOnce   = "at_once"  // nothing can be ready before the deadline
	RefusedHopeless = "hopeless" // a parked request that nothing will serve in time
	RefusedDeadline = "deadline" // the queue deadline passed, nothing to hold for
	RefusedHoldCap  = "hold_cap" // held past the deadline to maxHoldOverrun (and capSlack)
	RefusedNoCreds  = "no_creds" // no credential could ever serve it
)

// Readiness is one credential's readiness for a model, as the scheduler sees
// it at one moment.
type Readiness struct {
	CredentialID int64
	Account      string
	Ready        bool
	// Blocker is the first rule that keeps it from the model (Block*).
	Blocker string
	// Until is when a cooldown (or a spent estimate's reset) ends; zero for
	// blockers without a known end. A cooldown's reason and backoff step
	// come with it.
	Until    time.Time
	Reason   string
	Backoff  int
	InFlight int
	// The quota estimate (quota routing, when the upstream reported one):
	// the fraction left, its reset, one request's cost.
	Known bool
	Left  float64
	Reset time.Time
	Cost  float64
}

// ReadinessRequest asks for every credential's readiness for Model.
// Sender: Pool.Readiness. Receiver: scheduler. Reply: *ReadinessReport.
type ReadinessRequest struct{ Model string }

// ReadinessReport is the reply to ReadinessRequest.
type ReadinessReport struct {
	At          time.Time
	Waiting     int
	Credentials []Readiness
}

func (*ReadinessRequest) schedulerReply() *ReadinessReport { return nil }

// Readiness returns why each credential is or is not ready for model now
// (diagnosis; it scans the pool).
func (p *Pool) Readiness(ctx context.Context, model string) (*ReadinessReport, error) {
	return askScheduler[*ReadinessReport](ctx, p.d, &ReadinessRequest{Model: model}, 10*time.Second, nil)
}

func (s *schedulerActor) readiness(model string) *ReadinessReport {
	now := s.d.clock.Now()
	out := &ReadinessReport{At: now, Waiting: s.waiters.Len(), Credentials: make([]Readiness, 0, len(s.policy.entries))}
	for _, e := range s.policy.entries {
		out.Credentials = append(out.Credentials, s.policy.readiness(e, model, now))
	}
	sort.Slice(out.Credentials, func(i, j int) bool { return out.Credentials[i].CredentialID < out.Credentials[j].CredentialID })
	return out
}

// readiness explains readyFor: it checks the same rules in the same order
// and names the first that fails.
func (p *schedPolicy) readiness(e *schedEntry, model string, now time.Time) Readiness {
	r := Readiness{CredentialID: e.id, Account: e.account, InFlight: e.inflight}
	if p.routing == routeQuota && len(e.quota) > 0 {
		r.Left, r.Reset, r.Cost, _, r.Known = headroomCost(e, model, now)
	}
	block := func(b string, until time.Time) Readiness {
		r.Blocker, r.Until = b, until
		return r
	}
	switch {
	case !e.alive():
		return block(BlockOut, time.Time{})
	case !e.tokenValid(now):
		return block(BlockToken, time.Time{})
	case p.maxInflight > 0 && e.inflight >= p.maxInflight:
		return block(BlockInflightCap, time.Time{})
	}
	for _, key := range [...]string{model, storage.AllModels} {
		if _, ok := e.pending[key]; ok {
			return block(BlockPending, time.Time{})
		}
	}
	for _, key := range [...]string{storage.AllModels, model} {
		if until, ok := e.cooldowns[key]; ok && until.After(now) {
			for _, c := range e.facts.cooldowns {
				if c.Model == key {
					r.Reason, r.Backoff = c.Reason, c.Backoff
				}
			}
			return block(BlockCooldown, until)
		}
	}
	if e.probes[storage.AllModels] || e.probes[model] {
		return block(BlockProbe, time.Time{})
	}
	for _, key := range [...]string{model, storage.AllModels} {
		if n, ok := e.ramp[key]; ok && e.inflight >= n {
			return block(BlockRamp, time.Time{})
		}
	}
	if p.spentOut(e, model, now) {
		return block(BlockSpent, r.Reset)
	}
	if p.lastRequestBusy(e, model, now) {
		return block(BlockLastBusy, time.Time{})
	}
	r.Ready = true
	return r
}

// logRefusal writes, at debug level, why a request was refused: the rule
// (path), how long it waited and how far past its deadline, and what the
// pool offered (the earliest cooldown end, whether something may be ready
// any moment).
func (s *schedulerActor) logRefusal(a *Acquire, path string, parked time.Time, av availability, now time.Time) {
	ce := s.log.Check(zap.DebugLevel, "scheduler: refused")
	if ce == nil {
		return
	}
	fields := []zap.Field{
		zap.String("request_id", a.RequestID), zap.String("model", a.Model), zap.String("path", path),
		zap.Time("at", now), zap.Duration("past_deadline", now.Sub(a.Deadline)), zap.Duration("waited", now.Sub(parked)),
		zap.Bool("soon", av.soon), zap.Int("excluded", len(a.Exclude)), zap.Int("waiting", s.waiters.Len()),
	}
	if !av.earliest.IsZero() {
		fields = append(fields, zap.Time("earliest", av.earliest), zap.Duration("earliest_in", av.earliest.Sub(now)))
	}
	ce.Write(fields...)
}
