package actors

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/storage"
)

func readyChange(id int64) *CredentialChanged {
	return &CredentialChanged{ID: id, Status: storage.StatusActive, AccessToken: config.Secret("tok"),
		Expiry: t0.Add(time.Hour)}
}

func newPolicyWith(t *testing.T, n int, maxInflight int) *schedPolicy {
	t.Helper()
	p := newSchedPolicy(maxInflight)
	for i := 1; i <= n; i++ {
		p.upsert(readyChange(int64(i)), t0)
	}
	return p
}

func pickID(p *schedPolicy, a *Acquire, now time.Time) int64 {
	var refresh []*schedEntry
	if e := p.pick(a, now, &refresh); e != nil {
		return e.id
	}
	return 0
}

func TestPickIsFairLRU(t *testing.T) {
	p := newPolicyWith(t, 5, 0)
	counts := map[int64]int{}
	last := map[int64]int{}
	for i := 0; i < 500; i++ {
		id := pickID(p, &Acquire{Model: "m"}, t0)
		if id == 0 {
			t.Fatal("no credential granted")
		}
		if prev, ok := last[id]; ok && i-prev != 5 {
			t.Fatalf("credential %d used again after %d grants, want every 5th (round robin)", id, i-prev)
		}
		last[id] = i
		counts[id]++
	}
	for id, n := range counts {
		if n != 100 {
			t.Errorf("credential %d served %d of 500, want 100", id, n)
		}
	}
}

func TestPickRespectsCooldownScope(t *testing.T) {
	tests := []struct {
		name      string
		cooldowns map[string]time.Time
		model     string
		at        time.Time
		wantReady bool
	}{
		{"other model cooling", map[string]time.Time{"b": t0.Add(time.Minute)}, "a", t0, true},
		{"same model cooling", map[string]time.Time{"a": t0.Add(time.Minute)}, "a", t0, false},
		{"credential-wide cooling", map[string]time.Time{storage.AllModels: t0.Add(time.Minute)}, "a", t0, false},
		{"cooldown over", map[string]time.Time{"a": t0.Add(time.Minute)}, "a", t0.Add(time.Minute), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newSchedPolicy(0)
			c := readyChange(1)
			c.Cooldowns = tt.cooldowns
			p.upsert(c, t0)
			if got := pickID(p, &Acquire{Model: tt.model}, tt.at) == 1; got != tt.wantReady {
				t.Errorf("granted = %v, want %v", got, tt.wantReady)
			}
		})
	}
}

func TestPickSkipsExpiredTokensAndAsksForRefresh(t *testing.T) {
	p := newSchedPolicy(0)
	c := readyChange(1)
	c.Expiry = t0.Add(10 * time.Second) // inside tokenSkew
	p.upsert(c, t0)
	var refresh []*schedEntry
	if e := p.pick(&Acquire{Model: "m"}, t0, &refresh); e != nil {
		t.Fatal("granted a credential whose token is about to expire")
	}
	av := p.unavailable(&Acquire{Model: "m"}, t0, &refresh)
	if len(refresh) != 1 || refresh[0].id != 1 || !av.soon {
		t.Fatalf("refresh asked for %d entries (soon=%v), want credential 1", len(refresh), av.soon)
	}
	refresh = nil
	p.unavailable(&Acquire{Model: "m"}, t0, &refresh)
	if len(refresh) != 0 {
		t.Fatal("asked for the same refresh twice")
	}
}

func TestExcludeAndPrefer(t *testing.T) {
	p := newPolicyWith(t, 3, 0)
	if id := pickID(p, &Acquire{Model: "m", Exclude: []int64{1, 2}}, t0); id != 3 {
		t.Errorf("with 1,2 excluded got %d, want 3", id)
	}
	if id := pickID(p, &Acquire{Model: "m", Exclude: []int64{1, 2, 3}}, t0); id != 0 {
		t.Errorf("with all excluded got %d, want none", id)
	}
	if id := pickID(p, &Acquire{Model: "m", Prefer: 2}, t0); id != 2 {
		t.Errorf("prefer 2 got %d", id)
	}
}

func TestAffinity(t *testing.T) {
	p := newPolicyWith(t, 4, 0)
	first := pickID(p, &Acquire{Model: "m", Affinity: "conv-1"}, t0)
	for i := 0; i < 10; i++ {
		pickID(p, &Acquire{Model: "m"}, t0) // other traffic rotates
		if got := pickID(p, &Acquire{Model: "m", Affinity: "conv-1"}, t0); got != first {
			t.Fatalf("affinity request %d went to %d, want %d", i, got, first)
		}
	}
	// A failover (this request already tried the bound one) goes elsewhere
	// without moving the binding.
	if got := pickID(p, &Acquire{Model: "m", Affinity: "conv-1", Exclude: []int64{first}}, t0); got == first || got == 0 {
		t.Fatalf("failover went to %d", got)
	}
	if got := pickID(p, &Acquire{Model: "m", Affinity: "conv-1"}, t0); got != first {
		t.Fatalf("after failover the conversation moved to %d, want %d", got, first)
	}
	// When the bound credential cools down, a fresh request rebinds.
	c := readyChange(first)
	c.Cooldowns = map[string]time.Time{"m": t0.Add(time.Hour)}
	p.upsert(c, t0)
	moved := pickID(p, &Acquire{Model: "m", Affinity: "conv-1"}, t0)
	if moved == first || moved == 0 {
		t.Fatalf("bound credential cooling: got %d", moved)
	}
	if got := pickID(p, &Acquire{Model: "m", Affinity: "conv-1"}, t0); got != moved {
		t.Fatalf("rebinding did not stick: got %d, want %d", got, moved)
	}
}

