package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/storage"
)

// secretsKeyEnv holds the secrets key (base64); it wins over
// [basic] secrets_key_file.
const secretsKeyEnv = "POLLUX_SECRETS_KEY"

// secretsKey returns the secrets key from the environment or the key file,
// nil when neither gives one. Errors never quote the key.
func secretsKey(b config.Basic, getenv func(string) string) ([]byte, error) {
	if v := getenv(secretsKeyEnv); v != "" {
		key, err := decodeSecretsKey([]byte(v))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", secretsKeyEnv, err)
		}
		return key, nil
	}
	if b.SecretsKeyFile == "" {
		return nil, nil
	}
	raw, err := os.ReadFile(b.SecretsKeyFile)
	if err != nil {
		return nil, fmt.Errorf("basic.secrets_key_file: %w", err)
	}
	key, err := decodeSecretsKey(raw)
	if err != nil {
		return nil, fmt.Errorf("basic.secrets_key_file %s: %w", b.SecretsKeyFile, err)
	}
	return key, nil
}

// decodeSecretsKey accepts 32 raw bytes or their base64 (standard or URL
// alphabet, padded or not), surrounding whitespace ignored.
func decodeSecretsKey(raw []byte) ([]byte, error) {
	if len(raw) == storage.SecretsKeySize {
		return raw, nil
	}
	text := string(bytes.TrimSpace(raw))
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(text); err == nil && len(key) == storage.SecretsKeySize {
			return key, nil
		}
	}
	return nil, fmt.Errorf("the secrets key must be %d random bytes, raw or base64 (make one with: head -c 32 /dev/urandom | base64)", storage.SecretsKeySize)
}

// setupSecrets applies [basic] encrypt_secrets to db: with it on, the key is
// required and every plain token is encrypted; with it off, a given key
// decrypts what is encrypted, and without a key encrypted tokens are an
// error that says what to do.
func setupSecrets(ctx context.Context, db *storage.DB, b config.Basic, key []byte, log *zap.Logger) error {
	var sealer *storage.Sealer
	if key != nil {
		s, err := storage.NewSealer(key)
		if err != nil {
			return err
		}
		sealer = s
	}
	switch {
	case b.EncryptSecrets && sealer == nil:
		return fmt.Errorf("basic.encrypt_secrets is on but no key is given: set %s or basic.secrets_key_file", secretsKeyEnv)
	case b.EncryptSecrets:
		db.SetSealer(sealer)
		n, err := db.SealSecrets(ctx)
		if err != nil {
			return err
		}
		log.Info("secrets at rest: tokens are stored encrypted", zap.Int("encrypted_now", n))
		return nil
	case sealer != nil:
		// Off, with the key: the way back. Tokens written from now on are
		// plain.
		db.SetSealer(sealer)
		n, err := db.UnsealSecrets(ctx)
		if err != nil {
			if errors.Is(err, storage.ErrSealed) {
				return fmt.Errorf("decrypting the stored tokens: %w (is it the key they were encrypted with?)", err)
			}
			return err
		}
		db.SetSealer(nil)
		if n > 0 {
			log.Info("secrets at rest: stored tokens decrypted (encrypt_secrets is off)", zap.Int("decrypted", n))
		}
		return nil
	}
	n, err := db.SealedSecrets(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("%d stored credentials have encrypted tokens but no key is given: set %s or basic.secrets_key_file (with encrypt_secrets = true to keep them encrypted)", n, secretsKeyEnv)
	}
	return nil
}
