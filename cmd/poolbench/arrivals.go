package main

import (
	"math/rand/v2"
	"time"
)

// arrival is one client request of the run.
type arrival struct {
	at     time.Duration // after the start
	model  string
	stream bool
}

// poissonArrivals draws arrivals at rate per second for span: exponential
// gaps, each request for a model drawn uniformly and streaming with
// probability one half.
func poissonArrivals(rng *rand.Rand, rate float64, span time.Duration, models []string) []arrival {
	var out []arrival
	if rate <= 0 {
		return out
	}
	var t time.Duration
	for {
		t += time.Duration(rng.ExpFloat64() / rate * float64(time.Second))
		if t >= span {
			return out
		}
		out = append(out, arrival{at: t, model: models[rng.IntN(len(models))], stream: rng.IntN(2) == 1})
	}
}