func TestPendingHoldsCredentialUntilReport(t *testing.T) {
	p := newPolicyWith(t, 1, 0)
	e := p.pick(&Acquire{Model: "m"}, t0, new([]*schedEntry))
	p.release(e, "m", providers.Outcome{Kind: providers.KindRateLimited}, 7, false, t0)
	if id := pickID(p, &Acquire{Model: "m"}, t0); id != 0 {
		t.Fatal("granted a credential whose 429 the credential has not processed yet")
	}
	if id := pickID(p, &Acquire{Model: "other"}, t0); id != 1 {
		t.Fatal("a model-scoped hold blocked another model")
	}
	stale := readyChange(1)
	stale.OutcomeSeq = 6
	p.upsert(stale, t0)
	if id := pickID(p, &Acquire{Model: "m"}, t0); id != 0 {
		t.Fatal("an older report released the hold")
	}
	fresh := readyChange(1)
	fresh.OutcomeSeq = 7
	p.upsert(fresh, t0)
	if id := pickID(p, &Acquire{Model: "m"}, t0); id != 1 {
		t.Fatal("the credential's report did not release the hold")
	}
}

func TestInflightCap(t *testing.T) {
	p := newPolicyWith(t, 2, 1)
	a := p.pick(&Acquire{Model: "m"}, t0, new([]*schedEntry))
	b := p.pick(&Acquire{Model: "m"}, t0, new([]*schedEntry))
	if a == nil || b == nil || a == b {
		t.Fatalf("want two distinct grants, got %v %v", a, b)
	}
	if id := pickID(p, &Acquire{Model: "m"}, t0); id != 0 {
		t.Fatalf("cap 1 exceeded: granted %d", id)
	}
	av := p.unavailable(&Acquire{Model: "m"}, t0, new([]*schedEntry))
	if !av.candidates || !av.soon {
		t.Fatalf("busy pool: %+v, want candidates and soon", av)
	}
	p.release(a, "m", providers.Outcome{Kind: providers.KindOK}, 1, false, t0)
	if id := pickID(p, &Acquire{Model: "m"}, t0); id != a.id {
		t.Fatalf("after release got %d, want %d", id, a.id)
	}
}

