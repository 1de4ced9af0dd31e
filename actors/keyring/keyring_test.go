package keyring

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollux-gateway/pollux/storage"
)

var t0 = time.Date(2026, 3, 31, 23, 59, 0, 0, time.UTC)

func newKey(t *testing.T, l Limits) (*Ring, *Key) {
	t.Helper()
	r := New(func() time.Time { return t0 })
	k := r.Put(storage.MemberKey{ID: 1, Name: "alice", Digest: Digest("pk-alice"),
		RequestsPerMinute: l.RequestsPerMinute, ConcurrentRequests: l.ConcurrentRequests,
		TokensPerDay: l.TokensPerDay, TokensPerMonth: l.TokensPerMonth})
	return r, k
}

// step is one call on a key: admit at an offset from t0 (and, with done,
// end the admitted request charging tokens), expecting a verdict.
type step struct {
	at      time.Duration
	done    bool
	tokens  int64
	denied  Limit
	retryIn time.Duration
}

func TestAdmitLimits(t *testing.T) {
	tests := []struct {
		name   string
		limits Limits
		steps  []step
	}{
		{
			name:   "requests per minute is a sliding window",
			limits: Limits{RequestsPerMinute: 3},
			steps: []step{
				{at: 0, done: true}, {at: 10 * time.Second, done: true}, {at: 20 * time.Second, done: true},
				{at: 30 * time.Second, denied: LimitRequestsPerMinute, retryIn: 30 * time.Second},
				{at: 59 * time.Second, denied: LimitRequestsPerMinute, retryIn: time.Second},
				{at: 60 * time.Second, done: true},
				{at: 61 * time.Second, denied: LimitRequestsPerMinute, retryIn: 9 * time.Second},
				{at: 70 * time.Second, done: true},
			},
		},
		{
			name:   "concurrency frees when a request ends",
			limits: Limits{ConcurrentRequests: 2},
			steps: []step{
				{at: 0}, {at: 0},
				{at: 0, denied: LimitConcurrentRequests, retryIn: time.Second},
			},
		},
		{
			name:   "tokens per day: one request overshoots, the next waits for midnight UTC",
			limits: Limits{TokensPerDay: 100},
			steps: []step{
				{at: 0, done: true, tokens: 60},
				{at: time.Second, done: true, tokens: 90},
				{at: 2 * time.Second, denied: LimitTokensPerDay, retryIn: 58 * time.Second},
				{at: 60 * time.Second, done: true, tokens: 10},
			},
		},
		{
			name:   "tokens per month resets on the 1st",
			limits: Limits{TokensPerMonth: 10},
			steps: []step{
				{at: 0, done: true, tokens: 10},
				{at: 30 * time.Second, denied: LimitTokensPerMonth, retryIn: 30 * time.Second},
				{at: time.Minute, done: true},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, k := newKey(t, tc.limits)
			for i, s := range tc.steps {
				now := t0.Add(s.at)
				tk, _, d := k.Admit(now, false)
				switch {
				case s.denied == "" && d != nil:
					t.Fatalf("step %d: refused by %s, want admitted", i, d.Limit)
				case s.denied != "" && d == nil:
					t.Fatalf("step %d: admitted, want refused by %s", i, s.denied)
				case d != nil && (d.Limit != s.denied || d.RetryAfter != s.retryIn):
					t.Fatalf("step %d: refused by %s retry in %s, want %s in %s", i, d.Limit, d.RetryAfter, s.denied, s.retryIn)
				}
				if s.done {
					tk.Done(now, s.tokens)
				}
			}
		})
	}
}

func TestConcurrencyFreesOnDone(t *testing.T) {
	_, k := newKey(t, Limits{ConcurrentRequests: 1})
	a, _, d := k.Admit(t0, false)
	if d != nil {
		t.Fatal(d.Message)
	}
	if _, _, d := k.Admit(t0, false); d == nil {
		t.Fatal("second concurrent request admitted")
	}
	a.Done(t0, 0)
	if _, _, d := k.Admit(t0, false); d != nil {
		t.Fatalf("refused after the first ended: %s", d.Message)
	}
}

func TestDenialMessageNamesTheKeysOwnLimit(t *testing.T) {
	_, k := newKey(t, Limits{RequestsPerMinute: 1})
	k.Admit(t0, false)
	_, q, d := k.Admit(t0.Add(15*time.Second), true)
	if d == nil {
		t.Fatal("admitted")
	}
	want := `key "alice" reached its own limit of 1 requests per minute; it frees in 45s. This is the key's limit set by the gateway operator, not the shared pool's`
	if d.Message != want {
		t.Errorf("message\n got %s\nwant %s", d.Message, want)
	}
	if q.Requests != 1 || q.RequestsRemaining != 0 || q.RequestsReset != 45*time.Second {
		t.Errorf("quota %+v", q)
	}
}

