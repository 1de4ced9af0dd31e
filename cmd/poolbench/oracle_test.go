package main

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestOracle(t *testing.T) {
	const s = time.Second
	// Two accounts, 2 requests per 10 s window; account 1 is offset by 5 s.
	o := newOracle(10*s, 2, []time.Duration{0, 5 * s}, 3*s, false)
	steps := []struct {
		t        time.Duration
		model    string
		wantOK   bool
		wantWait time.Duration
	}{
		{0, "a", true, 0},         // account 1's window ends at 5 s: soonest
		{0, "a", true, 0},         // account 1 again
		{s, "a", true, 0},         // account 0
		{s, "a", true, 0},         // account 0: everything spent until 5 s
		{3 * s, "a", true, 2 * s}, // waits for account 1's reset at 5 s
		{3 * s, "a", true, 2 * s},
		{3 * s, "a", false, 0}, // next reset (10 s) is beyond the queue timeout
		{3 * s, "b", true, 0},  // another model has its own quota
	}
	for i, st := range steps {
		ok, wait := o.serve(st.t, st.model)
		if ok != st.wantOK || wait != st.wantWait {
			t.Fatalf("step %d: served=%v wait=%v, want %v %v", i, ok, wait, st.wantOK, st.wantWait)
		}
	}
	shared := newOracle(10*s, 1, []time.Duration{0}, 0, true)
	if ok, _ := shared.serve(0, "a"); !ok {
		t.Fatal("shared: first request refused")
	}
	if ok, _ := shared.serve(0, "b"); ok {
		t.Fatal("shared: account-wide quota served another model twice")
	}
}

func TestPoissonArrivals(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	arr := poissonArrivals(rng, 50, 100*time.Second, []string{"a", "b"})
	if n := float64(len(arr)); math.Abs(n-5000) > 300 {
		t.Fatalf("%v arrivals at 50/s over 100 s, want about 5000", n)
	}
	var a, streams int
	for i, x := range arr {
		if i > 0 && x.at < arr[i-1].at {
			t.Fatal("arrivals out of order")
		}
		if x.model == "a" {
			a++
		}
		if x.stream {
			streams++
		}
	}
	if math.Abs(float64(a)/float64(len(arr))-0.5) > 0.05 || math.Abs(float64(streams)/float64(len(arr))-0.5) > 0.05 {
		t.Fatalf("model a %d, streams %d of %d: want about half each", a, streams, len(arr))
	}
}

func TestOracleUnused(t *testing.T) {
	o := newOracle(10*time.Second, 2, []time.Duration{0}, 0, false)
	o.serve(time.Second, "a")
	if got, want := o.unused(0, 25*time.Second, []string{"a", "b"}), (2-1)+2+2+2; got != want {
		t.Fatalf("unused = %d, want %d", got, want)
	}
}