func TestUnavailable(t *testing.T) {
	tests := []struct {
		name    string
		changes []*CredentialChanged
		want    availability
	}{
		{"empty pool", nil, availability{}},
		{"only banned", []*CredentialChanged{{ID: 1, Status: storage.StatusBanned}}, availability{}},
		{"two cooling: earliest wins", []*CredentialChanged{
			{ID: 1, Status: storage.StatusActive, AccessToken: "t", Expiry: t0.Add(time.Hour), Cooldowns: map[string]time.Time{"m": t0.Add(time.Hour)}},
			{ID: 2, Status: storage.StatusCooling, AccessToken: "t", Expiry: t0.Add(time.Hour), Cooldowns: map[string]time.Time{storage.AllModels: t0.Add(time.Minute)}},
		}, availability{candidates: true, earliest: t0.Add(time.Minute)}},
		{"refreshing is soon", []*CredentialChanged{{ID: 1, Status: storage.StatusActive, Refreshing: true}}, availability{candidates: true, soon: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newSchedPolicy(0)
			for _, c := range tt.changes {
				p.upsert(c, t0)
			}
			got := p.unavailable(&Acquire{Model: "m"}, t0, new([]*schedEntry))
			if got.candidates != tt.want.candidates || got.soon != tt.want.soon || !got.earliest.Equal(tt.want.earliest) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestWakesBringCredentialsBack(t *testing.T) {
	p := newSchedPolicy(0)
	c := readyChange(1)
	c.Cooldowns = map[string]time.Time{"m": t0.Add(time.Minute)}
	p.upsert(c, t0)
	pickID(p, &Acquire{Model: "m"}, t0) // creates the queue
	next, ok := p.nextWake()
	if !ok || !next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("next wake = %v %v, want %v", next, ok, t0.Add(time.Minute))
	}
	later := t0.Add(time.Minute)
	for _, id := range p.dueWakes(later) {
		p.reindex(p.entries[id], later)
	}
	if q := p.queues[p.modelIdx["m"]]; q.Len() != 1 {
		t.Fatalf("queue length after wake = %d, want 1", q.Len())
	}
}

// TestProbeThenRelease: a credential whose cooldown just ended takes one
// request; only that request's success lets the next ones through, a failure
// lets another request probe. Issue 9 saw 22 parked requests handed at once
// to the one account that had just reset, and 22 429s.
func TestProbeThenRelease(t *testing.T) {
	wake := t0.Add(time.Minute)
	tests := []struct {
		name        string
		key         string // cooldown key
		model       string // model of the probe
		probe       providers.Kind
		wantAfter   bool // a second request is granted after the probe's outcome
		otherModel  string
		wantOtherOK bool // a request for otherModel is granted while the probe is out
	}{
		{name: "credential-wide: success releases", key: storage.AllModels, model: "m", probe: providers.KindOK,
			wantAfter: true, otherModel: "n", wantOtherOK: false},
		{name: "credential-wide: transient failure lets another probe", key: storage.AllModels, model: "m",
			probe: providers.KindTransient, wantAfter: true, otherModel: "n", wantOtherOK: false},
		{name: "model cooldown: another model is not held", key: "m", model: "m", probe: providers.KindOK,
			wantAfter: true, otherModel: "n", wantOtherOK: true},
		{name: "model cooldown: 429 holds until the report", key: "m", model: "m", probe: providers.KindRateLimited,
			wantAfter: false, otherModel: "n", wantOtherOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPolicyWith(t, 0, 0)
			c := readyChange(1)
			c.Cooldowns = map[string]time.Time{tt.key: wake}
			p.upsert(c, t0)
			if id := pickID(p, &Acquire{Model: tt.model}, t0); id != 0 {
				t.Fatalf("granted %d while cooling", id)
			}
			// The cooldown ends; the credential reports it gone.
			p.upsert(readyChange(1), wake)
			first := p.pick(&Acquire{Model: tt.model}, wake, new([]*schedEntry))
			if first == nil || !first.grantedProbe {
				t.Fatalf("first request after the cooldown: %v, want a probe grant", first)
			}
			if id := pickID(p, &Acquire{Model: tt.model}, wake); id != 0 {
				t.Fatal("a second request went to the credential while its probe was out")
			}
			if got := pickID(p, &Acquire{Model: tt.otherModel}, wake) != 0; got != tt.wantOtherOK {
				t.Fatalf("other model granted = %v, want %v", got, tt.wantOtherOK)
			}
			p.release(first, tt.model, providers.Outcome{Kind: tt.probe}, 1, true, wake)
			second := p.pick(&Acquire{Model: tt.model}, wake, new([]*schedEntry))
			if (second != nil) != tt.wantAfter {
				t.Fatalf("after a %v probe granted = %v, want %v", tt.probe, second != nil, tt.wantAfter)
			}
			if second == nil {
				return
			}
			if tt.probe == providers.KindOK {
				if second.grantedProbe {
					t.Fatal("after a successful probe the next grant is still a probe")
				}
				// The ramp lets one more through for each success.
				p.release(second, tt.model, providers.Outcome{Kind: providers.KindOK}, 2, false, wake)
				if id := pickID(p, &Acquire{Model: tt.model}, wake); id != 1 {
					t.Fatal("after a successful probe the credential does not take more requests")
				}
			} else if !second.grantedProbe {
				t.Fatal("after a failed probe the next grant is not a probe")
			}
		})
	}
}

// TestProbeAfterRestart: cooldowns loaded after a restart are probed too, so
// a restart in the middle of cooldowns cannot herd a credential either.
func TestProbeAfterRestart(t *testing.T) {
	p := newPolicyWith(t, 0, 0)
	c := readyChange(1)
	c.Cooldowns = map[string]time.Time{storage.AllModels: t0.Add(time.Second)}
	p.upsert(c, t0)
	later := t0.Add(2 * time.Second)
	if id := pickID(p, &Acquire{Model: "m"}, later); id != 1 {
		t.Fatal("credential not granted after its cooldown")
	}
	if id := pickID(p, &Acquire{Model: "m"}, later); id != 0 {
		t.Fatal("second request granted before the probe's verdict")
	}
	av := p.unavailable(&Acquire{Model: "m"}, later, new([]*schedEntry))
	if !av.candidates || !av.soon {
		t.Fatalf("probe out: %+v, want candidates and soon", av)
	}
}

// TestQuotaRoutingOrder: quota routing spends first the quota that resets
// soonest, keeps nearly spent credentials for last, ranks credentials with
// no report in between, and rotates credentials whose quotas reset together
// least recently used first (issue 9).
func TestQuotaRoutingOrder(t *testing.T) {
	const model = "m"
	bucket := func(remaining float64, resetIn time.Duration) []providers.QuotaBucket {
		return []providers.QuotaBucket{{Model: model, Remaining: remaining, ResetAt: t0.Add(resetIn)}}
	}
	tests := []struct {
		name    string
		routing routing
		quota   map[int64][]providers.QuotaBucket // by credential 1..n
		n       int
		want    []int64 // ids of successive picks (each released at once)
		// rotate: instead of want, 2n picks must cycle through all n
		// credentials twice in the same order (the queue's initial order is
		// not fixed).
		rotate bool
		reason string // reason of the first pick
	}{
		{
			name: "the window that resets in 5 minutes before the one in 5 hours", routing: routeQuota, n: 2,
			quota: map[int64][]providers.QuotaBucket{1: bucket(0.9, 5*time.Hour), 2: bucket(0.3, 5*time.Minute)},
			want:  []int64{2, 2, 2}, reason: PickSoonest,
		},
		{
			name: "nearly spent goes last, unknown in between", routing: routeQuota, n: 3,
			quota: map[int64][]providers.QuotaBucket{1: bucket(0.01, time.Minute), 3: bucket(0.5, time.Hour)},
			want:  []int64{3}, reason: PickSoonest,
		},
		{
			name: "unknown before nearly spent", routing: routeQuota, n: 2,
			quota: map[int64][]providers.QuotaBucket{1: bucket(0.01, time.Minute)},
			want:  []int64{2}, reason: PickUnknown,
		},
		{
			name: "nearly spent still serves when nothing else is ready", routing: routeQuota, n: 1,
			quota: map[int64][]providers.QuotaBucket{1: bucket(0.01, time.Minute)},
			want:  []int64{1}, reason: PickLowHeadway,
		},
		{
			name: "resets in the same second rotate", routing: routeQuota, n: 3,
			quota: map[int64][]providers.QuotaBucket{1: bucket(0.5, 10*time.Hour), 2: bucket(0.9, 10*time.Hour+300*time.Millisecond),
				3: bucket(0.2, 10*time.Hour+600*time.Millisecond)},
			rotate: true, reason: PickSoonest,
		},
		{
			name: "a reset one second sooner goes first", routing: routeQuota, n: 2,
			quota: map[int64][]providers.QuotaBucket{1: bucket(0.5, 10*time.Hour+time.Second), 2: bucket(0.9, 10*time.Hour)},
			want:  []int64{2, 2}, reason: PickSoonest,
		},
		{
			name: "an account-wide bucket applies to every model", routing: routeQuota, n: 2,
			quota: map[int64][]providers.QuotaBucket{1: {{Model: storage.AllModels, Remaining: 0.5, ResetAt: t0.Add(time.Minute)}},
				2: bucket(0.5, time.Hour)},
			want: []int64{1}, reason: PickSoonest,
		},
		{
			name: "a bucket whose reset has passed says nothing", routing: routeQuota, n: 2,
			quota: map[int64][]providers.QuotaBucket{1: bucket(0.001, -time.Second), 2: bucket(0.001, time.Hour)},
			want:  []int64{1}, reason: PickUnknown,
		},
		{
			name: "lru ignores quota", routing: routeLRU, n: 2,
			quota:  map[int64][]providers.QuotaBucket{1: bucket(0.9, 5*time.Hour), 2: bucket(0.3, 5*time.Minute)},
			rotate: true, reason: PickLRU,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newSchedPolicyRouting(0, tt.routing)
			for i := 1; i <= tt.n; i++ {
				c := readyChange(int64(i))
				c.Quota = tt.quota[int64(i)]
				p.upsert(c, t0)
			}
			want := tt.want
			if tt.rotate {
				want = make([]int64, 2*tt.n)
			}
			var got []int64
			for i := range want {
				e := p.pick(&Acquire{Model: model}, t0, new([]*schedEntry))
				if e == nil {
					t.Fatalf("pick %d: nothing granted", i)
				}
				if i == 0 && e.pickReason != tt.reason {
					t.Errorf("reason = %q, want %q", e.pickReason, tt.reason)
				}
				got = append(got, e.id)
				p.release(e, model, providers.Outcome{Kind: providers.KindOK}, 0, e.grantedProbe, t0)
			}
			if tt.rotate {
				seen := map[int64]bool{}
				for i, id := range got[:tt.n] {
					if seen[id] || got[i+tt.n] != id {
						t.Fatalf("picks %v: want every credential once per round, in the same order", got)
					}
					seen[id] = true
				}
				return
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("picks (-want +got):\n%s", diff)
			}
		})
	}
}

func BenchmarkQuotaPick(b *testing.B) {
	for _, n := range []int{100, 10000} {
		for _, r := range []struct {
			name string
			r    routing
		}{{"lru", routeLRU}, {"quota", routeQuota}} {
			b.Run(fmt.Sprintf("%s/%d", r.name, n), func(b *testing.B) {
				p := newSchedPolicyRouting(0, r.r)
				for i := 1; i <= n; i++ {
					c := readyChange(int64(i))
					c.Expiry = t0.Add(24 * time.Hour)
					c.Quota = []providers.QuotaBucket{{Model: "m", Remaining: 0.5, ResetAt: t0.Add(time.Duration(i%7) * time.Hour)}}
					p.upsert(c, t0)
				}
				a := &Acquire{Model: "m"}
				var refresh []*schedEntry
				b.ReportAllocs()
				for b.Loop() {
					e := p.pick(a, t0, &refresh)
					p.release(e, "m", providers.Outcome{Kind: providers.KindOK}, 0, false, t0)
				}
			})
		}
	}
}

// TestQuotaRankRefreshesAtReset: a nearly spent credential is back in
// rotation once its quota's reset passes (the scheduler's wake-up at the
// reset re-ranks it), without waiting for the next quota report.
func TestQuotaRankRefreshesAtReset(t *testing.T) {
	p := newSchedPolicyRouting(0, routeQuota)
	low := readyChange(1)
	low.Quota = []providers.QuotaBucket{{Model: "m", Remaining: 0.001, ResetAt: t0.Add(time.Minute)}}
	p.upsert(low, t0)
	p.upsert(readyChange(2), t0)
	e := p.pick(&Acquire{Model: "m"}, t0, new([]*schedEntry))
	if e == nil || e.id != 2 {
		t.Fatalf("before the reset picked %v, want 2 (1 is nearly spent)", e)
	}
	p.release(e, "m", providers.Outcome{Kind: providers.KindOK}, 0, false, t0)
	later := t0.Add(2 * time.Minute)
	for _, id := range p.dueWakes(later) {
		p.reindex(p.entries[id], later)
	}
	e = p.pick(&Acquire{Model: "m"}, later, new([]*schedEntry))
	if e == nil || e.id != 1 {
		t.Fatalf("after the reset picked %v, want 1 (refilled, least recently used)", e)
	}
}

// TestQuotaSpendEstimate: between two quota reports the scheduler counts
// what was spent, with the per-request cost learned from successive reports
// of one window, and moves a credential it estimates spent to the back
// before a 429 says so (issue 9: one wasted 429 per credential, model and
// window).
func TestQuotaSpendEstimate(t *testing.T) {
	p := newSchedPolicyRouting(0, routeQuota)
	reset := t0.Add(time.Hour)
	report := func(id int64, remaining float64) {
		c := readyChange(id)
		c.Quota = []providers.QuotaBucket{{Model: "m", Remaining: remaining, ResetAt: reset}}
		p.upsert(c, t0)
	}
	report(1, 1)
	report(2, 1)
	e1 := p.entries[1]
	for range 2 {
		e1.inflight++
		p.release(e1, "m", providers.Outcome{Kind: providers.KindOK}, 0, false, t0)
	}
	report(1, 0.5) // two requests cost half: 0.25 each
	if got := e1.spend["m"].cost; got != 0.25 {
		t.Fatalf("learned cost %v, want 0.25", got)
	}
	for range 2 {
		e1.inflight++
		p.release(e1, "m", providers.Outcome{Kind: providers.KindOK}, 0, false, t0)
	}
	if r := rankQuota(e1, "m", t0); r.tier != tierLow {
		t.Fatalf("after spending the estimated rest: rank %+v, want nearly spent", r)
	}
	// Credential 2 (no cost learned: its report stands) goes first now.
	if id := pickID(p, &Acquire{Model: "m"}, t0); id != 2 {
		t.Fatalf("picked %d, want 2", id)
	}
	// A new window forgets the count, keeps the cost.
	c := readyChange(1)
	c.Quota = []providers.QuotaBucket{{Model: "m", Remaining: 1, ResetAt: reset.Add(time.Hour)}}
	p.upsert(c, t0)
	if r := rankQuota(e1, "m", t0); r.tier != tierHeadroom || e1.spend["m"].cost != 0.25 {
		t.Fatalf("new window: rank %+v cost %v, want headroom and the cost kept", r, e1.spend["m"].cost)
	}
}

// TestQuotaReportAfterAFullSuccessList: more successes than the list keeps
// (maxOKSeqs), then a report covering them: the dropped ones count as
// covered and the list is trimmed without running past its end (this
// crashed the scheduler under sustained load on one credential).
func TestQuotaReportAfterAFullSuccessList(t *testing.T) {
	p := newSchedPolicyRouting(0, routeQuota)
	reset := t0.Add(time.Hour)
	report := func(remaining float64, seq uint64) {
		c := readyChange(1)
		c.Quota = []providers.QuotaBucket{{Model: "m", Remaining: remaining, ResetAt: reset}}
		c.OutcomeSeq = seq
		p.upsert(c, t0)
	}
	report(1, 0)
	e := p.entries[1]
	const n = maxOKSeqs + 900
	for i := range n {
		e.inflight++
		p.release(e, "m", providers.Outcome{Kind: providers.KindOK}, uint64(i+1), false, t0)
	}
	report(0.9, n-10) // covers all but the last ten
	tr := e.spend["m"]
	if tr.oks != 10 || len(tr.okSeqs) != 10 || tr.okSeqs[0] != n-9 {
		t.Fatalf("after the report: oks %d, listed %d (first %v), want the 10 uncovered", tr.oks, len(tr.okSeqs), tr.okSeqs)
	}
}

// TestRampAfterProbe: after a successful probe a credential takes two
// requests at once, then one more for each success, so the herd of waiters
// released to it is no larger than what it has proven to serve (issue 9).
func TestRampAfterProbe(t *testing.T) {
	p := newPolicyWith(t, 0, 0)
	c := readyChange(1)
	c.Cooldowns = map[string]time.Time{storage.AllModels: t0.Add(time.Second)}
	p.upsert(c, t0)
	now := t0.Add(2 * time.Second)
	p.upsert(readyChange(1), now)
	probe := p.pick(&Acquire{Model: "m"}, now, new([]*schedEntry))
	p.release(probe, "m", providers.Outcome{Kind: providers.KindOK}, 1, true, now)
	var out []*schedEntry
	for {
		e := p.pick(&Acquire{Model: "m"}, now, new([]*schedEntry))
		if e == nil {
			break
		}
		out = append(out, e)
	}
	if len(out) != 2 {
		t.Fatalf("after the probe %d granted at once, want 2", len(out))
	}
	p.release(out[0], "m", providers.Outcome{Kind: providers.KindOK}, 2, false, now)
	n := 0
	for p.pick(&Acquire{Model: "m"}, now, new([]*schedEntry)) != nil {
		n++
	}
	if n != 2 {
		t.Fatalf("after one more success %d granted, want 2 (cap 3, one still in flight)", n)
	}
}

// TestQuotaReportsOutOfOrder: within one window a report that shows more
// left than the last one is an older answer that finished late; it must not
// raise the estimate (issue 9: under load it let requests through to 429s).
func TestQuotaReportsOutOfOrder(t *testing.T) {
	p := newSchedPolicyRouting(0, routeQuota)
	reset := t0.Add(time.Hour)
	report := func(remaining float64) {
		c := readyChange(1)
		c.Quota = []providers.QuotaBucket{{Model: "m", Remaining: remaining, ResetAt: reset}}
		p.upsert(c, t0)
	}
	report(0.5)
	e := p.entries[1]
	e.inflight++
	p.release(e, "m", providers.Outcome{Kind: providers.KindOK}, 0, false, t0)
	report(0.4)
	report(0.45) // late
	if tr := e.spend["m"]; tr.base != 0.4 || math.Abs(tr.cost-0.1) > 1e-9 {
		t.Fatalf("base %v cost %v, want 0.4 and 0.1", tr.base, tr.cost)
	}
}

// TestQuotaLateReportUncounts: two requests in flight on one account; the
// upstream serves A then B, but B's answer (its report includes A) arrives
// first. A's late report must uncount A and correct the cost sample B's
// report gave, or the account is kept out of rotation with quota left
// (issue 9: Codex client 429s while an account had one request left).
func TestQuotaLateReportUncounts(t *testing.T) {
	p := newSchedPolicyRouting(0, routeQuota)
	reset := t0.Add(time.Hour)
	report := func(remaining float64) {
		c := readyChange(1)
		c.Quota = []providers.QuotaBucket{{Model: storage.AllModels, Remaining: remaining, ResetAt: reset}}
		p.upsert(c, t0)
	}
	ok := providers.Outcome{Kind: providers.KindOK}
	report(0.30)
	e := p.entries[1]
	e.inflight++
	p.release(e, "m", ok, 0, false, t0)
	report(0.20) // one request: cost 0.1
	e.inflight += 2
	p.release(e, "m", ok, 0, false, t0) // B
	report(0.00)                        // B's report, A included: sample 0.2
	p.release(e, "m", ok, 0, false, t0) // A
	report(0.10)                        // A's report, late
	tr := e.spend[storage.AllModels]
	if tr.oks != 0 || math.Abs(tr.cost-0.1) > 1e-9 {
		t.Fatalf("oks %d cost %v, want 0 and 0.1", tr.oks, tr.cost)
	}
	// With one request left, answers in or out of order: it stays in
	// rotation.
	for _, tc := range []struct {
		name       string
		late       bool
		wantPicked bool
	}{
		{"answers in order", false, true},
		{"late answer", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newSchedPolicyRouting(0, routeQuota)
			report := func(remaining float64) {
				c := readyChange(1)
				c.Quota = []providers.QuotaBucket{{Model: storage.AllModels, Remaining: remaining, ResetAt: reset}}
				p.upsert(c, t0)
			}
			report(0.4)
			e := p.entries[1]
			e.inflight++
			p.release(e, "m", ok, 0, false, t0)
			report(0.3) // cost 0.1: three requests left
			e.inflight += 2
			if tc.late {
				p.release(e, "m", ok, 0, false, t0)
				report(0.1)
				p.release(e, "m", ok, 0, false, t0)
				report(0.2)
			} else {
				p.release(e, "m", ok, 0, false, t0)
				report(0.2)
				p.release(e, "m", ok, 0, false, t0)
				report(0.1)
			}
			if got := pickID(p, &Acquire{Model: "m"}, t0) == 1; got != tc.wantPicked {
				left, _, _ := headroom(e, "m", t0)
				t.Fatalf("picked %v, want %v (estimated left %v)", got, tc.wantPicked, left)
			}
		})
	}
}

