package storage

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Secrets at rest. With a Sealer (SetSealer), every token Pollux writes
// (credentials.access_token and refresh_token, the tokens of pending
// ingestion items) is stored as sealedPrefix + base64(nonce ‖ AES-256-GCM
// ciphertext), the column name as additional data, so a copied database
// file alone gives nothing and a sealed value cannot be moved to another
// column. Reads open sealed values and pass plain ones through, so a
// database can be migrated in place (SealSecrets, UnsealSecrets).
// refresh_token_sha256 stays a plain digest: it finds a token, it does not
// reveal one.

// sealedPrefix marks a sealed value; plain OAuth tokens never start so.
const sealedPrefix = "enc1:"

// SecretsKeySize is the key length: AES-256.
const SecretsKeySize = 32

// ErrSealed is returned (wrapped) when a sealed value is read without a key,
// or with a key that did not seal it.
var ErrSealed = errors.New("storage: tokens are encrypted at rest and no matching key is set")

// Sealer encrypts and decrypts token columns with one key.
type Sealer struct{ aead cipher.AEAD }

// NewSealer returns a Sealer for a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != SecretsKeySize {
		return nil, fmt.Errorf("storage: the secrets key must be %d bytes, not %d", SecretsKeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("storage: secrets key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("storage: secrets key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// seal encrypts plain for column; "" stays "" (no token).
func (s *Sealer) seal(column, plain string) string {
	if s == nil || plain == "" || strings.HasPrefix(plain, sealedPrefix) {
		return plain
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("storage: crypto/rand failed: " + err.Error()) // never on a working system
	}
	out := s.aead.Seal(nonce, nonce, []byte(plain), []byte(column))
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(out)
}

// open decrypts a stored value of column; plain values pass through.
func (s *Sealer) open(column, stored string) (string, error) {
	rest, sealed := strings.CutPrefix(stored, sealedPrefix)
	if !sealed {
		return stored, nil
	}
	if s == nil {
		return "", ErrSealed
	}
	raw, err := base64.RawStdEncoding.DecodeString(rest)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return "", fmt.Errorf("%w: a %s value is damaged", ErrSealed, column)
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(column))
	if err != nil {
		return "", fmt.Errorf("%w (%s)", ErrSealed, column)
	}
	return string(plain), nil
}

// SetSealer makes db seal every token it writes from now on and open sealed
// ones it reads; nil stores tokens in plain text (and cannot read sealed
// ones). Call it before the database is used.
func (db *DB) SetSealer(s *Sealer) { db.sealer = s }

// tokenColumns are the columns that hold tokens, per table.
var tokenColumns = []struct{ table, key string }{
	{"credentials", "id"},
	{"ingest_items", "rowid"},
}

// SealSecrets encrypts every plain token in place with db's Sealer and
// returns how many values it sealed.
func (db *DB) SealSecrets(ctx context.Context) (int, error) {
	if db.sealer == nil {
		return 0, errors.New("storage: seal secrets: no key set")
	}
	n, err := db.rewriteTokens(ctx, func(column, v string) (string, error) { return db.sealer.seal(column, v), nil })
	if err != nil || n == 0 {
		return n, err
	}
	// The plain values just replaced still sit in free pages and the WAL:
	// rebuild the file and empty the WAL so the file holds none of them.
	if _, err := db.writer.ExecContext(ctx, `VACUUM`); err != nil {
		return n, fmt.Errorf("storage: seal secrets: vacuum: %w", err)
	}
	if _, err := db.writer.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return n, fmt.Errorf("storage: seal secrets: checkpoint: %w", err)
	}
	return n, nil
}

// UnsealSecrets decrypts every sealed token in place (the way back from
// SealSecrets; it needs the key) and returns how many values it opened.
func (db *DB) UnsealSecrets(ctx context.Context) (int, error) {
	return db.rewriteTokens(ctx, db.sealer.open)
}

// SealedSecrets counts the sealed token values in the database.
func (db *DB) SealedSecrets(ctx context.Context) (int, error) {
	var n int
	for _, t := range tokenColumns {
		var c int
		err := db.reader.QueryRowContext(ctx, `SELECT count(*) FROM `+t.table+
			` WHERE access_token LIKE 'enc1:%' OR refresh_token LIKE 'enc1:%'`).Scan(&c)
		if err != nil {
			return 0, fmt.Errorf("storage: count sealed secrets: %w", err)
		}
		n += c
	}
	return n, nil
}

// rewriteTokens applies f to every token value, in one transaction, and
// counts the values it changed.
func (db *DB) rewriteTokens(ctx context.Context, f func(column, v string) (string, error)) (int, error) {
	changed := 0
	err := db.WriteTx(ctx, func(tx *Tx) error {
		for _, t := range tokenColumns {
			rows, err := tx.tx.QueryContext(ctx, `SELECT `+t.key+`, access_token, refresh_token FROM `+t.table)
			if err != nil {
				return err
			}
			type row struct {
				key             int64
				access, refresh string
			}
			var todo []row
			for rows.Next() {
				var r row
				if err := rows.Scan(&r.key, &r.access, &r.refresh); err != nil {
					rows.Close()
					return err
				}
				a, err := f(t.table+".access_token", r.access)
				if err != nil {
					rows.Close()
					return err
				}
				rf, err := f(t.table+".refresh_token", r.refresh)
				if err != nil {
					rows.Close()
					return err
				}
				if a != r.access || rf != r.refresh {
					todo = append(todo, row{r.key, a, rf})
					changed += int(boolInt(a != r.access) + boolInt(rf != r.refresh))
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, r := range todo {
				if _, err := tx.tx.ExecContext(ctx, `UPDATE `+t.table+` SET access_token = ?, refresh_token = ? WHERE `+t.key+` = ?`,
					r.access, r.refresh, r.key); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("storage: rewrite tokens: %w", err)
	}
	return changed, nil
}
