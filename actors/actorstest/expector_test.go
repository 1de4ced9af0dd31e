package actorstest

import (
	"fmt"
	"testing"
	"time"
)

// fatalRecorder stands in for the test so a wait that times out can be
// seen failing.
type fatalRecorder struct {
	testing.TB
	failed string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

type ping struct{ n int }

type pong struct{}

func isPing(n int) func(any) bool {
	return func(m any) bool { p, ok := m.(*ping); return ok && p.n == n }
}

func TestExpectorNext(t *testing.T) {
	for _, tc := range []struct {
		name     string
		before   []any // observed by "a" before the wait
		after    []any // observed by "a" from another goroutine during it
		other    []any // observed by "b"
		match    func(any) bool
		want     any
		timesOut bool
	}{
		{name: "already handled", before: []any{&pong{}, &ping{1}}, match: isPing(1), want: &ping{1}},
		{name: "handled later", after: []any{&pong{}, &ping{2}}, match: isPing(2), want: &ping{2}},
		{name: "another actor's message does not count", other: []any{&ping{3}}, match: isPing(3), timesOut: true},
		{name: "nothing matches", before: []any{&pong{}}, after: []any{&ping{1}}, match: isPing(9), timesOut: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := NewExpector(200 * time.Millisecond)
			for _, m := range tc.before {
				x.Observe("a", m)
			}
			for _, m := range tc.other {
				x.Observe("b", m)
			}
			go func() {
				for _, m := range tc.after {
					x.Observe("a", m)
				}
			}()
			rec := &fatalRecorder{TB: t}
			got := x.Next(rec, "a", "the ping", tc.match)
			if tc.timesOut {
				if rec.failed == "" || got != nil {
					t.Fatalf("Next = %v with failure %q, want a timeout failure", got, rec.failed)
				}
				return
			}
			if rec.failed != "" || fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("Next = %v (failure %q), want %v", got, rec.failed, tc.want)
			}
		})
	}
}

// Next consumes: a second wait needs a second message.
func TestExpectorNextConsumes(t *testing.T) {
	x := NewExpector(100 * time.Millisecond)
	x.Observe("a", &ping{1})
	x.Next(t, "a", "the first ping", Is[*ping])
	rec := &fatalRecorder{TB: t}
	if got := x.Next(rec, "a", "a second ping", Is[*ping]); got != nil || rec.failed == "" {
		t.Fatalf("second Next = %v, failure %q; want a timeout", got, rec.failed)
	}
	x.Observe("a", &ping{2})
	if got := x.Next(t, "a", "the second ping", Is[*ping]); got.(*ping).n != 2 {
		t.Fatalf("got %v, want ping 2", got)
	}
}

// Until checks its condition at once and after each matching message only.
func TestExpectorUntil(t *testing.T) {
	x := NewExpector(100 * time.Millisecond)
	for _, m := range []any{&ping{1}, &pong{}, &pong{}, &ping{2}} {
		x.Observe("a", m)
	}
	checks := 0
	x.Until(t, "a", "the third check", Is[*ping], func() bool { checks++; return checks == 3 })
	if checks != 3 {
		t.Fatalf("condition checked %d times, want 3", checks)
	}
	// Checked at first, after ping 1 and after ping 2 (not after a pong):
	// both pings are used up.
	rec := &fatalRecorder{TB: t}
	if got := x.Next(rec, "a", "a ping left over", Is[*ping]); got != nil {
		t.Fatalf("left over: %v; the condition was checked after a message that does not match", got)
	}

	rec = &fatalRecorder{TB: t}
	NewExpector(50*time.Millisecond).Until(rec, "a", "never", Is[*ping], func() bool { return false })
	if rec.failed == "" {
		t.Fatal("Until with a condition that never holds did not fail")
	}
}
