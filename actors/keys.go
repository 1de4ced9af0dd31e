package actors

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pollux-gateway/pollux/actors/keyring"
	"github.com/pollux-gateway/pollux/storage"
)

// OperatorKeyName is the key name under which the operator key (pollux_key)
// is counted; it is reserved.
const OperatorKeyName = "operator"

// secretPrefix starts every member key's secret, so a leaked one is
// recognisable (and greppable) as a Pollux key.
const secretPrefix = "pk-"

// secretBytes is the randomness of a secret: 192 bits.
const secretBytes = 24

// Errors of the key admin operations.
var (
	// ErrKeyNotFound: no member key has that id.
	ErrKeyNotFound = errors.New("member key not found")
	// ErrKeyNameTaken: another key has that name.
	ErrKeyNameTaken = errors.New("member key name taken")
)

// Keys is the member keys: the in-memory ring the request path reads, and
// the admin operations, which write through the persistence actor and
// publish to the ring once the write is committed.
type Keys struct {
	ring        *keyring.Ring
	db          *storage.DB
	sys         *actor.ActorSystem
	persistence *actor.PID

	// cells are the usage counters not yet sent to persistence.
	cells usageCells

	// mu serialises admin changes, so the ring is published in the order
	// the database committed.
	mu sync.Mutex

	// armed is set while a flush is due.
	armed atomic.Bool
	// clock runs the flush timer.
	clock Clock

	// flushMu guards the following fields.
	flushMu   sync.Mutex
	flushStop func() bool
	stopped   bool
}

// loadKeys builds the ring from storage and seeds each key's token
// counters with the current day's and month's stored usage.
func loadKeys(ctx context.Context, db *storage.DB, now func() time.Time) (*keyring.Ring, error) {
	ring := keyring.New(now)
	rows, err := db.MemberKeys(ctx)
	if err != nil {
		return nil, err
	}
	for _, row := range rows {
		ring.Put(row)
	}
	t := now().UTC()
	today := storage.UsageDay(t)
	month := storage.UsageDay(time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC))
	usage, err := db.KeyUsageRows(ctx, month, today)
	if err != nil {
		return nil, err
	}
	type sums struct{ day, month, counted int64 }
	byKey := make(map[int64]*sums)
	for _, u := range usage {
		s := byKey[u.KeyID]
		if s == nil {
			s = &sums{}
			byKey[u.KeyID] = s
		}
		tokens := u.InputTokens + u.OutputTokens
		s.month += tokens
		// Requests whose tokens were reported: the basis of the average.
		s.counted += max(0, u.Requests-u.Errors-u.UnknownTokens)
		if u.Day == today {
			s.day += tokens
		}
	}
	for id, s := range byKey {
		var avg int64
		if s.counted > 0 {
			avg = max(1, s.month/s.counted)
		}
		ring.Seed(id, s.day, s.month, avg)
	}
	return ring, nil
}

// Keys returns the member keys.
func (s *System) Keys() *Keys { return s.keys }

// Ring is the in-memory key set the request path authorizes against.
func (k *Keys) Ring() *keyring.Ring { return k.ring }

// NewSecret returns a fresh secret and its digest.
func NewSecret() (string, [32]byte) {
	b := make([]byte, secretBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	secret := secretPrefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, keyring.Digest(secret)
}

// Create stores a new key (row.ID and row.Digest are ignored) and returns
// it with its secret, which is not kept anywhere.
func (k *Keys) Create(ctx context.Context, row storage.MemberKey) (*keyring.Key, string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.nameTaken(row.Name, 0) {
		return nil, "", fmt.Errorf("%w: %q", ErrKeyNameTaken, row.Name)
	}
	secret, digest := NewSecret()
	row.ID, row.Digest = 0, digest
	row.Created = k.ring.Now()
	row.Updated = row.Created
	id, err := k.save(ctx, &SaveMemberKey{Key: row})
	if err != nil {
		return nil, "", err
	}
	row.ID = id
	return k.ring.Put(row), secret, nil
}

// Update applies change to key id's row, stores it and publishes it; the
// next request sees it. change may not alter the id or the digest.
func (k *Keys) Update(ctx context.Context, id int64, change func(*storage.MemberKey) error) (*keyring.Key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	cur := k.ring.Get(id)
	if cur == nil {
		return nil, ErrKeyNotFound
	}
	row := cur.Row()
	if err := change(&row); err != nil {
		return nil, err
	}
	row.ID, row.Digest = id, cur.Row().Digest
	if k.nameTaken(row.Name, id) {
		return nil, fmt.Errorf("%w: %q", ErrKeyNameTaken, row.Name)
	}
	row.Updated = k.ring.Now()
	if _, err := k.save(ctx, &SaveMemberKey{Key: row}); err != nil {
		return nil, err
	}
	return k.ring.Put(row), nil
}

// Rotate gives key id a new secret; its policy, counters and usage stay.
// The old secret stops working at once.
func (k *Keys) Rotate(ctx context.Context, id int64) (*keyring.Key, string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	cur := k.ring.Get(id)
	if cur == nil {
		return nil, "", ErrKeyNotFound
	}
	secret, digest := NewSecret()
	row := cur.Row()
	row.Digest, row.Updated = digest, k.ring.Now()
	if _, err := k.save(ctx, &SaveMemberKey{Key: row}); err != nil {
		return nil, "", err
	}
	return k.ring.Put(row), secret, nil
}

// Delete removes key id; its usage stays in the reports.
func (k *Keys) Delete(ctx context.Context, id int64) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ring.Get(id) == nil {
		return ErrKeyNotFound
	}
	if _, err := k.save(ctx, &DeleteMemberKey{ID: id}); err != nil {
		return err
	}
	k.ring.Remove(id)
	return nil
}

