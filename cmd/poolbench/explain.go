package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/cmd/internal/quotasim"
)

// refusalMsg is the scheduler's debug record of a refused request;
// retryMsg the relay's of an attempt that failed over.
const (
	refusalMsg = "scheduler: refused"
	retryMsg   = "relay: retrying on another credential"
)

// refusals keeps the scheduler's refusal records by request id. As a
// zapcore.Core it takes only those records (every other entry is dropped
// without being encoded), so -explain costs the gateway nothing else.
type refusals struct {
	mu   sync.Mutex
	byID map[string]map[string]any
	// limitedBy counts the upstream 429s that a request failed over from,
	// by the scheduler's reason for picking that credential.
	limitedBy map[string]int
}

func newRefusals() *refusals {
	return &refusals{byID: make(map[string]map[string]any), limitedBy: make(map[string]int)}
}

func (r *refusals) Enabled(l zapcore.Level) bool      { return l >= zapcore.DebugLevel }
func (r *refusals) With([]zapcore.Field) zapcore.Core { return r }
func (r *refusals) Sync() error                       { return nil }

func (r *refusals) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if e.Message != refusalMsg && e.Message != retryMsg {
		return ce
	}
	return ce.AddCore(e, r)
}

func (r *refusals) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Message == retryMsg {
		if status, _ := enc.Fields["upstream_status"].(int64); status == 429 {
			pick, _ := enc.Fields["pick"].(string)
			r.limitedBy[pick]++
		}
		return nil
	}
	id, _ := enc.Fields["request_id"].(string)
	r.byID[id] = enc.Fields
	return nil
}

// limited returns the upstream 429s failed over from, by pick reason.
func (r *refusals) limited() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.limitedBy)
}

// get returns the refusal record of request id, waiting briefly for it (the
// scheduler logs it as it answers; the answer may reach the client first).
func (r *refusals) get(id string) map[string]any {
	for range 20 {
		r.mu.Lock()
		f := r.byID[id]
		r.mu.Unlock()
		if f != nil {
			return f
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// logger returns a logger that feeds r.
func (r *refusals) logger() *zap.Logger { return zap.New(r) }

// evidence is what -explain gathers the moment a client is refused, before
// the 50 ms that decide whether the refusal counts as a miss.
type evidence struct {
	at        time.Time
	requestID string
	avail     map[string]int
	resets    map[string]time.Time
	ready     *actors.ReadinessReport
}

// gather reads the simulator's and the pool's view of model at once.
func (g *gateway) gather(ctx context.Context, provider, model, requestID string, sim *quotasim.Sim) *evidence {
	ev := &evidence{at: time.Now(), requestID: requestID, resets: map[string]time.Time{}}
	ev.avail = sim.AvailableAccounts(model, ev.at)
	for id := range ev.avail {
		if at, ok := sim.LastReset(id, model, ev.at); ok {
			ev.resets[id] = at
		}
	}
	if rd, err := g.sys.Pool(provider).Readiness(ctx, model); err == nil {
		ev.ready = rd
	}
	return ev
}

// print writes one miss's explanation: the rule that refused, the accounts
// that in truth had quota (with their true last reset) and the pool's view
// of each.
func (ev *evidence) print(w io.Writer, n int, provider, model string, rec map[string]any) {
	var b strings.Builder
	fmt.Fprintf(&b, "miss %d: %s %s, 429 read at %s, request %s\n", n, provider, model, ev.at.Format("15:04:05.000"), ev.requestID)
	if rec == nil {
		b.WriteString("  refusal: no scheduler record (the relay answered with an upstream failure)\n")
	} else {
		refusedAt, _ := rec["at"].(time.Time)
		fmt.Fprintf(&b, "  refused by %v at %s (%s before the 429 was read): waited %v, past deadline %v, soon %v, excluded %v, waiting %v",
			rec["path"], refusedAt.Format("15:04:05.000"), ev.at.Sub(refusedAt).Round(time.Millisecond), dur(rec["waited"]),
			dur(rec["past_deadline"]), rec["soon"], rec["excluded"], rec["waiting"])
		if e, ok := rec["earliest_in"]; ok {
			fmt.Fprintf(&b, ", earliest cooldown end in %v", dur(e))
		}
		b.WriteByte('\n')
	}
	if ev.ready == nil {
		b.WriteString("  pool readiness: not read\n")
		_, _ = io.WriteString(w, b.String())
		return
	}
	fmt.Fprintf(&b, "  pool view read at %s, %d waiting\n", ev.ready.At.Format("15:04:05.000"), ev.ready.Waiting)
	byAccount := make(map[string]actors.Readiness, len(ev.ready.Credentials))
	for _, r := range ev.ready.Credentials {
		byAccount[r.Account] = r
	}
	ids := make([]string, 0, len(ev.avail))
	for id := range ev.avail {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fmt.Fprintf(&b, "  %s: %d left, true reset %s ago; pollux: ", id, ev.avail[id], ev.at.Sub(ev.resets[id]).Round(time.Millisecond))
		r, ok := byAccount[id]
		switch {
		case !ok:
			b.WriteString("unknown credential")
		case r.Ready:
			b.WriteString("ready")
		default:
			b.WriteString(r.Blocker)
			if !r.Until.IsZero() {
				fmt.Fprintf(&b, " until %s (in %s)", r.Until.Format("15:04:05.000"), r.Until.Sub(ev.ready.At).Round(time.Millisecond))
			}
			if r.Reason != "" {
				fmt.Fprintf(&b, " (%s, backoff step %d)", r.Reason, r.Backoff)
			}
		}
		if ok && r.Known {
			fmt.Fprintf(&b, "; estimate left %.3f cost %.3f", r.Left, r.Cost)
			if !r.Reset.IsZero() {
				fmt.Fprintf(&b, " reset in %s", r.Reset.Sub(ev.ready.At).Round(time.Millisecond))
			}
		}
		if ok {
			fmt.Fprintf(&b, "; in flight %d", r.InFlight)
		}
		b.WriteByte('\n')
	}
	_, _ = io.WriteString(w, b.String())
}

func dur(v any) any {
	if d, ok := v.(time.Duration); ok {
		return d.Round(time.Millisecond)
	}
	return v
}
