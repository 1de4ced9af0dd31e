package storage_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pollux-gateway/pollux/storage"
)

// TestLockIsExclusive: a second holder of the same database is refused with
// the file and the holder's PID; once released, the lock can be taken again.
// Cross-process behaviour (kill -9) is tested in cmd/pollux.
func TestLockIsExclusive(t *testing.T) {
	db := filepath.Join(t.TempDir(), "sub", "data.db")
	first, err := storage.AcquireLock(db)
	if err != nil {
		t.Fatalf("first lock: %v", err)
	}
	_, err = storage.AcquireLock(db)
	var le *storage.LockedError
	if !errors.As(err, &le) || !errors.Is(err, storage.ErrLocked) {
		t.Fatalf("second lock: %v, want a *LockedError", err)
	}
	if le.PID != os.Getpid() {
		t.Errorf("holder PID = %d, want %d", le.PID, os.Getpid())
	}
	for _, want := range []string{db, "PID " + strconv.Itoa(os.Getpid())} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not name %q", err, want)
		}
	}
	if err := first.Release(); err != nil {
		t.Fatalf("release: %v", err)
	}
	again, err := storage.AcquireLock(db)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	if err := again.Release(); err != nil {
		t.Fatal(err)
	}
}

// TestLockOtherDatabase: locks are per database file.
func TestLockOtherDatabase(t *testing.T) {
	dir := t.TempDir()
	a, err := storage.AcquireLock(filepath.Join(dir, "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a.Release() }()
	b, err := storage.AcquireLock(filepath.Join(dir, "b.db"))
	if err != nil {
		t.Fatalf("a different database is refused: %v", err)
	}
	_ = b.Release()
}
