package actors

import (
	"math"
	"time"

	"github.com/pollux-gateway/pollux/storage"
)

// quotaRank orders ready credentials for quota routing: by tier (headroom
// known, unknown, nearly spent), then by when the quota resets (soonest
// first, at resetGranularity).
type quotaRank struct {
	tier  uint8
	reset int64 // reset time in resetGranularity units; max for unknown
}

const (
	tierHeadroom uint8 = iota
	tierUnknown
	tierLow
)

func (r quotaRank) before(o quotaRank) bool {
	if r.tier != o.tier {
		return r.tier < o.tier
	}
	return r.reset < o.reset
}

func (r quotaRank) reason() string {
	switch r.tier {
	case tierHeadroom:
		return PickSoonest
	case tierLow:
		return PickLowHeadway
	}
	return PickUnknown
}

// rankQuota ranks a credential for model from its reported quotas: the
// tightest bucket that applies (the model's own, or account-wide) and has
// not reset yet, less what was spent since it was reported.
func rankQuota(e *schedEntry, model string, now time.Time) quotaRank {
	remaining, reset, known := headroom(e, model, now)
	switch {
	case !known:
		return quotaRank{tier: tierUnknown, reset: math.MaxInt64}
	case remaining < lowHeadroom:
		return quotaRank{tier: tierLow, reset: resetUnits(reset)}
	}
	return quotaRank{tier: tierHeadroom, reset: resetUnits(reset)}
}

func resetUnits(t time.Time) int64 {
	if t.IsZero() {
		return math.MaxInt64
	}
	return t.UnixNano() / int64(resetGranularity)
}

// headroom returns the smallest remaining fraction among the buckets that
// apply to model, with that bucket's reset (zero: not reported). A bucket's
// fraction is lowered by the estimated cost of the requests granted since it
// was reported (those finished and those in flight); a bucket whose reset
// has passed counts as refilled, less what the new window has spent when the
// cost is known, and says nothing otherwise.
func headroom(e *schedEntry, model string, now time.Time) (remaining float64, reset time.Time, known bool) {
	remaining, reset, _, _, known = headroomCost(e, model, now)
	return remaining, reset, known
}

// headroomCost is headroom with the estimated cost of one request against
// the bucket it reports (0: not known) and the requests in flight that
// bucket's estimate counts (those for its model, or all for an account-wide
// bucket).
func headroomCost(e *schedEntry, model string, now time.Time) (remaining float64, reset time.Time, reqCost float64, busy int, known bool) {
	remaining = 1.0
	for i := range e.quota {
		b := &e.quota[i]
		if b.Model != model && b.Model != storage.AllModels {
			continue
		}
		left, at := b.Remaining, b.ResetAt
		inflight := e.inflightFor(b.Model)
		t := e.spend[b.Model]
		var cost float64
		if t != nil {
			cost = t.cost
			if cost == 0 {
				cost = e.poolCosts[b.Model]
			}
		}
		switch {
		case !b.ResetAt.IsZero() && !b.ResetAt.After(now):
			// Refilled since it was reported.
			if cost == 0 {
				continue
			}
			spent := inflight
			if t.reset.IsZero() && !t.after.IsZero() {
				spent += t.oks
			}
			left, at = 1-cost*float64(spent), time.Time{}
		case cost > 0 && sameWindow(t.reset, b.ResetAt):
			left = t.base - cost*float64(t.oks+inflight)
		}
		if !known || left < remaining {
			remaining, reset, reqCost, busy, known = left, at, cost, inflight, true
		}
	}
	return remaining, reset, reqCost, busy, known
}
