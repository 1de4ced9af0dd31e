package storage_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/storage"
	"github.com/pollux-gateway/pollux/storage/storagetest"
)

// embeddedMigrations counts the migration files the binary embeds.
func embeddedMigrations(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations found: %v", err)
	}
	return len(files)
}

func schemaVersion(t *testing.T, path string) int {
	t.Helper()
	var v int
	if err := rawDB(t, path).QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil {
		t.Fatalf("read schema_version: %v", err)
	}
	return v
}

func appliedMigrations(logs *observer.ObservedLogs) int {
	return logs.FilterMessage("applied migration").Len()
}

func TestOpenFreshDatabase(t *testing.T) {
	// A directory that does not exist yet, as on a first start.
	path := filepath.Join(t.TempDir(), "data", "sub", "pollux.db")
	core, logs := observer.New(zapcore.DebugLevel)
	db, err := storage.Open(t.Context(), path, zap.New(core))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if err := db.Ping(t.Context()); err != nil {
		t.Errorf("ping: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	want := embeddedMigrations(t)
	if got := schemaVersion(t, path); got != want {
		t.Errorf("schema_version = %d, want %d", got, want)
	}
	if got := appliedMigrations(logs); got != want {
		t.Errorf("logged %d applied migrations, want %d", got, want)
	}
	if err := db.Ping(t.Context()); err == nil {
		t.Error("ping after close: got nil error")
	}
}

func TestReopenKeepsDataAndMigratesNothing(t *testing.T) {
	path := dbPath(t)
	clock := newClock()
	db, err := storage.OpenWithClock(t.Context(), path, zaptest.NewLogger(t), clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	c := cred(1)
	c.Cooldowns = []storage.Cooldown{{Model: "gemini-2.5-pro", Until: t0.Add(time.Minute), Backoff: 2, Reason: "rate_limited"}}
	id := insert(t, db, c)
	write(t, db, func(tx *storage.Tx) error { return tx.PutSetting(t.Context(), "k", []byte("v")) })
	before, err := db.Credential(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	core, logs := observer.New(zapcore.DebugLevel)
	db2, err := storage.OpenWithClock(t.Context(), path, zap.New(core), clock.Now)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() {
		if err := db2.Close(); err != nil {
			t.Error(err)
		}
	})
	if got := appliedMigrations(logs); got != 0 {
		t.Errorf("reopen applied %d migrations, want 0", got)
	}
	after, err := db2.Credential(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("credential after reopen (-before +after):\n%s", diff)
	}
	if v, ok, err := db2.Setting(t.Context(), "k"); err != nil || !ok || string(v) != "v" {
		t.Errorf("Setting(k) after reopen = %q, %v, %v; want \"v\", true, nil", v, ok, err)
	}
	if got, want := schemaVersion(t, path), embeddedMigrations(t); got != want {
		t.Errorf("schema_version = %d, want %d", got, want)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := dbPath(t)
	db, err := storage.Open(t.Context(), path, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw := rawDB(t, path)
	if _, err := raw.Exec(`UPDATE schema_version SET version = 999`); err != nil {
		t.Fatal(err)
	}

	db, err = storage.Open(t.Context(), path, zaptest.NewLogger(t))
	if err == nil {
		_ = db.Close()
		t.Fatal("open of a version 999 database: got nil error")
	}
	if !strings.Contains(err.Error(), "999") || !strings.Contains(err.Error(), "newer") {
		t.Errorf("error = %q, want it to name version 999 as newer", err)
	}
}

func TestNewDatabaseFileIsPrivate(t *testing.T) {
	path := dbPath(t)
	db := openClock(t, path, newClock())
	insert(t, db, cred(1)) // makes SQLite create the -wal file too

	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s mode = %v, want 0600", filepath.Base(p), got)
		}
	}
}

func TestWALModeIsOn(t *testing.T) {
	path := dbPath(t)
	openClock(t, path, newClock())
	// journal_mode=WAL is stored in the file, so a plain connection sees it.
	var mode string
	if err := rawDB(t, path).QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
}

func TestDeleteCredentialCascadesCooldowns(t *testing.T) {
	path := dbPath(t)
	db := openClock(t, path, newClock())
	c := cred(1)
	c.Cooldowns = []storage.Cooldown{{Model: storage.AllModels, Until: t0.Add(time.Hour)}, {Model: "m", Until: t0}}
	id := insert(t, db, c)
	keep := insert(t, db, func() storage.Credential {
		c := cred(2)
		c.Cooldowns = []storage.Cooldown{{Model: "m", Until: t0}}
		return c
	}())

	write(t, db, func(tx *storage.Tx) error { return tx.DeleteCredential(t.Context(), id) })

	// Foreign keys are a per-connection setting: only the writer's own
	// cascade can have removed these rows.
	var n int
	if err := rawDB(t, path).QueryRow(`SELECT count(*) FROM cooldowns WHERE credential_id = ?`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d cooldown rows left for deleted credential, want 0", n)
	}
	if _, err := db.Credential(t.Context(), id); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Credential(deleted) error = %v, want ErrNotFound", err)
	}
	other, err := db.Credential(t.Context(), keep)
	if err != nil {
		t.Fatal(err)
	}
	if len(other.Cooldowns) != 1 {
		t.Errorf("other credential has %d cooldowns, want 1", len(other.Cooldowns))
	}
	err = db.WriteTx(t.Context(), func(tx *storage.Tx) error { return tx.DeleteCredential(t.Context(), id) })
	if !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("second delete error = %v, want ErrNotFound", err)
	}
}

func TestWriteTxRollsBackOnError(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name string
		run  func(ctx context.Context, db *storage.DB, fn func(tx *storage.Tx) error) error
		want error
	}{
		{
			name: "error",
			run: func(ctx context.Context, db *storage.DB, fn func(tx *storage.Tx) error) error {
				return db.WriteTx(ctx, func(tx *storage.Tx) error {
					if err := fn(tx); err != nil {
						return err
					}
					return errBoom
				})
			},
			want: errBoom,
		},
		{
			name: "panic",
			run: func(ctx context.Context, db *storage.DB, fn func(tx *storage.Tx) error) (err error) {
				defer func() {
					if r := recover(); r != nil {
						err = errBoom
					}
				}()
				return db.WriteTx(ctx, func(tx *storage.Tx) error {
					if err := fn(tx); err != nil {
						return err
					}
					panic("boom")
				})
			},
			want: errBoom,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := storagetest.NewDB(t)
			err := tt.run(t.Context(), db, func(tx *storage.Tx) error {
				if _, err := tx.InsertCredential(t.Context(), cred(1)); err != nil {
					return err
				}
				if err := tx.PutSetting(t.Context(), "k", []byte("v")); err != nil {
					return err
				}
				return tx.AddUsage(t.Context(), storage.UsageDelta{Provider: "geminicli", Model: "m", Requests: 1})
			})
			if !errors.Is(err, tt.want) {
				t.Fatalf("WriteTx error = %v, want %v", err, tt.want)
			}
			creds, err := db.Credentials(t.Context(), "")
			if err != nil {
				t.Fatal(err)
			}
			if len(creds) != 0 {
				t.Errorf("%d credentials after rollback, want 0", len(creds))
			}
			if _, ok, _ := db.Setting(t.Context(), "k"); ok {
				t.Error("setting present after rollback")
			}
			if u, _ := db.Usage(t.Context(), "", time.Time{}); len(u) != 0 {
				t.Errorf("usage after rollback = %v, want none", u)
			}
			// The single writer connection must be free again.
			insert(t, db, cred(1))
		})
	}
}

