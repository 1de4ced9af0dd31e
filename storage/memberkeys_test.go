package storage_test

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/storage"
)

func saveKey(t *testing.T, db *storage.DB, k storage.MemberKey) (int64, error) {
	t.Helper()
	var id int64
	err := db.WriteTx(t.Context(), func(tx *storage.Tx) error {
		var err error
		id, err = tx.SaveMemberKey(t.Context(), k)
		return err
	})
	return id, err
}

// TestMemberKeysRoundTrip: a key is stored with its digest and policy, read
// back whole, updated in place, and deleted; names are unique.
func TestMemberKeysRoundTrip(t *testing.T) {
	clock := newClock()
	path := dbPath(t)
	db := openClock(t, path, clock)
	alice := storage.MemberKey{Name: "alice", Note: "laptop", Digest: sha256.Sum256([]byte("pk-a")),
		Surfaces: []string{"codex"}, Models: []string{"gpt-5.2", "gemini-2.5-*"},
		RequestsPerMinute: 60, ConcurrentRequests: 4, TokensPerDay: 1000, TokensPerMonth: 20000,
		Expires: ms(t0.Add(48 * time.Hour))}
	id, err := saveKey(t, db, alice)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := saveKey(t, db, storage.MemberKey{Name: "alice", Digest: sha256.Sum256([]byte("pk-other"))}); !errors.Is(err, storage.ErrNameTaken) {
		t.Errorf("duplicate name: %v, want ErrNameTaken", err)
	}
	alice.ID, alice.Created, alice.Updated = id, ms(t0), ms(t0)
	keys, err := db.MemberKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]storage.MemberKey{alice}, keys); diff != "" {
		t.Fatalf("stored key (-want +got):\n%s", diff)
	}

	clock.advance(time.Hour)
	alice.Disabled, alice.Surfaces, alice.Models, alice.Digest = true, nil, nil, sha256.Sum256([]byte("pk-b"))
	if _, err := saveKey(t, db, alice); err != nil {
		t.Fatal(err)
	}
	alice.Updated = ms(t0.Add(time.Hour))
	keys, _ = db.MemberKeys(t.Context())
	if diff := cmp.Diff([]storage.MemberKey{alice}, keys); diff != "" {
		t.Fatalf("updated key (-want +got):\n%s", diff)
	}
	if _, err := saveKey(t, db, storage.MemberKey{ID: 999, Name: "ghost"}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("update of an unknown id: %v", err)
	}
	err = db.WriteTx(t.Context(), func(tx *storage.Tx) error { return tx.DeleteMemberKey(t.Context(), id) })
	if err != nil {
		t.Fatal(err)
	}
	if keys, _ := db.MemberKeys(t.Context()); len(keys) != 0 {
		t.Errorf("after delete: %+v", keys)
	}
}

// TestKeyUsageAddsUp: deltas add to their (key, provider, model, day) row;
// a deleted key's rows keep the name last counted; the last-used time only
// moves forward.
func TestKeyUsageAddsUp(t *testing.T) {
	db := openClock(t, dbPath(t), newClock())
	id, err := saveKey(t, db, storage.MemberKey{Name: "bob", Digest: sha256.Sum256([]byte("pk-bob"))})
	if err != nil {
		t.Fatal(err)
	}
	today, yesterday := storage.UsageDay(t0), storage.UsageDay(t0.Add(-24*time.Hour))
	u := func(req, in, out int64) storage.KeyUsage {
		return storage.KeyUsage{Requests: req, InputTokens: in, OutputTokens: out}
	}
	deltas := []storage.KeyUsageDelta{
		{KeyID: id, KeyName: "bob", Provider: "codex", Model: "gpt-5.2", Day: today, LastUsed: t0, KeyUsage: u(1, 10, 5)},
		{KeyID: id, KeyName: "bob", Provider: "codex", Model: "gpt-5.2", Day: today, LastUsed: t0.Add(-time.Hour),
			KeyUsage: storage.KeyUsage{Requests: 2, Errors: 1, InputTokens: 20, CachedTokens: 3, ReasoningTokens: 4, UnknownTokens: 1}},
		{KeyID: id, KeyName: "bob", Provider: "codex", Model: "gpt-5.2", Day: yesterday, KeyUsage: u(1, 1, 1)},
		{KeyID: 0, KeyName: "operator", Provider: "geminicli", Model: "gemini-2.5-pro", Day: today, KeyUsage: u(1, 4, 3)},
	}
	write(t, db, func(tx *storage.Tx) error {
		for _, d := range deltas {
			if err := tx.AddKeyUsage(t.Context(), d); err != nil {
				return err
			}
		}
		return nil
	})
	err = db.WriteTx(t.Context(), func(tx *storage.Tx) error {
		return tx.AddKeyUsage(t.Context(), storage.KeyUsageDelta{KeyName: "x", Provider: "codex", Model: "m", Day: "yesterday"})
	})
	if err == nil {
		t.Error("a day that is not YYYY-MM-DD was accepted")
	}
	want := []storage.KeyUsageRow{
		{KeyID: id, KeyName: "bob", Provider: "codex", Model: "gpt-5.2", Day: yesterday, KeyUsage: u(1, 1, 1)},
		{KeyID: 0, KeyName: "operator", Provider: "geminicli", Model: "gemini-2.5-pro", Day: today, KeyUsage: u(1, 4, 3)},
		{KeyID: id, KeyName: "bob", Provider: "codex", Model: "gpt-5.2", Day: today,
			KeyUsage: storage.KeyUsage{Requests: 3, Errors: 1, InputTokens: 30, OutputTokens: 5, CachedTokens: 3, ReasoningTokens: 4, UnknownTokens: 1}},
	}
	rows, err := db.KeyUsageRows(t.Context(), yesterday, today)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Fatalf("rows (-want +got):\n%s", diff)
	}
	if rows, _ := db.KeyUsageRows(t.Context(), today, today); len(rows) != 2 {
		t.Errorf("one day: %d rows, want 2", len(rows))
	}
	keys, _ := db.MemberKeys(t.Context())
	if len(keys) != 1 || !keys[0].LastUsed.Equal(ms(t0)) {
		t.Errorf("last used %v, want %v (it never moves back)", keys[0].LastUsed, t0)
	}
	// Renamed, then deleted: the rows read with the current name, then the
	// last name counted.
	keys[0].Name = "robert"
	if _, err := saveKey(t, db, keys[0]); err != nil {
		t.Fatal(err)
	}
	if rows, _ := db.KeyUsageRows(t.Context(), today, today); rows[1].KeyName != "robert" {
		t.Errorf("renamed key's rows read as %q", rows[1].KeyName)
	}
	write(t, db, func(tx *storage.Tx) error { return tx.DeleteMemberKey(t.Context(), id) })
	if rows, _ := db.KeyUsageRows(t.Context(), today, today); len(rows) != 2 || rows[1].KeyName != "bob" {
		t.Errorf("deleted key's rows: %+v", rows)
	}
}
