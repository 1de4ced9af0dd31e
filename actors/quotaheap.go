package actors

import (
	"container/heap"
	"time"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/storage"
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
		e.ranks[mi] = rankQuota(e, model, now)
		heap.Push(h, e)
	case !in && pos >= 0:
		heap.Remove(h, pos)
	case in:
		if r := rankQuota(e, model, now); r != e.ranks[mi] {
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
		if r := rankQuota(e, a.Model, now); r != e.ranks[mi] {
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

// spendTrack estimates what is left of one of a credential's quotas between
// the upstream's reports: the last report's remaining fraction, the
// successful requests since, and the fraction one request costs, learned
// from successive reports of the same window. Without it a quota read every
// few minutes would be learned spent only from a 429, once per credential,
// model and window (issue 9).
type spendTrack struct {
	base  float64
	reset time.Time
	oks   int
	// okSeqs are the outcome sequence numbers of the oks not yet covered by
	// a report (ascending; at most maxOKSeqs). A report covers the
	// successes whose outcomes the credential had processed when it
	// published it (CredentialChanged.OutcomeSeq); those finished since are
	// not in its divisor: counting them made a cost sample too cheap
	// whenever answers finished close together, and a cost learned too
	// cheap let a burst of requests through to an account whose window had
	// run out (issue 9: the Codex wasted 429s at 150 % load).
	okSeqs []uint64
	cost   float64
	// after, when set, says the reported window ended then and the track
	// counts the next one (base 1, reset not reported yet).
	after time.Time
	// The last cost sample, kept to correct it when a late report shows it
	// covered more requests than were counted: the fraction spent, the
	// requests it was divided by, and the cost before it was blended in.
	sampleSpent float64
	sampleN     int
	costBefore  float64
	// rechecked is set once the estimate ran out before the report did and
	// the credential was asked to read its quota (quotaRecheck); a new
	// report clears it.
	rechecked bool
	// inflightAt is how many requests were in flight on the bucket when
	// the report was taken in: it may have counted them, and their
	// successes, counted since, may then be in it twice.
	inflightAt int
}

// costWeight is the weight of a new cost sample in the running estimate.
const costWeight = 0.5

// observeQuota folds a new quota report, published after outcome seq, into
// e's spend tracks. A cost sample divides what the report says was spent
// by the successes since the previous report that it covers (outcomes up to
// seq); later reports correct a sample that covered more or fewer requests
// than that (late answers, see below).
func (e *schedEntry) observeQuota(next []providers.QuotaBucket, seq uint64) {
	for _, b := range next {
		if e.spend == nil {
			e.spend = make(map[string]*spendTrack, len(next))
		}
		t := e.spend[b.Model]
		if t == nil {
			t = &spendTrack{}
			e.spend[b.Model] = t
		}
		same := sameWindow(t.reset, b.ResetAt) ||
			(t.reset.IsZero() && !t.after.IsZero() && b.ResetAt.After(t.after.Add(2*time.Second)))
		covered := t.covered(seq)
		sampled := false
		if n := covered; n > 0 && same && b.Remaining < t.base {
			sampled = true
			t.sampleSpent, t.sampleN, t.costBefore = t.base-b.Remaining, n, t.cost
			// The report covers the n successes for sure, and may cover
			// the others counted since and those in flight (the upstream
			// counted them when it took them): the cost lies between
			// spent/(n+unsure) and spent/n. Dividing by n alone made it
			// come out too dear whenever the report counted requests in
			// flight, which kept a credential with a request left out of
			// rotation (issue 9: Gemini client 429s at 150 % load).
			unsure := t.oks - covered + e.inflightFor(b.Model)
			// Of the n, those in flight at the last report may be in its
			// figure already: then this report's spend covers fewer new
			// requests, down to n less them (issue 9: a report read right
			// after one that counted a request in flight made the cost a
			// quarter too cheap, and a too cheap cost sends requests to a
			// window that has run out).
			hi := t.sampleSpent / float64(n-min(t.inflightAt, n-1))
			lo := t.sampleSpent / float64(n+unsure)
			prior := t.cost
			if prior == 0 && e.poolCosts != nil {
				prior = e.poolCosts[b.Model]
			}
			t.cost = blendCost(t.cost, boundedSample(prior, lo, hi))
			if e.poolCosts != nil {
				e.poolCosts[b.Model] = blendCost(e.poolCosts[b.Model], boundedSample(e.poolCosts[b.Model], lo, hi))
			}
		}
		if !sampled && t.oks == 0 && t.sampleN > 0 && e.inflight == 0 && same && b.Remaining < t.base {
			// A newer answer whose request was counted before the last
			// report, which did not include it (the upstream served it
			// later): the last sample divided too little by too many and
			// made requests look cheaper than they are, which sends
			// requests to an account after its window ran out. Fold it into
			// that sample. Only with nothing in flight is it sure the
			// difference is not an uncounted request.
			sampled = true
			t.sampleSpent += t.base - b.Remaining
			t.cost = blendCost(t.costBefore, t.sampleSpent/float64(t.sampleN))
		}
		if same && b.Remaining > t.base && !t.reset.IsZero() {
			// An older answer arriving late (concurrent requests finish out
			// of order): within a window usage only grows. Its request was
			// counted when it finished (oks), after the newer report that
			// already included it: uncount it, and correct the cost sample
			// taken from that report (it covered one more request than was
			// counted). Left as they were, both would keep the credential
			// out of rotation while it still had quota (issue 9: the Codex
			// client 429s at 150 % load).
			if t.oks > 0 {
				t.uncount(seq)
				if t.sampleN > 0 {
					t.sampleN++
					t.cost = blendCost(t.costBefore, t.sampleSpent/float64(t.sampleN))
				}
			}
			continue
		}
		if !sampled {
			t.sampleN = 0
		}
		// The successes the report does not cover stay counted against it.
		// covered includes the successes dropped from a full list; only
		// the rest are listed.
		listed := covered - (t.oks - len(t.okSeqs))
		t.okSeqs = t.okSeqs[:copy(t.okSeqs, t.okSeqs[listed:])]
		t.base, t.reset, t.oks, t.after = b.Remaining, b.ResetAt, t.oks-covered, time.Time{}
		t.rechecked, t.inflightAt = false, e.inflightFor(b.Model)
	}
}

// maxOKSeqs bounds a track's okSeqs (reports that never come, say): the
// oldest are dropped and counted as covered by the next report.
const maxOKSeqs = 1024

// covered returns how many of t's counted successes a report published
// after outcome seq covers.
func (t *spendTrack) covered(seq uint64) int {
	n := 0
	for n < len(t.okSeqs) && t.okSeqs[n] <= seq {
		n++
	}
	// Successes counted without a sequence number (dropped from a full
	// list) count as covered.
	return n + t.oks - len(t.okSeqs)
}

// uncount takes back the success of outcome seq, or the latest one when it
// is not listed.
func (t *spendTrack) uncount(seq uint64) {
	t.oks--
	for i := len(t.okSeqs) - 1; i >= 0; i-- {
		if t.okSeqs[i] == seq {
			t.okSeqs = append(t.okSeqs[:i], t.okSeqs[i+1:]...)
			return
		}
	}
	if n := len(t.okSeqs); n > t.oks {
		t.okSeqs = t.okSeqs[:n-1]
	}
}

// boundedSample is a cost sample known only to lie in [lo, hi]: the
// estimate so far (prior) where it fits, else the bound nearest to it; hi
// without an estimate. Sampled so, a cost estimate that starts at or above
// the true cost (hi always is) never falls below it: no sample makes
// requests look cheaper than they are, and no report that counted requests
// in flight makes them look dearer than the estimate already was.
func boundedSample(prior, lo, hi float64) float64 {
	if prior <= 0 {
		return hi
	}
	return min(max(prior, lo), hi)
}

// inflightFor returns the requests in flight that a quota of model counts:
// those for the model, or all of them for an account-wide quota.
func (e *schedEntry) inflightFor(model string) int {
	if model == storage.AllModels {
		return e.inflight
	}
	return e.inflightBy.get(model)
}

// blendCost folds a sample into a running cost estimate (0: none yet).
func blendCost(cost, sample float64) float64 {
	if cost == 0 {
		return sample
	}
	return costWeight*sample + (1-costWeight)*cost
}

// countSpent notes one successful request on model against e's quotas; a
// window that ended since its report starts a fresh count.
func (e *schedEntry) countSpent(model string, seq uint64, now time.Time) {
	for _, key := range [...]string{model, storage.AllModels} {
		t := e.spend[key]
		if t == nil {
			continue
		}
		if !t.reset.IsZero() && !now.Before(t.reset) {
			t.after, t.reset, t.base, t.oks, t.okSeqs = t.reset, time.Time{}, 1, 0, t.okSeqs[:0]
		}
		t.oks++
		if len(t.okSeqs) == maxOKSeqs {
			t.okSeqs = t.okSeqs[:copy(t.okSeqs, t.okSeqs[1:])]
		}
		t.okSeqs = append(t.okSeqs, seq)
	}
}

// sameWindow reports whether two reported resets are the same window's
// (relative resets in whole seconds move by up to a second between reports).
func sameWindow(a, b time.Time) bool {
	d := a.Sub(b)
	return d > -2*time.Second && d < 2*time.Second
}

// sameQuota reports whether a and b are the same report (the credential
// sends the same slice until a new report replaces it).
func sameQuota(a, b []providers.QuotaBucket) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}
