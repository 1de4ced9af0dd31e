package keyring

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// window is the span of the requests-per-minute limit.
const window = time.Minute

// concurrencyRetry is the Retry-After of a concurrency refusal: a slot
// frees when some request ends, which nobody can predict.
const concurrencyRetry = time.Second

// usageState is one key's limit counters, shared by every version of the
// key.
type usageState struct {
	lastUsed atomic.Int64

	// mu guards the following fields.
	mu       sync.Mutex
	inflight int64
	// times is a ring of the admission times (unix ns) of the requests in
	// the last minute, oldest at head; n are in use. It grows with the
	// traffic, up to the requests-per-minute limit.
	times []int64
	head  int
	n     int
	// day and month index the periods dayTokens and monthTokens count.
	day, month             int64
	dayTokens, monthTokens int64
	// reserved is what the requests in flight reserved of the token limits;
	// avgTokens is the running average cost of a request (0: none yet).
	reserved, avgTokens int64
}

// Limit names a limit in refusals and headers.
type Limit string

// The limits.
const (
	LimitRequestsPerMinute  Limit = "requests_per_minute"
	LimitConcurrentRequests Limit = "concurrent_requests"
	LimitTokensPerDay       Limit = "tokens_per_day"
	LimitTokensPerMonth     Limit = "tokens_per_month"
)

// Denial is a refusal by one of the key's own limits.
type Denial struct {
	Limit Limit
	// Value is the limit's setting.
	Value int64
	// RetryAfter is how long until the limit frees.
	RetryAfter time.Duration
	// Message tells the client it is the key's own limit.
	Message string
	// pending: tokens are left, but the requests in flight reserved them.
	pending bool
}

// Quota is what the rate-limit headers report after an admission or a
// refusal. A zero limit means the key has none of that kind.
type Quota struct {
	Requests, RequestsRemaining int64
	RequestsReset               time.Duration
	// Tokens is the tighter token limit (day or month) with its remainder.
	Tokens, TokensRemaining int64
	TokensReset             time.Duration
}

// Ticket is an admitted request. Done must be called exactly once.
type Ticket struct {
	st *usageState
	// reserved is the request's share of the token limits (checkTokens).
	reserved int64
}

// Admit admits one request under the key's limits, or refuses it with the
// first limit reached (nothing is counted then). The quota is filled only
// when wantQuota is set (it is what the OpenAI headers need).
func (k *Key) Admit(now time.Time, wantQuota bool) (Ticket, Quota, *Denial) {
	l, st := k.Limits, k.state
	st.mu.Lock()
	st.roll(now)
	var (
		d       *Denial
		reserve int64
	)
	if l.ConcurrentRequests > 0 && st.inflight >= l.ConcurrentRequests {
		d = &Denial{Limit: LimitConcurrentRequests, Value: l.ConcurrentRequests, RetryAfter: concurrencyRetry}
	}
	if d == nil {
		d, reserve = st.checkTokens(l, now)
	}
	if d == nil && l.RequestsPerMinute > 0 {
		// Last: it is the one check that records the admission.
		d = st.takeSlot(l.RequestsPerMinute, now)
	}
	if d == nil {
		st.inflight++
		st.reserved += reserve
	}
	var q Quota
	if wantQuota {
		q = st.quota(l, now)
	}
	st.mu.Unlock()
	if d != nil {
		if d.pending {
			d.Message = fmt.Sprintf("key %q is at its own limit of %s: the tokens it has left are taken by its requests still running; retry in %s. This is the key's limit set by the gateway operator, not the shared pool's",
				k.Name, describe(d.Limit, d.Value), roundUp(d.RetryAfter))
		} else {
			d.Message = fmt.Sprintf("key %q reached its own limit of %s; it frees in %s. This is the key's limit set by the gateway operator, not the shared pool's",
				k.Name, describe(d.Limit, d.Value), roundUp(d.RetryAfter))
		}
		return Ticket{}, q, d
	}
	return Ticket{st: st, reserved: reserve}, q, nil
}

// checkTokens applies the token limits: none left → refused until the
// period turns. Otherwise each admitted request reserves what the key's
// requests have cost on average (the first one, with no average yet, all
// that is left), and a request is refused for a moment while the requests
// in flight have reserved what is left. One request at a time can still
// take the key past its limit (its cost is known only when it ends), but a
// burst of concurrent requests cannot. Callers hold mu.
func (st *usageState) checkTokens(l Limits, now time.Time) (*Denial, int64) {
	if l.TokensPerDay <= 0 && l.TokensPerMonth <= 0 {
		return nil, 0
	}
	var (
		limit Limit
		value int64
		left  int64
		reset time.Duration
	)
	if l.TokensPerDay > 0 {
		limit, value, left, reset = LimitTokensPerDay, l.TokensPerDay, l.TokensPerDay-st.dayTokens, nextDay(now).Sub(now)
	}
	if m := l.TokensPerMonth - st.monthTokens; l.TokensPerMonth > 0 && (limit == "" || m < left) {
		limit, value, left, reset = LimitTokensPerMonth, l.TokensPerMonth, m, nextMonth(now).Sub(now)
	}
	if left <= 0 {
		return &Denial{Limit: limit, Value: value, RetryAfter: reset}, 0
	}
	need := left
	if st.avgTokens > 0 {
		need = st.avgTokens
	}
	if st.reserved > 0 && st.reserved+need > left {
		return &Denial{Limit: limit, Value: value, RetryAfter: concurrencyRetry, pending: true}, 0
	}
	return nil, need
}

