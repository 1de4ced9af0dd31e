package actors

import (
	"container/heap"
	"container/list"
	"encoding/json"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/storage"
)

// This file is the scheduler's pure policy: which credential serves which
// request. It holds no actors, no timers and no clock; time is passed in.
//
// Choice: least recently used per model. Every model has a queue of the
// credentials known to be ready for it, in the order they were last used
// for that model; a grant takes the front and moves it to the back. That
// spreads each model's quota evenly over the pool, so per-account limits are
// reached as late as possible, and it costs O(1) whatever the pool size.
// Least-in-flight was the alternative: with upstream latency dominated by
// generation time it degenerates to the same rotation while needing a
// sorted structure; the optional per-credential in-flight cap covers the case
// where concurrency itself must be bounded.
//
// Queue membership is maintained eagerly on every change the credential
// reports and lazily for time: an entry whose cooldown has begun or whose
// token has run out is dropped when a pick meets it, and a wake-up heap
// brings entries back when their cooldowns end.

// tokenSkew is how long a token must still be valid to be handed out.
const tokenSkew = 30 * time.Second

// Quota routing (routing = "quota"): among the credentials ready for a
// request, the one whose quota for the model resets soonest goes first, so a
// window about to refill is spent before one that lasts for hours; a
// credential with less than lowHeadroom of its quota left goes last (out of
// rotation until its reset while others have quota, but still used before a
// client is refused), one reporting nothing at all is taken off by a
// cooldown until its reset (credstate.applyQuota). Resets in the same second
// count as equal and are rotated least recently used first, so a pool whose
// quotas all refill together (Code Assist's daily quotas) is spread evenly;
// a coarser grain lets quota that resets sooner expire unused. Credentials whose upstream
// reported no quota rank after those with known headroom and before those
// nearly spent. Quota routing keeps a heap per model (quotaheap.go):
// O(log n) per pick, no allocation.
const (
	lowHeadroom      = 0.02
	resetGranularity = time.Second
)

// routing is the scheduler's choice among ready credentials.
type routing uint8

const (
	routeLRU routing = iota
	routeQuota
)

// Pick reasons, for the access log at debug level.
const (
	PickPreferred  = "preferred"
	PickAffinity   = "affinity"
	PickLRU        = "lru"
	PickSoonest    = "quota_soonest_reset"
	PickUnknown    = "quota_unknown"
	PickLowHeadway = "quota_low_headroom"
	// PickCooldownEnding: a request that would be refused takes a
	// credential whose cooldown ends within its grace (pickEnding).
	PickCooldownEnding = "cooldown_ending"
	// PickPastRamp: a request that would be refused takes a credential
	// whose ramp after a successful probe is full (pickEnding).
	PickPastRamp = "past_ramp"
)