// TestQuotaCostSampleCorrections: a cost sample is corrected when a later
// report shows how many requests the sampled report really covered, in both
// directions (issue 9: costs learned too cheap sent requests to accounts
// whose window had run out; too dear kept accounts with quota idle).
func TestQuotaCostSampleCorrections(t *testing.T) {
	ok := providers.Outcome{Kind: providers.KindOK}
	reset := t0.Add(time.Hour)
	type step struct {
		release  bool    // a request finishes
		report   float64 // then (when > 0) a report with this much left
		inflight int     // requests in flight after the step
	}
	for _, tc := range []struct {
		name     string
		steps    []step
		wantCost float64
		wantOks  int
	}{
		{"in order", []step{{true, 0.8, 0}, {true, 0.7, 0}}, 0.1, 0},
		// Served A, B upstream; B's answer (covering both) first.
		{"late older answer", []step{{true, 0.8, 1}, {true, 0.6, 1}, {true, 0.7, 0}}, 0.1, 0},
		// X and Y finish, X's report covers X only, then Y's.
		{"newer answer after two counts", []step{{true, 0.8, 2}, {true, 0, 1}, {true, 0.7, 0}, {false, 0.6, 0}}, 0.1, 0},
		// Same, but something is still in flight: the drop could be an
		// uncounted request, so the sample stays as it was. The report at
		// 0.8 was taken with three in flight, which it may have counted:
		// the two successes after it may be one new request, so the
		// sample at 0.7 is not taken cheaper than 0.1.
		{"newer answer with one in flight", []step{{true, 0.8, 3}, {true, 0, 2}, {true, 0.7, 1}, {false, 0.6, 1}}, 0.1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newSchedPolicyRouting(0, routeQuota)
			c := readyChange(1)
			c.Quota = []providers.QuotaBucket{{Model: "m", Remaining: 0.9, ResetAt: reset}}
			p.upsert(c, t0)
			e := p.entries[1]
			for _, s := range tc.steps {
				if s.release {
					e.inflight++
					p.release(e, "m", ok, 0, false, t0)
				}
				setInflight(e, "m", s.inflight)
				if s.report > 0 {
					c := readyChange(1)
					c.Quota = []providers.QuotaBucket{{Model: "m", Remaining: s.report, ResetAt: reset}}
					p.upsert(c, t0)
				}
			}
			tr := e.spend["m"]
			if math.Abs(tr.cost-tc.wantCost) > 1e-9 || tr.oks != tc.wantOks {
				t.Fatalf("cost %v oks %d, want %v and %d", tr.cost, tr.oks, tc.wantCost, tc.wantOks)
			}
		})
	}
}

