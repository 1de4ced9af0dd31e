package storage_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/pollux-gateway/pollux/storage"
)

func sealerFor(t *testing.T, b byte) *storage.Sealer {
	t.Helper()
	s, err := storage.NewSealer(bytes.Repeat([]byte{b}, storage.SecretsKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fileHolds reports whether the database file or its WAL contains needle.
func fileHolds(t *testing.T, path, needle string) bool {
	t.Helper()
	for _, p := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(needle)) {
			return true
		}
	}
	return false
}

// TestSecretsAtRest: with a sealer the tokens never reach the file in the
// clear, read back intact, cannot be read without the key or with another
// one, and the migration works both ways in place.
func TestSecretsAtRest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pollux.db")
	db, err := storage.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	// One credential written plain (before encryption was turned on).
	plainID := insert(t, db, storage.Credential{Provider: "codex", Sub: "s1", Account: "a1",
		AccessToken: "plain-access-token-1111", RefreshToken: "plain-refresh-token-1111", Status: storage.StatusActive})
	if !fileHolds(t, path, "plain-refresh-token-1111") {
		t.Fatal("test premise: a plain token should be visible in the file")
	}

	// Turn it on: the plain one is sealed in place, new ones are written sealed.
	db.SetSealer(sealerFor(t, 7))
	n, err := db.SealSecrets(t.Context())
	if err != nil || n != 2 {
		t.Fatalf("SealSecrets = %d, %v; want 2 values", n, err)
	}
	sealedID := insert(t, db, storage.Credential{Provider: "codex", Sub: "s2", Account: "a2",
		AccessToken: "sealed-access-token-2222", RefreshToken: "sealed-refresh-token-2222", Status: storage.StatusActive})
	write(t, db, func(tx *storage.Tx) error {
		return tx.SaveTokens(t.Context(), plainID, "new-access-token-3333", "new-refresh-token-3333", t0)
	})
	if c, err := db.Credential(t.Context(), sealedID); err != nil || c.RefreshToken.Reveal() != "sealed-refresh-token-2222" {
		t.Fatalf("read back: %v %v", c.RefreshToken.Reveal() == "sealed-refresh-token-2222", err)
	}
	if id, ok, err := db.FindByRefreshToken(t.Context(), "codex", "sealed-refresh-token-2222"); err != nil || !ok || id != sealedID {
		t.Errorf("FindByRefreshToken on a sealed row: %d %v %v", id, ok, err)
	}
	if n, err := db.SealedSecrets(t.Context()); err != nil || n != 2 {
		t.Errorf("SealedSecrets = %d, %v; want 2 rows", n, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"plain-refresh-token-1111", "plain-access-token-1111", "sealed-refresh-token-2222", "sealed-access-token-2222", "new-refresh-token-3333", "new-access-token-3333"} {
		if fileHolds(t, path, tok) {
			t.Errorf("%s is readable in the database file", tok)
		}
	}

	// Without the key, or with another key, the tokens do not read.
	for name, s := range map[string]*storage.Sealer{"no key": nil, "wrong key": sealerFor(t, 9)} {
		db2, err := storage.Open(t.Context(), path, nil)
		if err != nil {
			t.Fatal(err)
		}
		db2.SetSealer(s)
		if _, err := db2.Credential(t.Context(), sealedID); !errors.Is(err, storage.ErrSealed) {
			t.Errorf("%s: read gave %v, want ErrSealed", name, err)
		}
		if _, err := db2.UnsealSecrets(t.Context()); !errors.Is(err, storage.ErrSealed) {
			t.Errorf("%s: unseal gave %v, want ErrSealed", name, err)
		}
		_ = db2.Close()
	}

	// The way back: with the key, every value is opened in place.
	db3, err := storage.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db3.Close() }()
	db3.SetSealer(sealerFor(t, 7))
	if n, err := db3.UnsealSecrets(t.Context()); err != nil || n != 4 {
		t.Fatalf("UnsealSecrets = %d, %v; want 4 values", n, err)
	}
	db3.SetSealer(nil)
	if n, _ := db3.SealedSecrets(t.Context()); n != 0 {
		t.Errorf("%d sealed rows after unsealing", n)
	}
	if c, err := db3.Credential(t.Context(), plainID); err != nil || c.RefreshToken.Reveal() != "new-refresh-token-3333" {
		t.Errorf("after unsealing, plain read: %v", err)
	}
}
