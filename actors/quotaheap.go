package actors

import (
	"container/heap"
	"time"

	"github.com/pollux-gateway/pollux/providers"
)

// rankHeap orders the credentials ready for one model under quota routing:
// best quotaRank first, then least recently granted. It keeps quota routing
// O(log n) per pick however large the pool (a scan of 10,000 credentials
// per pick cost milliseconds). Each entry's rank is cached per model and
// recomputed whenever the entry is reindexed (a report, a wake-up at a
// quota's reset) or reaches the top of the heap.
type rankHeap struct {
	mi    int
	items []*schedEntry
}

func (h *rankHeap) Len() int { return len(h.items) }

func (h *rankHeap) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	ra, rb := a.ranks[h.mi], b.ranks[h.mi]
	if ra != rb {
		return ra.before(rb)
	}
	return a.grantSeq < b.grantSeq
}

func (h *rankHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].hpos[h.mi] = i
	h.items[j].hpos[h.mi] = j
}

func (h *rankHeap) Push(x any) {
	e := x.(*schedEntry)
	e.hpos[h.mi] = len(h.items)
	h.items = append(h.items, e)
}

func (h *rankHeap) Pop() any {
	n := len(h.items) - 1
	e := h.items[n]
	h.items[n] = nil
	h.items = h.items[:n]
	e.hpos[h.mi] = -1
	return e
}

// syncHeap puts e in or out of model mi's rank heap (in: ready for it) and
// refreshes its rank there.
func (p *schedPolicy) syncHeap(e *schedEntry, mi int, model string, in bool, now time.Time) {
	for len(e.hpos) <= mi {
		e.hpos = append(e.hpos, -1)
		e.ranks = append(e.ranks, quotaRank{})
	}
	h := p.heaps[mi]
	pos := e.hpos[mi]
	switch {
	case in && pos < 0:
		e.ranks[mi] = rankQuota(e.quota, model, now)
		heap.Push(h, e)
	case !in && pos >= 0:
		heap.Remove(h, pos)
	case in:
		if r := rankQuota(e.quota, model, now); r != e.ranks[mi] {
			e.ranks[mi] = r
			heap.Fix(h, pos)
		}
	}
}

// pickRanked is pick's quota routing: the best-ranked ready credential not
// excluded. Entries found not ready are dropped from the model's queue and
// heap (and asked to refresh when their token ran out), as the LRU scan
// does.
func (p *schedPolicy) pickRanked(a *Acquire, mi int, now time.Time, refresh *[]*schedEntry) *schedEntry {
	h := p.heaps[mi]
	var buf [8]*schedEntry
	skipped := buf[:0]
	var best *schedEntry
	for h.Len() > 0 {
		e := h.items[0]
		if !p.readyFor(e, a.Model, now) {
			heap.Pop(h)
			if el := e.elems[mi]; el != nil {
				p.queues[mi].Remove(el)
				e.elems[mi] = nil
			}
			if e.needsRefresh(now) {
				e.refreshAsked = true
				*refresh = append(*refresh, e)
			}
			continue
		}
		if r := rankQuota(e.quota, a.Model, now); r != e.ranks[mi] {
			// A quota reset since it was ranked.
			e.ranks[mi] = r
			heap.Fix(h, 0)
			continue
		}
		if excluded(a.Exclude, e.id) {
			skipped = append(skipped, heap.Pop(h).(*schedEntry))
			continue
		}
		best = e
		break
	}
	for _, e := range skipped {
		heap.Push(h, e)
	}
	if best != nil {
		best.pickReason = best.ranks[mi].reason()
	}
	return best
}

// quotaWakes returns the resets in next that were not in prev: the times an
// entry's rank changes by itself.
func quotaWakes(prev, next []providers.QuotaBucket, now time.Time, add func(time.Time)) {
	for _, b := range next {
		if !b.ResetAt.After(now) {
			continue
		}
		seen := false
		for _, q := range prev {
			if q.Model == b.Model && q.ResetAt.Equal(b.ResetAt) {
				seen = true
				break
			}
		}
		if !seen {
			add(b.ResetAt)
		}
	}
}