// schedEntry is the scheduler's read model of one credential.
//
// The fields a pick, a grant and a release read come first, in the order of
// the cache lines they fill (the entry is exactly 512 bytes, so it starts on
// a line): in a pool of 10,000 the entry a least-recently-used pick takes
// was last touched 10,000 picks ago and is out of every cache, and each line
// the pick reads is a miss; what only operators see comes last.
type schedEntry struct {
	// Line 1: what readyFor reads first.
	id       int64
	inflight int
	token    config.Secret
	expiry   time.Time
	// live caches alive() (status active or cooling): comparing the status
	// string read its bytes, one more line per pick.
	live       bool
	refreshing bool
	// refreshAsked is set once RefreshNeeded was sent for the current token.
	refreshAsked bool
	// grantedProbe says whether the latest grant was a probe; the scheduler
	// copies it into the lease record, with the reason of the pick. (The
	// bools sit together: padding would push the entry into a bigger size
	// class.)
	grantedProbe bool
	// removed is set when the credential leaves the pool (remove).
	removed bool

	// Line 2: the holds readyFor checks, queue membership, the actor.
	//
	// pending maps model (or AllModels) to the Outcome.Seq whose effect the
	// credential has not yet reported; the entry is not granted for it.
	pending   map[string]uint64
	cooldowns map[string]time.Time
	// probes holds the cooldown keys (model, or AllModels) this credential
	// has been seen cooling on and that no request has since succeeded on.
	// Once such a cooldown ends the credential takes one request (the
	// probe) for that key at a time; the value is whether it is in flight.
	// Only a success releases the rest of the waiters to it, so the
	// credential that just reset is not hit by a herd (issue 9).
	probes map[string]bool
	// ramp caps the in-flight requests per key after a successful probe: two,
	// then one more for each success (doubling per round trip), so a herd of
	// waiters reaches a credential that just reset no faster than it proves
	// it has quota; dropped once past rampDone.
	ramp map[string]int
	// elems[i] is the entry's element in queue i, nil when absent.
	elems []*list.Element
	pid   *actor.PID

	// Line 3: what a grant and a release count.
	//
	// inflightBy counts the requests in flight per model: a model's own
	// quota is spent only by requests for that model (issue 9: a Gemini
	// credential estimated spent on one model, with a request left, while
	// requests for the other model were in flight on it).
	inflightBy modelCounts
	lastUsed   time.Time
	served     uint64
	// grantSeq orders equal quota ranks least recently granted first.
	grantSeq uint64

	// Line 4: the pick's reason; quota routing's heaps.
	//
	// pickReason is why the latest grant picked it (a Pick* constant).
	pickReason string
	// Quota routing: hpos[i] is the entry's index in rank heap i (-1 when
	// absent), ranks[i] its rank there.
	hpos  []int
	ranks []quotaRank

	// quota is what the upstream last reported of the credential's quotas
	// (immutable once received); spend estimates what was spent since, per
	// bucket model (quota routing).
	quota []providers.QuotaBucket
	spend map[string]*spendTrack
	// poolCosts is the policy's per-bucket-model cost estimate shared by
	// every credential (quotas of one provider and model usually cost the
	// same per request): a credential that has not learned its own uses it.
	poolCosts map[string]float64

	// What the lease carries and operators see.
	status  storage.Status
	account string
	extra   json.RawMessage
	// facts is what operators see of the credential that scheduling does
	// not use; the rest of its view is built from the fields above.
	facts credentialFacts
}

// credentialFacts is the part of a CredentialView the scheduler keeps only
// to show it: 160 bytes per credential where the whole view, most of it a
// copy of the entry's own fields, took 312.
type credentialFacts struct {
	email, tier, statusReason, lastError string
	statusSince, quotaAt                 time.Time
	cooldowns                            []storage.Cooldown
	windows                              []providers.QuotaWindow
}

func factsOf(v *CredentialView) credentialFacts {
	return credentialFacts{email: v.Email, tier: v.Tier, statusReason: v.StatusReason, lastError: v.LastError,
		statusSince: v.StatusSince, quotaAt: v.QuotaAt, cooldowns: v.Cooldowns, windows: v.Windows}
}

// view is what operators see of the credential (provider names its pool).
func (e *schedEntry) view(provider string) CredentialView {
	f := &e.facts
	return CredentialView{
		ID: e.id, Provider: provider, Email: f.email, Account: e.account, Tier: f.tier,
		Status: e.status, StatusReason: f.statusReason, StatusSince: f.statusSince,
		Expiry: e.expiry, Refreshing: e.refreshing, Cooldowns: f.cooldowns, LastError: f.lastError,
		Windows: f.windows, Quota: e.quota, QuotaAt: f.quotaAt,
		InFlight: e.inflight, Served: e.served, LastUsed: e.lastUsed,
	}
}

// modelCounts counts per model: a credential serves a model or two, so a
// short slice, not a map (a map of one entry costs ~250 bytes).
type modelCounts []modelCount

type modelCount struct {
	model string
	n     int
}

func (c modelCounts) get(model string) int {
	for _, mc := range c {
		if mc.model == model {
			return mc.n
		}
	}
	return 0
}

func (c *modelCounts) add(model string) {
	for i := range *c {
		if (*c)[i].model == model {
			(*c)[i].n++
			return
		}
	}
	*c = append(*c, modelCount{model: model, n: 1})
}

