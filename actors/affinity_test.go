package actors

import (
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestAffinityTableBoundedInBytes: 10,000 unique 1 MiB session keys bound
// through AffinityKey leave the affinity table holding hashes, not keys:
// the live heap stays within a few MiB of where it started.
func TestAffinityTableBoundedInBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes 10 GiB")
	}
	p := newSchedPolicy(0)
	body := []byte(strings.Repeat("k", 1<<20))
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range 10_000 {
		copy(body, strconv.Itoa(i)+":")
		// The key as a request would hand it over (no copy of the 1 MiB):
		// whatever the table keeps must not point into it.
		key := AffinityKey(unsafe.String(&body[0], len(body)))
		if len(key) > MaxAffinityKeyLen {
			t.Fatalf("key of %d bytes kept", len(key))
		}
		p.bind(key, int64(i%4+1))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if len(p.affinity) != 10_000 {
		t.Fatalf("%d bindings, want 10000 distinct", len(p.affinity))
	}
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("live heap grew %.1f MiB for 10,000 bindings of 1 MiB keys", float64(grew)/(1<<20))
	if grew > 8<<20 {
		t.Errorf("live heap grew %d MiB for 10,000 bindings, want the keys themselves gone (< 8 MiB)", grew>>20)
	}
}

func TestAffinityKey(t *testing.T) {
	short := "sess-123"
	if got := AffinityKey(short); got != short {
		t.Errorf("short key changed: %q", got)
	}
	long := strings.Repeat("x", MaxAffinityKeyLen+1)
	got := AffinityKey(long)
	if !strings.HasPrefix(got, "sha256:") || len(got) != 71 || AffinityKey(long) != got {
		t.Errorf("long key → %q, want a stable sha256: digest", got)
	}
	if AffinityKey(long+"y") == got {
		t.Error("two long keys share a digest")
	}
}
