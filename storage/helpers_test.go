package storage_test

import (
	"database/sql"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/storage"
	"github.com/pollux-gateway/pollux/storage/storagetest"
)

// t0 is the fake clock's start; its sub-millisecond part checks truncation.
var t0 = time.Date(2025, 3, 4, 5, 6, 7, 890_123_456, time.UTC)

// testClock is a manual clock; tests advance it between writes.
type testClock struct{ now time.Time }

func newClock() *testClock { return &testClock{now: t0} }

func (c *testClock) Now() time.Time { return c.now }

func (c *testClock) advance(d time.Duration) { c.now = c.now.Add(d) }

// ms is t as the database gives it back: millisecond precision, UTC.
func ms(t time.Time) time.Time { return t.Truncate(time.Millisecond).UTC() }

func dbPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "pollux.db")
}

// openClock opens a database at path with clock c and closes it at cleanup.
func openClock(t *testing.T, path string, c *testClock) *storage.DB {
	t.Helper()
	db, err := storage.OpenWithClock(t.Context(), path, zaptest.NewLogger(t), c.Now)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return db
}

// write runs fn in one write transaction and fails the test on error.
func write(t testing.TB, db *storage.DB, fn func(tx *storage.Tx) error) {
	t.Helper()
	if err := db.WriteTx(t.Context(), fn); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// insert stores c and returns its id.
func insert(t testing.TB, db *storage.DB, c storage.Credential) int64 {
	t.Helper()
	var id int64
	write(t, db, func(tx *storage.Tx) error {
		var err error
		id, err = tx.InsertCredential(t.Context(), c)
		return err
	})
	return id
}

// rawDB opens the file without storage, for checks storage cannot make.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := raw.Close(); err != nil {
			t.Errorf("close raw: %v", err)
		}
	})
	return raw
}

// cred is a geminicli credential numbered n.
func cred(n int) storage.Credential {
	return storage.Credential{
		Provider:     "geminicli",
		Sub:          "sub-" + strconv.Itoa(n),
		Email:        "user" + strconv.Itoa(n) + "@example.com",
		Account:      "project-" + strconv.Itoa(n),
		Tier:         "free-tier",
		AccessToken:  config.Secret("ya29.access-" + strconv.Itoa(n)),
		RefreshToken: config.Secret("1//refresh-" + strconv.Itoa(n)),
		Expiry:       t0.Add(time.Hour),
	}
}

// storagetestDB is storagetest.NewDB, the way other packages get a database.
func storagetestDB(tb testing.TB) *storage.DB {
	tb.Helper()
	return storagetest.NewDB(tb)
}

// insertMany inserts n credentials in one transaction, alternating
// providers; every third one has two cooldowns (see wantCooldowns).
func insertMany(tb testing.TB, db *storage.DB, n int) {
	tb.Helper()
	providers := []string{"geminicli", "codex"}
	write(tb, db, func(tx *storage.Tx) error {
		for i := range n {
			sub := strconv.Itoa(i)
			_, err := tx.InsertCredential(tb.Context(), storage.Credential{
				Provider:     providers[i%2],
				Sub:          sub,
				Email:        "u" + sub + "@example.com",
				AccessToken:  config.Secret("at-" + sub),
				RefreshToken: config.Secret("rt-" + sub),
				Expiry:       t0,
				Extra:        []byte(`{"n":` + sub + `}`),
				Cooldowns:    wantCooldowns(sub),
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// wantCooldowns is the cooldown set insertMany gives credential sub.
func wantCooldowns(sub string) []storage.Cooldown {
	i, err := strconv.Atoi(sub)
	if err != nil || i%3 != 0 {
		return nil
	}
	return []storage.Cooldown{
		{Model: storage.AllModels, Until: ms(t0.Add(time.Duration(i) * time.Millisecond)), Backoff: 1, Reason: "auth"},
		{Model: "model-" + sub, Until: ms(t0.Add(time.Duration(i) * time.Second)), Backoff: i, Reason: "quota"},
	}
}