// TestSpentOutRoundsToWholeRequests: an estimate within half a request's
// cost of zero means spent (a request sent there collects a 429); more than
// half a request left means one is left.
func TestSpentOutRoundsToWholeRequests(t *testing.T) {
	reset := t0.Add(time.Hour)
	for _, tc := range []struct {
		name      string
		lastLeft  float64 // reported after one request at cost 0.1 (from 0.9+0.1)
		inflight  int
		wantSpent bool
	}{
		{"a whole request left", 0.1, 0, false},
		{"one in flight takes the last", 0.1, 1, true},
		{"a sliver left by a cheap estimate", 0.14, 1, true},
		{"more than half a request left", 0.16, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newSchedPolicyRouting(0, routeQuota)
			report := func(remaining float64) {
				c := readyChange(1)
				c.Quota = []providers.QuotaBucket{{Model: "m", Remaining: remaining, ResetAt: reset}}
				p.upsert(c, t0)
			}
			report(tc.lastLeft + 0.1)
			e := p.entries[1]
			e.inflight++
			p.release(e, "m", providers.Outcome{Kind: providers.KindOK}, 0, false, t0)
			report(tc.lastLeft)
			setInflight(e, "m", tc.inflight)
			if got := p.spentOut(e, "m", t0); got != tc.wantSpent {
				t.Fatalf("spent out %v, want %v", got, tc.wantSpent)
			}
		})
	}
}