// Record counts one request of a key (keyID 0 is the operator key) at a
// time. It is lock-free and does not allocate after the first request of a
// (key, provider, model, day); the counts reach the database within
// usageEvery.
func (k *Keys) Record(keyID int64, keyName, provider, model string, at time.Time, u storage.KeyUsage) {
	k.cells.add(keyID, keyName, provider, model, at, u)
	if !k.armed.Load() && k.armed.CompareAndSwap(false, true) {
		k.arm()
	}
}

// Usage writes the gathered counters, then reads the rows of days from..to
// (YYYY-MM-DD, both included).
func (k *Keys) Usage(ctx context.Context, from, to string) ([]storage.KeyUsageRow, error) {
	// Drain and send under flushMu, so a timer flush that drained before is
	// already in persistence's mailbox; then wait, without the lock, for an
	// empty write queued behind both to commit.
	k.flushMu.Lock()
	k.sendUsage()
	k.flushMu.Unlock()
	if _, err := k.save(ctx, &SaveKeyUsage{}); err != nil {
		return nil, err
	}
	return k.db.KeyUsageRows(ctx, from, to)
}

// arm starts the flush timer (the first count since the last flush).
func (k *Keys) arm() {
	k.flushMu.Lock()
	defer k.flushMu.Unlock()
	if k.stopped {
		return
	}
	k.flushStop = k.clock.AfterFunc(usageEvery, k.flushTick)
}

// flushTick sends the counts gathered since the timer was armed.
func (k *Keys) flushTick() {
	k.flushMu.Lock()
	defer k.flushMu.Unlock()
	if k.stopped {
		return
	}
	k.flushStop = nil
	// Disarm before draining: a count added after the drain arms anew.
	k.armed.Store(false)
	k.sendUsage()
}

// stopFlushing stops the timer and sends what is left; persistence writes
// it before it stops (it is poisoned after this).
func (k *Keys) stopFlushing() {
	k.flushMu.Lock()
	defer k.flushMu.Unlock()
	k.stopped = true
	if k.flushStop != nil {
		k.flushStop()
		k.flushStop = nil
	}
	k.sendUsage()
}

// sendUsage sends the drained counters, if any.
func (k *Keys) sendUsage() {
	if deltas := k.cells.drain(k.ring.Now()); len(deltas) > 0 {
		k.sys.Root.Send(k.persistence, &SaveKeyUsage{Deltas: deltas})
	}
}

// nameTaken reports whether another key than id is called name.
func (k *Keys) nameTaken(name string, id int64) bool {
	for _, other := range k.ring.List() {
		if other.Name == name && other.ID != id {
			return true
		}
	}
	return false
}

// save sends a write to persistence and waits for its commit.
func (k *Keys) save(ctx context.Context, msg persistenceMsg) (int64, error) {
	p, err := persist(ctx, k.sys, k.persistence, msg)
	if err != nil {
		return 0, err
	}
	switch {
	case errors.Is(p.Err, storage.ErrNotFound):
		return 0, ErrKeyNotFound
	case errors.Is(p.Err, storage.ErrNameTaken):
		return 0, ErrKeyNameTaken
	}
	return p.ID, p.Err
}

// enqueueWrite adds a write to the next batch (as the other writes do).
func (p *persistenceActor) enqueueWrite(ctx actor.Context, msg any) {
	p.batch = append(p.batch, pendingWrite{msg: msg, reply: ctx.Sender()})
	if !p.queued {
		p.queued = true
		ctx.Send(ctx.Self(), &flushNow{})
	}
}

// applyKeys applies the member-key writes; ok is false for other messages.
func applyKeys(ctx context.Context, tx *storage.Tx, msg any) (Persisted, bool) {
	switch m := msg.(type) {
	case *SaveMemberKey:
		id, err := tx.SaveMemberKey(ctx, m.Key)
		return Persisted{ID: id, Inserted: m.Key.ID == 0, Err: err}, true
	case *DeleteMemberKey:
		return Persisted{ID: m.ID, Err: tx.DeleteMemberKey(ctx, m.ID)}, true
	case *SaveKeyUsage:
		for _, d := range m.Deltas {
			if err := tx.AddKeyUsage(ctx, d); err != nil {
				return Persisted{Err: err}, true
			}
		}
		return Persisted{}, true
	}
	return Persisted{}, false
}
