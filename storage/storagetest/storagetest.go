package storagetest

import (
	"path/filepath"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/pollux-gateway/pollux/storage"
)

// NewDB opens a migrated database in a fresh t.TempDir, logging to t, and
// closes it when the test ends, failing the test if Close fails.
func NewDB(t testing.TB) *storage.DB {
	t.Helper()
	db, err := storage.Open(t.Context(), filepath.Join(t.TempDir(), "pollux.db"), zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("storagetest: open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("storagetest: close: %v", err)
		}
	})
	return db
}