// takeSlot records an admission in the requests-per-minute window, or
// refuses it. Callers hold mu.
func (st *usageState) takeSlot(perMinute int64, now time.Time) *Denial {
	limit := int(perMinute)
	ns := now.UnixNano()
	st.expire(now)
	if st.n > limit {
		// The limit was lowered: only the newest admissions matter.
		st.resize(limit)
	}
	if st.n >= limit {
		return &Denial{Limit: LimitRequestsPerMinute, Value: perMinute,
			RetryAfter: time.Duration(st.times[st.head] + int64(window) - ns)}
	}
	if st.n == len(st.times) {
		st.resize(min(limit, max(minWindow, 2*len(st.times))))
	}
	st.times[(st.head+st.n)%len(st.times)] = ns
	st.n++
	return nil
}

// Done ends an admitted request: it frees the request's concurrency slot
// and token reservation, and charges its tokens (input + output as the
// upstream reported them; 0 when unknown) to the current day and month.
func (t Ticket) Done(now time.Time, tokens int64) {
	st := t.st
	if st == nil {
		return
	}
	st.mu.Lock()
	st.roll(now)
	if st.inflight > 0 {
		st.inflight--
	}
	st.reserved = max(0, st.reserved-t.reserved)
	if tokens > 0 {
		st.dayTokens += tokens
		st.monthTokens += tokens
		// A running average weighted 1/8 to the newest request.
		if st.avgTokens == 0 {
			st.avgTokens = tokens
		} else {
			st.avgTokens = max(1, (7*st.avgTokens+tokens)/8)
		}
	}
	st.mu.Unlock()
}

// Valid reports whether t is an admission (not the zero Ticket).
func (t Ticket) Valid() bool { return t.st != nil }

// roll starts new day and month counters when the period changed.
func (st *usageState) roll(now time.Time) {
	if d := dayIndex(now); d != st.day {
		st.day, st.dayTokens = d, 0
	}
	if m := monthIndex(now); m != st.month {
		st.month, st.monthTokens = m, 0
	}
}

// expire drops the admissions older than the window.
func (st *usageState) expire(now time.Time) {
	cutoff := now.UnixNano() - int64(window)
	for st.n > 0 && st.times[st.head] <= cutoff {
		st.head = (st.head + 1) % len(st.times)
		st.n--
	}
}

// minWindow is the smallest window ring; it grows by doubling up to the
// limit, so a key's memory follows its traffic, not its limit.
const minWindow = 8

// resize gives the window ring capacity size, keeping the newest
// admissions.
func (st *usageState) resize(size int) {
	keep := min(st.n, size)
	times := make([]int64, size)
	for i := range keep {
		times[i] = st.times[(st.head+st.n-keep+i)%len(st.times)]
	}
	// (keep is 0 whenever the old ring is empty, so no modulo by zero.)
	st.times, st.head, st.n = times, 0, keep
}

// quota reads the headers' figures. Callers hold mu.
func (st *usageState) quota(l Limits, now time.Time) Quota {
	var q Quota
	if l.RequestsPerMinute > 0 {
		q.Requests = l.RequestsPerMinute
		q.RequestsRemaining = max(0, l.RequestsPerMinute-int64(st.n))
		if st.n > 0 {
			q.RequestsReset = time.Duration(st.times[st.head] + int64(window) - now.UnixNano())
		}
	}
	if l.TokensPerDay > 0 {
		q.Tokens, q.TokensRemaining, q.TokensReset = l.TokensPerDay, max(0, l.TokensPerDay-st.dayTokens), nextDay(now).Sub(now)
	}
	if l.TokensPerMonth > 0 {
		if left := max(0, l.TokensPerMonth-st.monthTokens); q.Tokens == 0 || left < q.TokensRemaining {
			q.Tokens, q.TokensRemaining, q.TokensReset = l.TokensPerMonth, left, nextMonth(now).Sub(now)
		}
	}
	return q
}

// describe renders a limit for a message.
func describe(l Limit, v int64) string {
	switch l {
	case LimitRequestsPerMinute:
		return fmt.Sprintf("%d requests per minute", v)
	case LimitConcurrentRequests:
		return fmt.Sprintf("%d concurrent requests", v)
	case LimitTokensPerDay:
		return fmt.Sprintf("%d tokens per day (UTC)", v)
	case LimitTokensPerMonth:
		return fmt.Sprintf("%d tokens per month (UTC)", v)
	}
	return string(l)
}

// roundUp renders d in whole seconds, at least 1 s.
func roundUp(d time.Duration) time.Duration {
	if d < time.Second {
		return time.Second
	}
	return ((d + time.Second - 1) / time.Second) * time.Second
}

func dayIndex(t time.Time) int64 { return t.Unix() / 86400 }

func monthIndex(t time.Time) int64 {
	u := t.UTC()
	return int64(u.Year())*12 + int64(u.Month()) - 1
}

// nextDay is the next UTC midnight after t.
func nextDay(t time.Time) time.Time {
	u := t.UTC()
	return time.Date(u.Year(), u.Month(), u.Day()+1, 0, 0, 0, 0, time.UTC)
}

// nextMonth is the first instant of the next UTC month after t.
func nextMonth(t time.Time) time.Time {
	u := t.UTC()
	return time.Date(u.Year(), u.Month()+1, 1, 0, 0, 0, 0, time.UTC)
}
