package keyring

import (
	"crypto/sha256"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pollux-gateway/pollux/storage"
)

// Key is one version of a member key. It is immutable once published; a
// change publishes a new *Key for the same ID, sharing the counters.
type Key struct {
	ID       int64
	Name     string
	Note     string
	Surfaces []string
	Models   []string
	Limits   Limits
	Expires  time.Time
	Disabled bool
	Created  time.Time
	Updated  time.Time

	digest  [32]byte
	surface [2]bool // geminicli, codex
	models  modelMatcher
	state   *usageState
}

// Verdict is what Authorize found.
type Verdict uint8

const (
	// Unknown: no member key has this secret.
	Unknown Verdict = iota
	// Valid: the key may be used.
	Valid
	// Disabled: an operator disabled the key.
	Disabled
	// Expired: the key's expiry has passed.
	Expired
)

// AllowsSurface reports whether the key may use a surface.
func (k *Key) AllowsSurface(s string) bool {
	switch s {
	case SurfaceGeminiCLI:
		return k.surface[0]
	case SurfaceCodex:
		return k.surface[1]
	}
	return false
}

// AllowsModel reports whether the key may use a model (with or without the
// "models/" prefix).
func (k *Key) AllowsModel(model string) bool { return k.models.allows(model) }

// LastUsed is when the key last passed Authorize, zero if never (in this
// process or, after Put from storage, before).
func (k *Key) LastUsed() time.Time {
	if ns := k.state.lastUsed.Load(); ns != 0 {
		return time.Unix(0, ns).UTC()
	}
	return time.Time{}
}

// Row returns the key as a storage row, with the given digest.
func (k *Key) Row() storage.MemberKey {
	return storage.MemberKey{
		ID: k.ID, Name: k.Name, Note: k.Note, Digest: k.digest,
		Surfaces: slices.Clone(k.Surfaces), Models: slices.Clone(k.Models),
		RequestsPerMinute: k.Limits.RequestsPerMinute, ConcurrentRequests: k.Limits.ConcurrentRequests,
		TokensPerDay: k.Limits.TokensPerDay, TokensPerMonth: k.Limits.TokensPerMonth,
		Expires: k.Expires, Disabled: k.Disabled, Created: k.Created, Updated: k.Updated, LastUsed: k.LastUsed(),
	}
}

// snapshot is one immutable version of the whole key set.
type snapshot struct {
	byDigest map[[32]byte]*Key
	byID     map[int64]*Key
}

// Ring is the in-memory set of member keys. Authorize and the other reads
// are lock-free; Put and Remove are serialised and publish a new snapshot.
type Ring struct {
	now func() time.Time
	cur atomic.Pointer[snapshot]

	// mu serialises writers and guards the following fields.
	mu sync.Mutex
	// states holds each key id's counters across versions of the key.
	states map[int64]*usageState
}

// New returns an empty ring whose limits read time from now.
func New(now func() time.Time) *Ring {
	if now == nil {
		now = time.Now
	}
	r := &Ring{now: now, states: make(map[int64]*usageState)}
	r.cur.Store(&snapshot{byDigest: map[[32]byte]*Key{}, byID: map[int64]*Key{}})
	return r
}

// Now is the ring's clock.
func (r *Ring) Now() time.Time { return r.now() }

// Len is the number of member keys.
func (r *Ring) Len() int { return len(r.cur.Load().byID) }

// Digest is the SHA-256 of a secret, the form in which keys are stored and
// looked up.
func Digest(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// Authorize finds the key whose digest is d. The lookup is by digest, so
// the time it takes says nothing about the secret. A Valid key's last-used
// time moves to now.
func (r *Ring) Authorize(d [32]byte) (*Key, Verdict) {
	k := r.cur.Load().byDigest[d]
	if k == nil {
		return nil, Unknown
	}
	if k.Disabled {
		return k, Disabled
	}
	now := r.now()
	if !k.Expires.IsZero() && !now.Before(k.Expires) {
		return k, Expired
	}
	k.state.lastUsed.Store(now.UnixNano())
	return k, Valid
}

// Get returns the current version of key id, or nil.
func (r *Ring) Get(id int64) *Key { return r.cur.Load().byID[id] }

// List returns every key, by id.
func (r *Ring) List() []*Key {
	snap := r.cur.Load()
	out := make([]*Key, 0, len(snap.byID))
	for _, k := range snap.byID {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b *Key) int { return int(a.ID - b.ID) })
	return out
}

