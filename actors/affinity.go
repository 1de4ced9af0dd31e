package actors

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// MaxAffinityKeyLen is the longest session-affinity key the scheduler keeps
// verbatim; a longer one is replaced by its SHA-256 ("sha256:<hex>", 71
// bytes). With the table's entry cap (affinityCap) this bounds it in bytes
// too: at most affinityCap × MaxAffinityKeyLen of keys, about 8 MiB.
const MaxAffinityKeyLen = 128

// AffinityKey returns the key the scheduler stores for a client's session
// key: short keys as an independent copy (never a slice of a request body
// kept alive by the table), long ones hashed.
func AffinityKey(key string) string {
	if len(key) <= MaxAffinityKeyLen {
		return strings.Clone(key)
	}
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}