func TestReadersDoNotWaitForTheWriter(t *testing.T) {
	db := storagetest.NewDB(t)
	write(t, db, func(tx *storage.Tx) error {
		if _, err := tx.InsertCredential(t.Context(), cred(1)); err != nil {
			return err
		}
		// Inside an open write transaction, a read on the pool sees the
		// last committed state at once instead of blocking.
		creds, err := db.Credentials(t.Context(), "")
		if err != nil {
			return err
		}
		if len(creds) != 0 {
			t.Errorf("reader saw %d uncommitted credentials, want 0", len(creds))
		}
		return nil
	})
	creds, err := db.Credentials(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(creds) != 1 {
		t.Errorf("after commit: %d credentials, want 1", len(creds))
	}
}

func TestNoSecretInLogsOrErrors(t *testing.T) {
	path := dbPath(t)
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)
	c := cred(1)
	c.AccessToken = "ya29.SECRET-ACCESS"
	c.RefreshToken = "1//SECRET-REFRESH"
	secrets := []string{c.AccessToken.Reveal(), c.RefreshToken.Reveal(), "SECRET-NEW-ACCESS", "SECRET-NEW-REFRESH"}

	var errs []error
	db, err := storage.Open(t.Context(), path, log)
	if err != nil {
		t.Fatal(err)
	}
	insert(t, db, c)
	errs = append(errs,
		db.WriteTx(t.Context(), func(tx *storage.Tx) error { _, err := tx.InsertCredential(t.Context(), c); return err }),
		db.WriteTx(t.Context(), func(tx *storage.Tx) error {
			return tx.SaveTokens(t.Context(), 999, config.Secret(secrets[2]), config.Secret(secrets[3]), t0)
		}),
		db.WriteTx(t.Context(), func(tx *storage.Tx) error {
			bad := c
			bad.Sub = "other"
			bad.Extra = []byte(`{"token":"` + secrets[0] + `"`) // invalid JSON carrying a secret
			_, err := tx.InsertCredential(t.Context(), bad)
			return err
		}),
	)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = storage.Open(t.Context(), path, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	if logs.Len() == 0 {
		t.Fatal("no log lines captured; the check below would prove nothing")
	}
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	for _, e := range logs.AllUntimed() {
		buf, err := enc.EncodeEntry(e.Entry, e.Context)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if strings.Contains(buf.String(), s) {
				t.Errorf("log line contains a secret: %s", buf.String())
			}
		}
		buf.Free()
	}
	for i, err := range errs {
		if err == nil {
			t.Errorf("error %d: got nil, want an error", i)
			continue
		}
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error %d contains a secret: %v", i, err)
			}
		}
	}
}