// Put publishes row as the current version of its key (row.ID must be set)
// and returns it. A changed digest (rotation) retires the old secret in the
// same store.
func (r *Ring) Put(row storage.MemberKey) *Key {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.states[row.ID]
	if st == nil {
		st = &usageState{}
		if !row.LastUsed.IsZero() {
			st.lastUsed.Store(row.LastUsed.UnixNano())
		}
		r.states[row.ID] = st
	}
	k := &Key{
		ID: row.ID, Name: row.Name, Note: row.Note,
		Surfaces: slices.Clone(row.Surfaces), Models: slices.Clone(row.Models),
		Limits: Limits{RequestsPerMinute: row.RequestsPerMinute, ConcurrentRequests: row.ConcurrentRequests,
			TokensPerDay: row.TokensPerDay, TokensPerMonth: row.TokensPerMonth},
		Expires: row.Expires, Disabled: row.Disabled, Created: row.Created, Updated: row.Updated,
		digest: row.Digest, models: newModelMatcher(row.Models), state: st,
	}
	k.surface = [2]bool{len(row.Surfaces) == 0, len(row.Surfaces) == 0}
	for _, s := range row.Surfaces {
		switch s {
		case SurfaceGeminiCLI:
			k.surface[0] = true
		case SurfaceCodex:
			k.surface[1] = true
		}
	}
	r.publish(func(s *snapshot) {
		if old := s.byID[k.ID]; old != nil {
			delete(s.byDigest, old.digest)
		}
		s.byID[k.ID] = k
		s.byDigest[k.digest] = k
	})
	return k
}

// Remove drops key id; requests it already admitted finish.
func (r *Ring) Remove(id int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.states, id)
	r.publish(func(s *snapshot) {
		if old := s.byID[id]; old != nil {
			delete(s.byDigest, old.digest)
			delete(s.byID, id)
		}
	})
}

// publish copies the current snapshot, applies change and stores the copy.
// Callers hold mu.
func (r *Ring) publish(change func(*snapshot)) {
	old := r.cur.Load()
	next := &snapshot{
		byDigest: make(map[[32]byte]*Key, len(old.byDigest)+1),
		byID:     make(map[int64]*Key, len(old.byID)+1),
	}
	for d, k := range old.byDigest {
		next.byDigest[d] = k
	}
	for id, k := range old.byID {
		next.byID[id] = k
	}
	change(next)
	r.cur.Store(next)
}

// Seed sets key id's token counters to the usage already stored for the
// current UTC day and month, so a restart does not reset the token limits.
// avgTokens is what the key's requests have cost on average so far (0 when
// unknown): with it, the first requests after a restart reserve that much
// each instead of everything left, so a restart does not serialise a key's
// concurrent requests until one of them ends.
func (r *Ring) Seed(id int64, dayTokens, monthTokens, avgTokens int64) {
	k := r.Get(id)
	if k == nil {
		return
	}
	now := r.now()
	st := k.state
	st.mu.Lock()
	st.day, st.dayTokens = dayIndex(now), dayTokens
	st.month, st.monthTokens = monthIndex(now), monthTokens
	if avgTokens > 0 {
		st.avgTokens = avgTokens
	}
	st.mu.Unlock()
}

// Usage is a key's counters at one moment.
type Usage struct {
	InFlight        int64
	RequestsInMin   int64
	TokensToday     int64
	TokensThisMonth int64
}

// Usage reads the key's live counters.
func (k *Key) Usage(now time.Time) Usage {
	st := k.state
	st.mu.Lock()
	defer st.mu.Unlock()
	st.roll(now)
	st.expire(now)
	return Usage{InFlight: st.inflight, RequestsInMin: int64(st.n), TokensToday: st.dayTokens, TokensThisMonth: st.monthTokens}
}