// TestQuotaSampleCoversReportedOutcomesOnly: a report published after
// outcome n covers the successes up to n; one that finished after it (its
// release reached the scheduler before the report did) is not in the
// sample's divisor and stays counted against the new report (issue 9: a
// cost learned at half its worth let bursts of requests through to an
// account whose window had run out).
func TestQuotaSampleCoversReportedOutcomesOnly(t *testing.T) {
	ok := providers.Outcome{Kind: providers.KindOK}
	reset := t0.Add(time.Hour)
	for _, tc := range []struct {
		name      string
		reportSeq uint64 // the outcome the second report follows
		wantCost  float64
		wantOks   int
	}{
		{"report after both outcomes", 2, 0.1, 0},
		{"report after the first, second finished meanwhile", 1, 0.1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newSchedPolicyRouting(0, routeQuota)
			report := func(remaining float64, seq uint64) {
				c := readyChange(1)
				c.OutcomeSeq = seq
				c.Quota = []providers.QuotaBucket{{Model: storage.AllModels, Remaining: remaining, ResetAt: reset}}
				p.upsert(c, t0)
			}
			report(0.9, 0)
			e := p.entries[1]
			setInflight(e, "m", 2)
			p.release(e, "m", ok, 1, false, t0)
			p.release(e, "m", ok, 2, false, t0)
			want := 0.7 // both requests reported
			if tc.reportSeq == 1 {
				want = 0.8 // only the first
			}
			report(want, tc.reportSeq)
			tr := e.spend[storage.AllModels]
			if math.Abs(tr.cost-tc.wantCost) > 1e-9 || tr.oks != tc.wantOks {
				t.Fatalf("cost %v oks %d, want %v and %d", tr.cost, tr.oks, tc.wantCost, tc.wantOks)
			}
			// The estimate counts the unreported success: 0.7 left either way.
			if left, _, _ := headroom(e, "m", t0); math.Abs(left-0.7) > 1e-9 {
				t.Fatalf("estimated left %v, want 0.7", left)
			}
			if tc.reportSeq == 1 {
				// The second's own report then settles it.
				report(0.7, 2)
				if tr.oks != 0 || math.Abs(tr.cost-0.1) > 1e-9 {
					t.Fatalf("after the second report: cost %v oks %d, want 0.1 and 0", tr.cost, tr.oks)
				}
			}
		})
	}
}

