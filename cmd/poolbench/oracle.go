package main

import (
	"time"
)

// oracle replays arrivals with perfect knowledge of every account's quota:
// a request is served at once by an account with quota left for its model
// (the one whose window ends soonest: that quota is lost first), or else at
// the earliest reset within queueTimeout, or not at all.
type oracle struct {
	window time.Duration
	quota  int
	// offsets are the accounts' window offsets from the start of the run.
	offsets      []time.Duration
	queueTimeout time.Duration
	// shared: one quota per account for all models (Codex).
	shared bool
	// used[account][model or ""][window index] counts spent requests.
	used []map[string]map[int64]int
}

func newOracle(window time.Duration, quota int, offsets []time.Duration, queueTimeout time.Duration, shared bool) *oracle {
	o := &oracle{window: window, quota: quota, offsets: offsets, queueTimeout: queueTimeout, shared: shared,
		used: make([]map[string]map[int64]int, len(offsets))}
	for i := range o.used {
		o.used[i] = map[string]map[int64]int{}
	}
	return o
}

// windowAt returns account i's window index at t and when it ends.
func (o *oracle) windowAt(i int, t time.Duration) (int64, time.Duration) {
	since := t - o.offsets[i]
	idx := int64(since / o.window)
	if since < 0 && since%o.window != 0 {
		idx--
	}
	return idx, o.offsets[i] + time.Duration(idx+1)*o.window
}

// serve takes one request at t; it reports whether it was served and after
// how long a wait.
func (o *oracle) serve(t time.Duration, model string) (bool, time.Duration) {
	key := model
	if o.shared {
		key = ""
	}
	best, bestIdx := -1, int64(0)
	var bestEnd time.Duration
	// At once: the account whose window ends soonest.
	for i := range o.offsets {
		idx, end := o.windowAt(i, t)
		if o.used[i][key][idx] < o.quota && (best < 0 || end < bestEnd) {
			best, bestIdx, bestEnd = i, idx, end
		}
	}
	if best >= 0 {
		o.take(best, key, bestIdx)
		return true, 0
	}
	// Else at the earliest reset within the queue timeout.
	var at time.Duration
	for i := range o.offsets {
		idx, end := o.windowAt(i, t)
		if o.used[i][key][idx+1] < o.quota && (best < 0 || end < at) {
			best, bestIdx, at = i, idx+1, end
		}
	}
	if best >= 0 && at-t <= o.queueTimeout {
		o.take(best, key, bestIdx)
		return true, at - t
	}
	return false, 0
}

func (o *oracle) take(i int, key string, idx int64) {
	m := o.used[i][key]
	if m == nil {
		m = map[int64]int{}
		o.used[i][key] = m
	}
	m[idx]++
}

// unused counts the quota left unused in the windows that lie wholly
// between from and to, for the given quota keys (models, or "" when shared).
func (o *oracle) unused(from, to time.Duration, keys []string) int {
	if o.shared {
		keys = []string{""}
	}
	n := 0
	for i := range o.offsets {
		first, _ := o.windowAt(i, from)
		for idx := first; ; idx++ {
			start := o.offsets[i] + time.Duration(idx)*o.window
			if start+o.window > to {
				break
			}
			if start < from {
				continue
			}
			for _, k := range keys {
				n += o.quota - o.used[i][k][idx]
			}
		}
	}
	return n
}
