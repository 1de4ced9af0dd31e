package actors

import (
	"strings"
	"testing"
	"unsafe"
)

// TestInternModel: two copies of a model name come back as one string (the
// same bytes), equal to the name.
func TestInternModel(t *testing.T) {
	a, b := strings.Clone("gemini-2.5-pro"), strings.Clone("gemini-2.5-pro")
	if unsafe.StringData(a) == unsafe.StringData(b) {
		t.Fatal("the clones share their bytes already")
	}
	ia, ib := internModel(a), internModel(b)
	if ia != a || ib != b {
		t.Fatalf("internModel changed the name: %q, %q", ia, ib)
	}
	if unsafe.StringData(ia) != unsafe.StringData(ib) {
		t.Error("two copies of one model name were not interned to one string")
	}
}

// TestModelCounts: per-model counts as the scheduler keeps them in flight.
func TestModelCounts(t *testing.T) {
	var c modelCounts
	steps := []struct {
		op, model string
		want      map[string]int
	}{
		{"add", "a", map[string]int{"a": 1, "b": 0}},
		{"add", "a", map[string]int{"a": 2, "b": 0}},
		{"add", "b", map[string]int{"a": 2, "b": 1}},
		{"release", "a", map[string]int{"a": 1, "b": 1}},
		{"release", "b", map[string]int{"a": 1, "b": 0}},
		{"release", "b", map[string]int{"a": 1, "b": 0}}, // never below zero
		{"release", "never-added", map[string]int{"a": 1, "b": 0, "never-added": 0}},
		{"add", "b", map[string]int{"a": 1, "b": 1}},
	}
	for i, s := range steps {
		if s.op == "add" {
			c.add(s.model)
		} else {
			c.release(s.model)
		}
		for m, want := range s.want {
			if got := c.get(m); got != want {
				t.Fatalf("step %d (%s %s): get(%s) = %d, want %d", i, s.op, s.model, m, got, want)
			}
		}
	}
	if len(c) != 2 {
		t.Errorf("%d entries for two models", len(c))
	}
}
