package actors

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pollux-gateway/pollux/storage"
)

// Key usage is counted per request on the request path, so it must cost
// next to nothing there: each (key, provider, model, day) has one cell of
// atomic counters in a sync.Map, and a request adds to its cell with no
// lock, no allocation and no message. Every usageEvery the cells are
// drained (each counter swapped to zero) into one SaveKeyUsage write; the
// same happens at shutdown and before a usage report is read. A kill -9
// loses at most the counts of the last interval.

// usageCellKey names a cell.
type usageCellKey struct {
	keyID    int64
	provider string
	model    string
	// day is the UTC day as days since the epoch.
	day int64
}

// usageCell is one cell's counters since the last drain.
type usageCell struct {
	keyName                                                  string
	requests, errors, input, output, cached, reasoning, unkn atomic.Int64
	lastUsed                                                 atomic.Int64
}

// usageCells are the counters not yet sent to persistence.
type usageCells struct {
	cells sync.Map // usageCellKey → *usageCell
}

func (a *usageCells) add(keyID int64, keyName, provider, model string, at time.Time, u storage.KeyUsage) {
	k := usageCellKey{keyID: keyID, provider: provider, model: model, day: at.Unix() / 86400}
	v, ok := a.cells.Load(k)
	if !ok {
		v, _ = a.cells.LoadOrStore(k, &usageCell{keyName: keyName})
	}
	c := v.(*usageCell)
	add := func(dst *atomic.Int64, n int64) {
		if n != 0 {
			dst.Add(n)
		}
	}
	add(&c.requests, u.Requests)
	add(&c.errors, u.Errors)
	add(&c.input, u.InputTokens)
	add(&c.output, u.OutputTokens)
	add(&c.cached, u.CachedTokens)
	add(&c.reasoning, u.ReasoningTokens)
	add(&c.unkn, u.UnknownTokens)
	if keyID != 0 {
		ns := at.UnixNano()
		for cur := c.lastUsed.Load(); ns > cur && !c.lastUsed.CompareAndSwap(cur, ns); cur = c.lastUsed.Load() {
		}
	}
}

// drain takes every counter (each swapped to zero) as deltas, and forgets
// cells of days before yesterday, which no request adds to any more.
func (a *usageCells) drain(now time.Time) []storage.KeyUsageDelta {
	var out []storage.KeyUsageDelta
	yesterday := now.Unix()/86400 - 1
	a.cells.Range(func(key, value any) bool {
		k, c := key.(usageCellKey), value.(*usageCell)
		if k.day < yesterday {
			a.cells.Delete(k)
		}
		u := storage.KeyUsage{
			Requests: c.requests.Swap(0), Errors: c.errors.Swap(0),
			InputTokens: c.input.Swap(0), OutputTokens: c.output.Swap(0),
			CachedTokens: c.cached.Swap(0), ReasoningTokens: c.reasoning.Swap(0),
			UnknownTokens: c.unkn.Swap(0),
		}
		if u == (storage.KeyUsage{}) {
			return true
		}
		d := storage.KeyUsageDelta{KeyID: k.keyID, KeyName: c.keyName, Provider: k.provider, Model: k.model,
			Day: storage.UsageDay(time.Unix(k.day*86400, 0)), KeyUsage: u}
		if ns := c.lastUsed.Load(); ns != 0 {
			d.LastUsed = time.Unix(0, ns)
		}
		out = append(out, d)
		return true
	})
	return out
}