// TestAdmitExactUnderConcurrency: 64 goroutines at once never get more than
// the limit.
func TestAdmitExactUnderConcurrency(t *testing.T) {
	for _, l := range []Limits{{RequestsPerMinute: 10}, {ConcurrentRequests: 7}} {
		_, k := newKey(t, l)
		var admitted atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 64 {
			wg.Go(func() {
				<-start
				if _, _, d := k.Admit(t0, false); d == nil {
					admitted.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		want := max(l.RequestsPerMinute, l.ConcurrentRequests)
		if got := admitted.Load(); got != want {
			t.Errorf("%+v: admitted %d of 64, want %d", l, got, want)
		}
	}
}

func TestLimitChangeKeepsCounters(t *testing.T) {
	r, k := newKey(t, Limits{RequestsPerMinute: 5})
	for range 4 {
		k.Admit(t0, false)
	}
	row := k.Row()
	row.RequestsPerMinute = 2
	k2 := r.Put(row)
	if _, _, d := k2.Admit(t0, false); d == nil {
		t.Fatal("admitted after lowering the limit below the requests of the last minute")
	}
	row.RequestsPerMinute = 6
	k3 := r.Put(row)
	if _, _, d := k3.Admit(t0, false); d != nil {
		t.Fatalf("refused after raising the limit: %s", d.Message)
	}
}

func TestAuthorize(t *testing.T) {
	now := t0
	r := New(func() time.Time { return now })
	r.Put(storage.MemberKey{ID: 1, Name: "a", Digest: Digest("pk-a")})
	r.Put(storage.MemberKey{ID: 2, Name: "b", Digest: Digest("pk-b"), Disabled: true})
	r.Put(storage.MemberKey{ID: 3, Name: "c", Digest: Digest("pk-c"), Expires: t0.Add(time.Hour)})
	for _, tc := range []struct {
		secret string
		at     time.Duration
		want   Verdict
	}{
		{"pk-a", 0, Valid}, {"pk-x", 0, Unknown}, {"pk-b", 0, Disabled},
		{"pk-c", 0, Valid}, {"pk-c", time.Hour, Expired},
	} {
		now = t0.Add(tc.at)
		if _, v := r.Authorize(Digest(tc.secret)); v != tc.want {
			t.Errorf("%s at +%s: verdict %d, want %d", tc.secret, tc.at, v, tc.want)
		}
	}
	// Rotation retires the old secret in the same store.
	row := r.Get(1).Row()
	row.Digest = Digest("pk-a2")
	r.Put(row)
	if _, v := r.Authorize(Digest("pk-a")); v != Unknown {
		t.Errorf("old secret after rotation: verdict %d", v)
	}
	if k, v := r.Authorize(Digest("pk-a2")); v != Valid || k.ID != 1 {
		t.Errorf("new secret after rotation: verdict %d", v)
	}
	r.Remove(1)
	if _, v := r.Authorize(Digest("pk-a2")); v != Unknown || r.Len() != 2 {
		t.Errorf("after remove: verdict %d, len %d", v, r.Len())
	}
}

func TestAllowLists(t *testing.T) {
	r := New(nil)
	k := r.Put(storage.MemberKey{ID: 1, Name: "a", Digest: Digest("x"), Surfaces: []string{"codex"},
		Models: []string{"gemini-2.5-*", "gpt-5"}})
	for _, tc := range []struct {
		model string
		want  bool
	}{{"gemini-2.5-pro", true}, {"models/gemini-2.5-flash", true}, {"gemini-3-pro", false}, {"gpt-5", true}, {"gpt-5-codex", false}} {
		if got := k.AllowsModel(tc.model); got != tc.want {
			t.Errorf("AllowsModel(%s) = %v", tc.model, got)
		}
	}
	if k.AllowsSurface("geminicli") || !k.AllowsSurface("codex") {
		t.Error("surface allow-list not applied")
	}
	all := r.Put(storage.MemberKey{ID: 2, Name: "b", Digest: Digest("y")})
	if !all.AllowsSurface("geminicli") || !all.AllowsModel("anything") {
		t.Error("empty allow-lists must allow all")
	}
}

func TestValidation(t *testing.T) {
	known := func(m string) bool { return m == "gpt-5" }
	tests := []struct {
		name  string
		err   error
		field string
	}{
		{"negative limit", Limits{TokensPerDay: -1}.Validate(), "limits.tokens_per_day"},
		{"huge rpm", Limits{RequestsPerMinute: 1e6}.Validate(), "limits.requests_per_minute"},
		{"bad glob", second(NormalizeModels([]string{"gpt-5", "gemini-[", "x"}, known)), "models[1]"},
		{"unknown model", second(NormalizeModels([]string{"gpt-4"}, known)), "models[0]"},
		{"unknown surface", second(NormalizeSurfaces([]string{"codex", "anthropic"})), "surfaces[1]"},
	}
	for _, tc := range tests {
		var fe *FieldError
		if !errors.As(tc.err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: error %v, want one naming %s", tc.name, tc.err, tc.field)
		}
	}
	if got, err := NormalizeModels([]string{"models/gpt-5", "gpt-5", "gemini-*"}, known); err != nil || len(got) != 2 {
		t.Errorf("NormalizeModels = %v, %v", got, err)
	}
}

func second[T any](_ T, err error) error { return err }

// TestWindowGrowsWithTraffic: a high requests-per-minute limit costs memory
// only for the requests actually made, and still holds exactly.
func TestWindowGrowsWithTraffic(t *testing.T) {
	_, k := newKey(t, Limits{RequestsPerMinute: 100_000})
	for i := range 20 {
		if _, _, d := k.Admit(t0.Add(time.Duration(i)*time.Millisecond), false); d != nil {
			t.Fatal(d.Message)
		}
	}
	if n := len(k.state.times); n > 32 {
		t.Errorf("window ring holds %d slots after 20 requests", n)
	}
	_, small := newKey(t, Limits{RequestsPerMinute: 50})
	admitted := 0
	for i := range 120 {
		if _, _, d := small.Admit(t0.Add(time.Duration(i)*time.Millisecond), false); d == nil {
			admitted++
		}
	}
	if admitted != 50 || len(small.state.times) != 50 {
		t.Errorf("admitted %d with a ring of %d, want 50 and 50", admitted, len(small.state.times))
	}
}

// TestTokenLimitsHoldUnderConcurrency: requests in flight reserve tokens,
// so a burst cannot take a key past its token limit; only one request at
// a time can overshoot.
func TestTokenLimitsHoldUnderConcurrency(t *testing.T) {
	_, k := newKey(t, Limits{TokensPerDay: 100})
	admit := func(step string, want bool) Ticket {
		t.Helper()
		tk, _, d := k.Admit(t0, false)
		if (d == nil) != want {
			t.Fatalf("%s: admitted %v, want %v (%v)", step, d == nil, want, d)
		}
		if d != nil && (d.RetryAfter != time.Second || !strings.Contains(d.Message, "taken by its requests still running")) {
			t.Fatalf("%s: %+v", step, d)
		}
		return tk
	}
	first := admit("the first request reserves all that is left", true)
	admit("a second while the first runs, its cost unknown", false)
	first.Done(t0, 30) // average 30, 70 left
	a := admit("reserves 30 of 70", true)
	b := admit("reserves 60 of 70", true)
	admit("90 of 70 would be reserved", false)
	a.Done(t0, 30)
	b.Done(t0, 30) // 90 used, 10 left, average 30
	c := admit("nothing in flight: one request may overshoot", true)
	admit("while the overshooting one runs", false)
	c.Done(t0, 30)
	if _, _, d := k.Admit(t0, false); d == nil || d.Limit != LimitTokensPerDay || d.RetryAfter != time.Minute {
		t.Fatalf("after the limit: %+v", d)
	}
	// 64 at once on a fresh key: exactly one is admitted.
	_, fresh := newKey(t, Limits{TokensPerMonth: 1000})
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			if _, _, d := fresh.Admit(t0, false); d == nil {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	if admitted.Load() != 1 {
		t.Errorf("admitted %d of 64 on a fresh key, want 1", admitted.Load())
	}
}

// TestSeedKeepsTheAverageAcrossARestart: a key's first request after a
// restart used to reserve everything left of its token limit, so every
// other concurrent request of that key was refused until the first one
// ended (minutes, for a long stream). Seeding the stored average lets a
// burst in that fits the budget through, and still holds the limit.
func TestSeedKeepsTheAverageAcrossARestart(t *testing.T) {
	tests := []struct {
		name         string
		day, avg     int64
		wantAdmitted int64
	}{
		{"no history: one request at a time", 0, 0, 1},
		{"average 100, 1000 left: ten at once", 0, 100, 10},
		{"average 100, 250 left: two at once", 750, 100, 2},
		{"spent: none", 1000, 100, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, k := newKey(t, Limits{TokensPerDay: 1000})
			r.Seed(k.ID, tc.day, tc.day, tc.avg)
			var admitted atomic.Int64
			var wg sync.WaitGroup
			for range 64 {
				wg.Go(func() {
					if _, _, d := k.Admit(t0, false); d == nil {
						admitted.Add(1)
					}
				})
			}
			wg.Wait()
			if got := admitted.Load(); got != tc.wantAdmitted {
				t.Errorf("admitted %d of 64, want %d", got, tc.wantAdmitted)
			}
		})
	}
}
