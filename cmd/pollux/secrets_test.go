package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/storage"
)

// TestSecretsSetup walks the opt-in both ways on a real database: on with a
// key from the environment encrypts; a restart without the key refuses to
// start, saying what to set; off with the key (from a file) decrypts; the
// key appears in no log line and no error.
func TestSecretsSetup(t *testing.T) {
	key := bytes.Repeat([]byte{0x5a}, 32)
	keyB64 := base64.StdEncoding.EncodeToString(key)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "secrets.key")
	if err := os.WriteFile(keyFile, []byte(keyB64+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pollux.db")
	core, logs := observer.New(zap.DebugLevel)
	log := zap.New(core)
	env := func(v string) func(string) string {
		return func(name string) string {
			if name == secretsKeyEnv {
				return v
			}
			return ""
		}
	}
	step := func(b config.Basic, getenv func(string) string, seed bool) error {
		t.Helper()
		k, err := secretsKey(b, getenv)
		if err != nil {
			return err
		}
		db, err := storage.Open(t.Context(), path, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = db.Close() }()
		if err := setupSecrets(t.Context(), db, b, k, log); err != nil {
			return err
		}
		if seed {
			if err := db.WriteTx(t.Context(), func(tx *storage.Tx) error {
				_, err := tx.InsertCredential(t.Context(), storage.Credential{Provider: "codex", Sub: "s", Account: "a",
					AccessToken: "at-secret-value", RefreshToken: "rt-secret-value", Status: storage.StatusActive})
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	}

	if err := step(config.Basic{EncryptSecrets: true}, env(""), false); err == nil || !strings.Contains(err.Error(), secretsKeyEnv) {
		t.Fatalf("encrypt_secrets without a key: %v, want an error naming %s", err, secretsKeyEnv)
	}
	if err := step(config.Basic{EncryptSecrets: true}, env(keyB64), true); err != nil {
		t.Fatal(err)
	}
	err := step(config.Basic{}, env(""), false)
	if err == nil || !strings.Contains(err.Error(), "encrypted tokens but no key") {
		t.Fatalf("restart without the key: %v, want a refusal", err)
	}
	if err := step(config.Basic{SecretsKeyFile: keyFile}, env(""), false); err != nil {
		t.Fatalf("turning it off with the key file: %v", err)
	}
	db, err := storage.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if n, _ := db.SealedSecrets(t.Context()); n != 0 {
		t.Errorf("%d rows still encrypted after turning it off", n)
	}
	if _, err := decodeSecretsKey([]byte("too-short")); err == nil || strings.Contains(err.Error(), "too-short") {
		t.Errorf("bad key: %v (must fail without quoting it)", err)
	}
	for _, e := range logs.All() {
		line := fmt.Sprint(e.Message, e.ContextMap())
		for _, s := range []string{keyB64, "secret-value"} {
			if strings.Contains(line, s) {
				t.Errorf("log line leaks %q: %s", s, line)
			}
		}
	}
}
