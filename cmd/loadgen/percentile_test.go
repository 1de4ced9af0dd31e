package main

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"single p50", []time.Duration{7}, 50, 7},
		{"single p99", []time.Duration{7}, 99, 7},
		{"two p50 takes the lower", []time.Duration{1, 2}, 50, 1},
		{"two p51 takes the upper", []time.Duration{1, 2}, 51, 2},
		{"hundred p50", hundred, 50, 50 * time.Millisecond},
		{"hundred p90", hundred, 90, 90 * time.Millisecond},
		{"hundred p99", hundred, 99, 99 * time.Millisecond},
		{"hundred p100 is max", hundred, 100, 100 * time.Millisecond},
		{"ten p99 rounds up to max", hundred[:10], 99, 10 * time.Millisecond},
		{"p0 clamps to min", hundred, 0, time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%d values, %v) = %v, want %v", len(tt.sorted), tt.p, got, tt.want)
			}
		})
	}
}

func TestSortedCopyLeavesInputAlone(t *testing.T) {
	in := []time.Duration{3, 1, 2}
	got := sortedCopy(in)
	if got[0] != 1 || got[1] != 2 || got[2] != 3 {
		t.Errorf("sortedCopy = %v, want [1 2 3]", got)
	}
	if in[0] != 3 || in[1] != 1 || in[2] != 2 {
		t.Errorf("input changed to %v, want [3 1 2]", in)
	}
}