// TestLastRequestWaitsForInflight: with one request's worth of quota left,
// it is granted only when nothing else is in flight on the credential (the
// answers in flight settle the estimate first); with more left, requests
// go out concurrently (issue 9: bursts of wasted 429s on the last requests
// of a Codex window).
func TestLastRequestWaitsForInflight(t *testing.T) {
	ok := providers.Outcome{Kind: providers.KindOK}
	reset := t0.Add(time.Hour)
	for _, tc := range []struct {
		name     string
		left     float64 // reported, at cost 0.1 a request
		inflight int
		want     bool
	}{
		{"one left, none in flight", 0.1, 0, true},
		{"two left, one in flight: the last would go concurrently", 0.2, 1, false},
		{"three left, one in flight", 0.3, 1, true},
		{"three left, two in flight", 0.3, 2, false},
		{"five left, three in flight", 0.5, 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newSchedPolicyRouting(0, routeQuota)
			report := func(remaining float64) {
				c := readyChange(1)
				c.Quota = []providers.QuotaBucket{{Model: "m", Remaining: remaining, ResetAt: reset}}
				p.upsert(c, t0)
			}
			report(tc.left + 0.1)
			e := p.entries[1]
			setInflight(e, "m", 1)
			p.release(e, "m", ok, 0, false, t0)
			report(tc.left) // cost 0.1
			setInflight(e, "m", tc.inflight)
			p.reindex(e, t0)
			if got := pickID(p, &Acquire{Model: "m"}, t0) == 1; got != tc.want {
				left, _, _ := headroom(e, "m", t0)
				t.Fatalf("granted %v, want %v (estimated left %v)", got, tc.want, left)
			}
		})
	}
	t.Run("lru routing keeps no estimate", func(t *testing.T) {
		p := newSchedPolicy(0)
		p.upsert(readyChange(1), t0)
		e := p.entries[1]
		setInflight(e, "m", 5)
		if !p.readyFor(e, "m", t0) {
			t.Fatal("lru: not ready")
		}
	})
}

// setInflight puts n requests for model in flight on e, as grants would.
func setInflight(e *schedEntry, model string, n int) {
	e.inflight = n
	for i := range e.inflightBy {
		if e.inflightBy[i].model == model {
			e.inflightBy[i].n = n
			return
		}
	}
	e.inflightBy = append(e.inflightBy, modelCount{model: model, n: n})
}

// TestQuotaEstimateCountsInflightPerModel: a model's own quota is spent only
// by the requests in flight for that model; an account-wide quota by all of
// them (issue 9: a Gemini credential estimated spent on one model, with a
// request left, while a request for the other model was in flight on it).
func TestQuotaEstimateCountsInflightPerModel(t *testing.T) {
	ok := providers.Outcome{Kind: providers.KindOK}
	reset := t0.Add(time.Hour)
	for _, tc := range []struct {
		name     string
		bucket   string // the quota's model
		inflight string // the model of the request in flight
		want     bool   // the last request for "m" is granted
	}{
		{"model quota, the other model's request in flight", "m", "n", true},
		{"model quota, a request for the same model in flight", "m", "m", false},
		{"account-wide quota, the other model's request in flight", storage.AllModels, "n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newSchedPolicyRouting(0, routeQuota)
			report := func(left float64, seq uint64) {
				c := readyChange(1)
				c.OutcomeSeq = seq
				c.Quota = []providers.QuotaBucket{{Model: tc.bucket, Remaining: left, ResetAt: reset}}
				if tc.bucket != storage.AllModels {
					c.Quota = append(c.Quota, providers.QuotaBucket{Model: "n", Remaining: 1, ResetAt: reset})
				}
				p.upsert(c, t0)
			}
			report(0.5, 0)
			if id := pickID(p, &Acquire{Model: "m"}, t0); id != 1 {
				t.Fatalf("first request: picked %d, want 1", id)
			}
			p.release(p.entries[1], "m", ok, 1, false, t0)
			report(0.25, 1) // cost 0.25: one request left for m
			if id := pickID(p, &Acquire{Model: tc.inflight}, t0); id != 1 {
				t.Fatalf("request for %s: picked %d, want 1", tc.inflight, id)
			}
			if got := pickID(p, &Acquire{Model: "m"}, t0) == 1; got != tc.want {
				left, _, _ := headroom(p.entries[1], "m", t0)
				t.Fatalf("last request for m granted %v, want %v (estimated left %v)", got, tc.want, left)
			}
		})
	}
}

// TestBoundedSample: a cost sample known to lie in [lo, hi] takes the
// estimate so far where it fits, else the nearest bound; hi without one.
func TestBoundedSample(t *testing.T) {
	for _, tc := range []struct {
		name          string
		prior, lo, hi float64
		want          float64
	}{
		{"no estimate yet: the sure divisor", 0, 0.25, 0.5, 0.5},
		{"the estimate fits", 0.25, 0.25, 0.5, 0.25},
		{"dearer than the estimate for sure", 0.2, 0.25, 0.5, 0.25},
		{"cheaper than the estimate for sure", 0.6, 0.25, 0.5, 0.5},
		{"nothing unsure", 0.3, 0.25, 0.25, 0.25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := boundedSample(tc.prior, tc.lo, tc.hi); got != tc.want {
				t.Fatalf("boundedSample(%v, %v, %v) = %v, want %v", tc.prior, tc.lo, tc.hi, got, tc.want)
			}
		})
	}
}

// TestQuotaReportCountingInflight: a quota report that counted a request
// still in flight does not make requests look dearer than they are, so a
// credential whose window reset serves its whole quota (issue 9: a Gemini
// credential estimated spent with one request left, at 150 % load).
func TestQuotaReportCountingInflight(t *testing.T) {
	ok := providers.Outcome{Kind: providers.KindOK}
	reset := t0.Add(10 * time.Minute)
	p := newSchedPolicyRouting(0, routeQuota)
	report := func(left float64, seq uint64) {
		c := readyChange(1)
		c.OutcomeSeq = seq
		c.Quota = []providers.QuotaBucket{{Model: "m", Remaining: left, ResetAt: reset}}
		p.upsert(c, t0)
	}
	report(1, 0)
	if id := pickID(p, &Acquire{Model: "m"}, t0); id != 1 {
		t.Fatalf("picked %d, want 1", id)
	}
	e := p.entries[1]
	p.release(e, "m", ok, 1, false, t0)
	report(0.75, 1) // four requests a window: 0.25 each
	for i := range 2 {
		if id := pickID(p, &Acquire{Model: "m"}, t0); id != 1 {
			t.Fatalf("request %d: picked %d, want 1", i, id)
		}
	}
	p.release(e, "m", ok, 2, false, t0)
	report(0.25, 2) // both counted upstream, one still in flight
	if got := e.spend["m"].cost; math.Abs(got-0.25) > 1e-9 {
		t.Fatalf("learned cost %v, want 0.25", got)
	}
	p.release(e, "m", ok, 3, false, t0)
	// The window resets: all four requests of the new one are served.
	now := reset.Add(time.Second)
	for _, id := range p.dueWakes(now) { // the scheduler's wake-up
		p.reindex(p.entries[id], now)
	}
	for i := range 4 {
		if id := pickID(p, &Acquire{Model: "m"}, now); id != 1 {
			left, _, _ := headroom(e, "m", now)
			t.Fatalf("new window, request %d: picked %d, want 1 (estimated left %v)", i, id, left)
		}
		p.release(e, "m", ok, uint64(4+i), false, now)
	}
	if id := pickID(p, &Acquire{Model: "m"}, now); id != 0 {
		t.Fatalf("a fifth request in the window: picked %d, want none", id)
	}
}