// release counts one off model (never below zero).
func (c modelCounts) release(model string) {
	for i := range c {
		if c[i].model == model && c[i].n > 0 {
			c[i].n--
			return
		}
	}
}

func (e *schedEntry) alive() bool { return e.live }

// aliveStatus reports whether a credential in status st takes requests, now
// or after a cooldown.
func aliveStatus(st storage.Status) bool {
	return st == storage.StatusActive || st == storage.StatusCooling
}

func (e *schedEntry) tokenValid(now time.Time) bool {
	return e.token != "" && e.expiry.After(now.Add(tokenSkew))
}

// needsRefresh reports whether the scheduler should ask for a refresh.
func (e *schedEntry) needsRefresh(now time.Time) bool {
	return e.alive() && !e.refreshing && !e.refreshAsked && !e.tokenValid(now)
}

type wakeItem struct {
	at time.Time
	id int64
}

type wakeHeap []wakeItem

func (h wakeHeap) Len() int           { return len(h) }
func (h wakeHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h wakeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *wakeHeap) Push(x any)        { *h = append(*h, x.(wakeItem)) }
func (h *wakeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// affinityCap bounds the session-affinity table; the oldest binding is
// forgotten first.
const affinityCap = 65536

type schedPolicy struct {
	routing     routing
	entries     map[int64]*schedEntry
	modelIdx    map[string]int
	queues      []*list.List
	heaps       []*rankHeap // quota routing only, parallel to queues
	costs       map[string]float64
	grantSeq    uint64
	maxInflight int
	wakes       wakeHeap

	affinity      map[string]int64
	affinityOrder []string
	affinityNext  int
}

// newSchedPolicyRouting is newSchedPolicy with a routing policy.
func newSchedPolicyRouting(maxInflight int, r routing) *schedPolicy {
	p := newSchedPolicy(maxInflight)
	p.routing = r
	return p
}

func newSchedPolicy(maxInflight int) *schedPolicy {
	return &schedPolicy{
		entries:     make(map[int64]*schedEntry),
		costs:       make(map[string]float64),
		modelIdx:    make(map[string]int),
		maxInflight: maxInflight,
		affinity:    make(map[string]int64),
	}
}

// readyFor reports whether e may be granted for model (queue mi) at now.
func (p *schedPolicy) readyFor(e *schedEntry, model string, now time.Time) bool {
	return p.readyBesidesRamp(e, model, now) && !rampFull(e, model)
}

// rampFull reports whether e's ramp after a probe caps it for model.
func rampFull(e *schedEntry, model string) bool {
	if len(e.ramp) > 0 {
		for _, key := range [...]string{model, storage.AllModels} {
			if n, ok := e.ramp[key]; ok && e.inflight >= n {
				return true // ramping up after a cooldown
			}
		}
	}
	return false
}

// readyBesidesRamp is readyFor without the ramp's cap.
func (p *schedPolicy) readyBesidesRamp(e *schedEntry, model string, now time.Time) bool {
	if !e.alive() || !e.tokenValid(now) {
		return false
	}
	if p.maxInflight > 0 && e.inflight >= p.maxInflight {
		return false
	}
	if len(e.pending) > 0 {
		if _, ok := e.pending[model]; ok {
			return false
		}
		if _, ok := e.pending[storage.AllModels]; ok {
			return false
		}
	}
	if len(e.cooldowns) > 0 {
		if until, ok := e.cooldowns[storage.AllModels]; ok && until.After(now) {
			return false
		}
		if until, ok := e.cooldowns[model]; ok && until.After(now) {
			return false
		}
	}
	if len(e.probes) > 0 && (e.probes[storage.AllModels] || e.probes[model]) {
		return false // a probe is out; wait for its verdict
	}
	if p.spentOut(e, model, now) || p.lastRequestBusy(e, model, now) {
		return false
	}
	return true
}

// lastRequestBusy reports whether quota routing estimates that e has one
// request left for model while others are still in flight on it: the last
// request of a window is sent only once those have answered. Their reports
// settle the estimate, so an estimate a little off (a cost learned from
// rounded or out-of-order reports) cannot send several requests after the
// last one (issue 9: bursts of wasted 429s on a Codex account whose window
// had just run out).
func (p *schedPolicy) lastRequestBusy(e *schedEntry, model string, now time.Time) bool {
	if p.routing != routeQuota || e.inflight == 0 || len(e.quota) == 0 {
		return false
	}
	left, _, reqCost, busy, known := headroomCost(e, model, now)
	return known && busy > 0 && reqCost > 0 && left < 1.5*reqCost
}

// rampDone ends the ramp after a probe: from there the credential takes
// requests without a cap of its own.
const rampDone = 64

// spentEpsilon absorbs rounding in a spend estimate.
const spentEpsilon = 1e-6

// spentOut reports whether quota routing knows (from a report, or a report
// less what was granted since) that e has nothing left for model: it is
// kept out of rotation until the quota resets rather than sent for a 429.
func (p *schedPolicy) spentOut(e *schedEntry, model string, now time.Time) bool {
	if p.routing != routeQuota || len(e.quota) == 0 {
		return false
	}
	left, _, reqCost, _, known := headroomCost(e, model, now)
	// Quota is spent in whole requests: an estimate within half a request's
	// cost of zero is an estimate a little off (the cost is learned from
	// rounded reports), not a request's worth left. Sending one would
	// collect a 429 (issue 9: Codex's wasted 429s at 150 % load).
	return known && left <= max(spentEpsilon, reqCost/2)
}

// quotaRecheck reports whether e's quota should be read again now, after a
// success on model: the estimate has it spent for model, counting successes
// since a report that said quota was left, and nothing is in flight on the
// bucket, so a read now counts exactly what was spent. Asked once per
// report. Without it a credential stayed out until its reset with quota
// left whenever the estimate ran out early: a report read while a request
// was in flight may have counted it already, and its success is counted
// again (issue 9: Gemini client 429s at 150 % load while a credential the
// estimate had spent held a request for 14 s).
func (p *schedPolicy) quotaRecheck(e *schedEntry, model string, now time.Time) bool {
	if p.routing != routeQuota || len(e.quota) == 0 || !p.spentOut(e, model, now) {
		return false
	}
	ask := false
	for _, key := range [...]string{model, storage.AllModels} {
		t := e.spend[key]
		if t == nil || t.rechecked || t.oks == 0 || t.base <= max(spentEpsilon, t.cost/2) || e.inflightFor(key) > 0 {
			continue
		}
		t.rechecked, ask = true, true
	}
	return ask
}

// queue returns the index of model's queue, creating and filling it on
// first use.
func (p *schedPolicy) queue(model string, now time.Time) int {
	if mi, ok := p.modelIdx[model]; ok {
		return mi
	}
	mi := len(p.queues)
	p.modelIdx[model] = mi
	p.queues = append(p.queues, list.New())
	if p.routing == routeQuota {
		p.heaps = append(p.heaps, &rankHeap{mi: mi})
	}
	for _, e := range p.entries {
		p.reindexOne(e, mi, model, now)
	}
	return mi
}

func (p *schedPolicy) reindexOne(e *schedEntry, mi int, model string, now time.Time) {
	for len(e.elems) <= mi {
		e.elems = append(e.elems, nil)
	}
	want := p.readyFor(e, model, now)
	switch have := e.elems[mi] != nil; {
	case want && !have:
		// Back from a cooldown or new: it was last used before anyone
		// currently queued, so it goes to the front.
		e.elems[mi] = p.queues[mi].PushFront(e)
	case !want && have:
		p.queues[mi].Remove(e.elems[mi])
		e.elems[mi] = nil
	}
	if p.routing == routeQuota {
		p.syncHeap(e, mi, model, want, now)
	}
}

// reindex recomputes e's membership in every queue.
func (p *schedPolicy) reindex(e *schedEntry, now time.Time) {
	for model, mi := range p.modelIdx {
		p.reindexOne(e, mi, model, now)
	}
}

// upsert applies a CredentialChanged and reports the entry, and whether an
// outcome the entry was held back for has now been reported (parked
// requests deserve a fresh look then).
func (p *schedPolicy) upsert(c *CredentialChanged, now time.Time) (*schedEntry, bool) {
	if c.Removed {
		p.remove(c.ID)
		return nil, false
	}
	e, ok := p.entries[c.ID]
	if !ok {
		e = &schedEntry{id: c.ID, poolCosts: p.costs}
		p.entries[c.ID] = e
	}
	if e.token != c.AccessToken || e.refreshing != c.Refreshing {
		e.refreshAsked = false
	}
	if p.routing == routeQuota {
		quotaWakes(e.quota, c.Quota, now, func(at time.Time) { heap.Push(&p.wakes, wakeItem{at: at, id: c.ID}) })
	}
	for model, until := range c.Cooldowns {
		if until.After(now) && !until.Equal(e.cooldowns[model]) {
			heap.Push(&p.wakes, wakeItem{at: until, id: c.ID})
		}
		if until.After(now) {
			if e.probes == nil {
				e.probes = make(map[string]bool, 1)
			}
			if _, ok := e.probes[model]; !ok {
				e.probes[model] = false
			}
		}
	}
	e.pid, e.status, e.token, e.account, e.extra = c.PID, c.Status, c.AccessToken, c.Account, c.Extra
	e.live = aliveStatus(c.Status)
	e.expiry, e.refreshing, e.cooldowns = c.Expiry, c.Refreshing, c.Cooldowns
	e.facts = factsOf(&c.View)
	if p.routing == routeQuota && !sameQuota(e.quota, c.Quota) {
		e.observeQuota(c.Quota, c.OutcomeSeq)
	}
	e.quota = c.Quota
	cleared := false
	for key, seq := range e.pending {
		if c.OutcomeSeq >= seq {
			delete(e.pending, key)
			cleared = true
		}
	}
	p.reindex(e, now)
	return e, cleared
}

func (p *schedPolicy) remove(id int64) {
	e, ok := p.entries[id]
	if !ok {
		return
	}
	for mi, el := range e.elems {
		if el != nil {
			p.queues[mi].Remove(el)
		}
	}
	for mi, pos := range e.hpos {
		if pos >= 0 {
			heap.Remove(p.heaps[mi], pos)
		}
	}
	e.removed = true
	delete(p.entries, id)
}

// pendingKey returns which readiness an outcome puts on hold until the
// credential reports back, or "" for none.
func pendingKey(model string, o providers.Outcome) string {
	switch o.Kind {
	case providers.KindRateLimited, providers.KindQuotaExhausted, providers.KindOverloaded:
		if o.Scope == providers.ScopeCredential {
			return storage.AllModels
		}
		return model
	case providers.KindModelUnsupported:
		return model
	case providers.KindAuthExpired, providers.KindAuthRevoked, providers.KindBanned, providers.KindIneligible:
		return storage.AllModels
	case providers.KindOK, providers.KindTransient, providers.KindBadRequest, providers.KindAbandoned:
	}
	return ""
}

// release ends one grant of e. When the outcome changes readiness, e is held
// back under seq until the credential reports. probe says whether the grant
// was a probe after a cooldown: a success ends probing, anything else lets
// the next request probe (a new cooldown, if any, arrives with the report).
func (p *schedPolicy) release(e *schedEntry, model string, o providers.Outcome, seq uint64, probe bool, now time.Time) {
	if e.inflight > 0 {
		e.inflight--
	}
	e.inflightBy.release(model)
	if o.Kind == providers.KindOK && len(e.spend) > 0 {
		e.countSpent(model, seq, now)
	}
	if len(e.ramp) > 0 {
		for _, key := range [...]string{model, storage.AllModels} {
			n, ok := e.ramp[key]
			switch {
			case !ok:
			case o.Kind != providers.KindOK:
				// A failure: a new cooldown follows, and its probe.
				delete(e.ramp, key)
			case n+1 >= rampDone:
				delete(e.ramp, key)
			default:
				e.ramp[key] = n + 1
			}
		}
	}
	if probe && len(e.probes) > 0 {
		for _, key := range [...]string{model, storage.AllModels} {
			if _, ok := e.probes[key]; !ok {
				continue
			}
			if o.Kind == providers.KindOK {
				delete(e.probes, key)
				if e.ramp == nil {
					e.ramp = make(map[string]int, 1)
				}
				e.ramp[key] = 2 // the probe's success doubles it
			} else {
				e.probes[key] = false
			}
		}
	}
	if key := pendingKey(model, o); key != "" {
		if e.pending == nil {
			e.pending = make(map[string]uint64, 1)
		}
		e.pending[key] = seq
	}
	p.reindex(e, now)
}

// pick grants a credential for model, or returns nil. refresh collects
// entries whose token ran out and that should be asked to refresh.
func (p *schedPolicy) pick(a *Acquire, now time.Time, refresh *[]*schedEntry) *schedEntry {
	mi := p.queue(a.Model, now)
	usable := func(e *schedEntry) bool {
		return e != nil && !excluded(a.Exclude, e.id) && p.readyFor(e, a.Model, now)
	}
	if a.Prefer != 0 {
		if e := p.entries[a.Prefer]; usable(e) {
			e.pickReason = PickPreferred
			return p.grant(e, mi, a.Model, now)
		}
	}
	rebind := a.Affinity != ""
	if rebind {
		if id, ok := p.affinity[a.Affinity]; ok {
			e := p.entries[id]
			if usable(e) {
				e.pickReason = PickAffinity
				return p.grant(e, mi, a.Model, now)
			}
			// Keep the binding through a failover (the request already
			// tried something) and while the bound credential lives.
			rebind = e == nil || !e.alive() || len(a.Exclude) == 0
		}
	}
	if p.routing == routeQuota {
		best := p.pickRanked(a, mi, now, refresh)
		if best == nil {
			return nil
		}
		if rebind {
			p.bind(a.Affinity, best.id)
		}
		return p.grant(best, mi, a.Model, now)
	}
	q := p.queues[mi]
	var best *schedEntry
	for el := q.Front(); el != nil; {
		e := el.Value.(*schedEntry)
		next := el.Next()
		if !p.readyFor(e, a.Model, now) {
			q.Remove(el)
			e.elems[mi] = nil
			if e.needsRefresh(now) {
				e.refreshAsked = true
				*refresh = append(*refresh, e)
			}
			el = next
			continue
		}
		if excluded(a.Exclude, e.id) {
			el = next
			continue
		}
		best = e
		best.pickReason = PickLRU
		break
	}
	if best == nil {
		return nil
	}
	if rebind {
		p.bind(a.Affinity, best.id)
	}
	return p.grant(best, mi, a.Model, now)
}

// pickEnding grants, for a request about to be refused, a credential that
// will be ready for it within d: one whose cooldown ends by now+d and that
// nothing else holds back, the earliest such end first. With d = resetGrace
// that is a cooldown whose stated reset has passed and whose grace alone
// remains: the quota is back by the upstream's own word, and a refusal then
// is a client 429 while the credential has quota (issue 9: Gemini refusals
// at the hold's cap 5–14 ms before a cooldown's end, the quota reset 17–24
// ms before). The grant is that cooldown's probe. A credential ramping up
// after its probe succeeded is not held back by the ramp's cap here: its
// quota is proven and the estimate, when there is one, still bounds it
// (issue 9: Codex refusals at the cap while an account 835 ms past its
// reset, 13 requests left, ramped at 8 in flight on a loaded machine).
func (p *schedPolicy) pickEnding(a *Acquire, now time.Time, d time.Duration) *schedEntry {
	mi := p.queue(a.Model, now)
	var best *schedEntry
	var bestAt time.Time
	for _, e := range p.entries {
		// Ready by now+d, and not held back by a spent estimate now: a
		// reported reset is exact, unlike a cooldown's end, which has the
		// grace after it.
		if excluded(a.Exclude, e.id) || !p.readyBesidesRamp(e, a.Model, now.Add(d)) || p.spentOut(e, a.Model, now) {
			continue
		}
		at := now
		for _, key := range [...]string{a.Model, storage.AllModels} {
			if until, ok := e.cooldowns[key]; ok && until.After(at) {
				at = until
			}
		}
		if best == nil || at.Before(bestAt) || (at.Equal(bestAt) && e.id < best.id) {
			best, bestAt = e, at
		}
	}
	if best == nil {
		return nil
	}
	best.pickReason = PickCooldownEnding
	if rampFull(best, a.Model) {
		best.pickReason = PickPastRamp
	}
	return p.grant(best, mi, a.Model, now)
}

func (p *schedPolicy) grant(e *schedEntry, mi int, model string, now time.Time) *schedEntry {
	e.inflight++
	e.inflightBy.add(model)
	e.served++
	e.lastUsed = now
	e.grantedProbe = false
	if len(e.probes) > 0 {
		for _, key := range [...]string{model, storage.AllModels} {
			if _, ok := e.probes[key]; ok {
				e.probes[key] = true
				e.grantedProbe = true
			}
		}
	}
	if el := e.elems[mi]; el != nil {
		p.queues[mi].MoveToBack(el)
	}
	p.grantSeq++
	e.grantSeq = p.grantSeq
	if mi < len(e.hpos) && e.hpos[mi] >= 0 {
		heap.Fix(p.heaps[mi], e.hpos[mi])
	}
	if e.grantedProbe || (p.maxInflight > 0 && e.inflight >= p.maxInflight) {
		p.reindex(e, now)
	}
	return e
}

func (p *schedPolicy) bind(key string, id int64) {
	if _, ok := p.affinity[key]; !ok {
		if len(p.affinityOrder) < affinityCap {
			p.affinityOrder = append(p.affinityOrder, key)
		} else {
			delete(p.affinity, p.affinityOrder[p.affinityNext])
			p.affinityOrder[p.affinityNext] = key
			p.affinityNext = (p.affinityNext + 1) % affinityCap
		}
	}
	p.affinity[key] = id
}

// availability describes why nothing is ready for a request.
type availability struct {
	// candidates: some credential could serve the model later.
	candidates bool
	// earliest is the earliest known time a candidate's cooldown ends.
	earliest time.Time
	// soon: a candidate may become ready at an unknown but near time
	// (refreshing, awaiting its report, or busy under the in-flight cap).
	soon bool
}

// unavailable explains an empty pick. It scans the pool, which is fine on
// this path: it runs once per request that finds nothing ready.
func (p *schedPolicy) unavailable(a *Acquire, now time.Time, refresh *[]*schedEntry) availability {
	var av availability
	for _, e := range p.entries {
		if !e.alive() || excluded(a.Exclude, e.id) {
			continue
		}
		av.candidates = true
		if !e.tokenValid(now) {
			if e.needsRefresh(now) {
				e.refreshAsked = true
				*refresh = append(*refresh, e)
			}
			av.soon = true
			continue
		}
		if len(e.pending) > 0 || (p.maxInflight > 0 && e.inflight >= p.maxInflight) ||
			(len(e.probes) > 0 && (e.probes[storage.AllModels] || e.probes[a.Model])) {
			av.soon = true
			continue
		}
		var at time.Time
		if until, ok := e.cooldowns[storage.AllModels]; ok && until.After(at) {
			at = until
		}
		if until, ok := e.cooldowns[a.Model]; ok && until.After(at) {
			at = until
		}
		if p.spentOut(e, a.Model, now) {
			if _, reset, _ := headroom(e, a.Model, now); reset.After(at) {
				at = reset
			}
		}
		if !at.After(now) {
			av.soon = true // ready now; a reindex is due
			continue
		}
		if av.earliest.IsZero() || at.Before(av.earliest) {
			av.earliest = at
		}
	}
	return av
}

// dueWakes pops the ids whose cooldowns ended by now.
func (p *schedPolicy) dueWakes(now time.Time) []int64 {
	var ids []int64
	for len(p.wakes) > 0 && !p.wakes[0].at.After(now) {
		ids = append(ids, heap.Pop(&p.wakes).(wakeItem).id)
	}
	return ids
}

// nextWake returns when the next cooldown ends.
func (p *schedPolicy) nextWake() (time.Time, bool) {
	if len(p.wakes) == 0 {
		return time.Time{}, false
	}
	return p.wakes[0].at, true
}

func excluded(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