// TestQuotaRecheck: the credential is asked to read its quota again when the
// estimate has it spent for a model counting successes since a report that
// said quota was left, with nothing in flight on it; once per report, and
// never when the report itself said the quota was spent.
func TestQuotaRecheck(t *testing.T) {
	ok := providers.Outcome{Kind: providers.KindOK}
	reset := t0.Add(10 * time.Minute)
	for _, tc := range []struct {
		name string
		// lastLeft is the report read while the second request is in
		// flight; inflight requests are out when asked.
		lastLeft float64
		inflight int
		want     []bool // per ask, a new report between none
	}{
		{"spent by the estimate, nothing in flight: asked once", 0.5, 0, []bool{true, false}},
		{"a request in flight: not asked", 0.5, 1, []bool{false}},
		{"the report did not count the request in flight, the estimate has one left: not asked", 0.75, 0, []bool{false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newSchedPolicyRouting(0, routeQuota)
			report := func(left float64, seq uint64) {
				c := readyChange(1)
				c.OutcomeSeq = seq
				c.Quota = []providers.QuotaBucket{{Model: "m", Remaining: left, ResetAt: reset}}
				p.upsert(c, t0)
			}
			report(1, 0)
			pickID(p, &Acquire{Model: "m"}, t0)
			e := p.entries[1]
			p.release(e, "m", ok, 1, false, t0)
			report(0.75, 1) // a quarter a request
			for seq := uint64(2); seq <= 3; seq++ {
				if id := pickID(p, &Acquire{Model: "m"}, t0); id != 1 {
					t.Fatalf("request %d: picked %d, want 1", seq, id)
				}
				if seq == 2 {
					report(tc.lastLeft, 1)
				}
				p.release(e, "m", ok, seq, false, t0)
			}
			for range tc.inflight {
				setInflight(e, "m", e.inflightBy.get("m")+1)
			}
			for i, want := range tc.want {
				if got := p.quotaRecheck(e, "m", t0); got != want {
					t.Fatalf("ask %d: recheck = %v, want %v", i, got, want)
				}
			}
			if tc.inflight > 0 || !tc.want[0] {
				return
			}
			// The read asked for: one request left. The request the last
			// report counted in flight is not counted twice in the cost.
			report(0.25, 3)
			if got := e.spend["m"].cost; math.Abs(got-0.25) > 1e-9 {
				t.Errorf("learned cost %v after the read, want 0.25", got)
			}
			if id := pickID(p, &Acquire{Model: "m"}, t0); id != 1 {
				t.Fatalf("after the read: picked %d, want 1", id)
			}
			p.release(e, "m", ok, 4, false, t0)
			if id := pickID(p, &Acquire{Model: "m"}, t0); id != 0 {
				t.Fatalf("a fifth request in the window: picked %d, want none", id)
			}
		})
	}
}

// TestPickEnding: a request about to be refused takes a credential whose
// cooldown ends within the grace (its stated reset has passed), never one
// whose reported quota resets only later, nor one held back by anything
// else.
func TestPickEnding(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	now := t0.Add(time.Minute)
	for _, tc := range []struct {
		name    string
		cool    time.Duration // cooldown end from now (0: none)
		quota   []providers.QuotaBucket
		probing bool
		ramping bool // at the ramp's cap after a successful probe
		want    bool
	}{
		{"cooldown in its grace", ms(20), nil, false, false, true},
		{"cooldown beyond its grace", ms(40), nil, false, false, false},
		{"cooldown in its grace, its probe out", ms(20), nil, true, false, false},
		{"reported spent, reset after now", 0, []providers.QuotaBucket{{Model: "m", Remaining: 0, ResetAt: now.Add(ms(10))}}, false, false, false},
		{"cooling past a reset that has passed", ms(20), []providers.QuotaBucket{{Model: "m", Remaining: 0, ResetAt: now.Add(-ms(10))}}, false, false, true},
		{"ramping at its cap, headroom left", 0, []providers.QuotaBucket{{Model: "m", Remaining: 0.5, ResetAt: now.Add(time.Hour)}}, false, true, true},
		{"ramping at its cap, reported spent", 0, []providers.QuotaBucket{{Model: "m", Remaining: 0, ResetAt: now.Add(time.Hour)}}, false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newSchedPolicyRouting(0, routeQuota)
			c := readyChange(1)
			c.Quota = tc.quota
			if tc.cool > 0 {
				c.Cooldowns = map[string]time.Time{"m": now.Add(tc.cool)}
			}
			p.upsert(c, t0)
			if tc.probing {
				p.entries[1].probes["m"] = true
			}
			if tc.ramping {
				en := p.entries[1]
				en.ramp = map[string]int{"m": 2}
				setInflight(en, "m", 2)
				p.reindex(en, now)
			}
			if id := pickID(p, &Acquire{Model: "m"}, now); id != 0 {
				t.Fatalf("an ordinary pick granted %d", id)
			}
			e := p.pickEnding(&Acquire{Model: "m"}, now, resetGrace)
			if got := e != nil; got != tc.want {
				t.Fatalf("pickEnding granted = %v, want %v", got, tc.want)
			}
			if e != nil && !tc.ramping && !e.grantedProbe {
				t.Error("the grant is not the cooldown's probe")
			}
			if e != nil && tc.ramping && e.pickReason != PickPastRamp {
				t.Errorf("pick reason %q, want %q", e.pickReason, PickPastRamp)
			}
		})
	}
}
