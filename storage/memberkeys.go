package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNameTaken is returned (wrapped) when a member key's name is in use.
var ErrNameTaken = errors.New("storage: member key name taken")

// MemberKey is one member key: who holds it, what it may do and its limits.
// Digest is the SHA-256 of the secret; the secret is never stored.
type MemberKey struct {
	ID     int64
	Name   string
	Note   string
	Digest [32]byte
	// Surfaces and Models are allow-lists; empty allows all.
	Surfaces []string
	Models   []string
	// Limits; 0 means none.
	RequestsPerMinute  int64
	ConcurrentRequests int64
	TokensPerDay       int64
	TokensPerMonth     int64
	// Expires is zero for a key that never expires.
	Expires  time.Time
	Disabled bool
	Created  time.Time
	Updated  time.Time
	LastUsed time.Time
}

const memberKeyColumns = `id, name, note, digest, surfaces, models, requests_per_minute,
	concurrent_requests, tokens_per_day, tokens_per_month, expires_ms, disabled,
	created_ms, updated_ms, last_used_ms`

// MemberKeys reads every member key, by id.
func (db *DB) MemberKeys(ctx context.Context) ([]MemberKey, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT `+memberKeyColumns+` FROM member_keys ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("storage: member keys: %w", err)
	}
	defer rows.Close()
	var out []MemberKey
	for rows.Next() {
		var (
			k                                   MemberKey
			digest                              []byte
			surfaces, models                    string
			expires, created, updated, lastUsed int64
			disabled                            int64
		)
		if err := rows.Scan(&k.ID, &k.Name, &k.Note, &digest, &surfaces, &models, &k.RequestsPerMinute,
			&k.ConcurrentRequests, &k.TokensPerDay, &k.TokensPerMonth, &expires, &disabled,
			&created, &updated, &lastUsed); err != nil {
			return nil, fmt.Errorf("storage: member keys: %w", err)
		}
		if len(digest) != len(k.Digest) {
			return nil, fmt.Errorf("storage: member key %d: digest is %d bytes", k.ID, len(digest))
		}
		copy(k.Digest[:], digest)
		k.Surfaces, k.Models = splitList(surfaces), splitList(models)
		k.Expires, k.Created, k.Updated, k.LastUsed = fromMS(expires), fromMS(created), fromMS(updated), fromMS(lastUsed)
		k.Disabled = disabled != 0
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: member keys: %w", err)
	}
	return out, nil
}

// SaveMemberKey inserts k (ID 0) or replaces the row with k's ID, and
// returns its id. Created is kept on update; Updated is set now. A name in
// use by another key fails with ErrNameTaken; an unknown ID with
// ErrNotFound.
func (tx *Tx) SaveMemberKey(ctx context.Context, k MemberKey) (int64, error) {
	now := toMS(tx.db.now())
	args := []any{k.Name, k.Note, k.Digest[:], strings.Join(k.Surfaces, ","), strings.Join(k.Models, ","),
		k.RequestsPerMinute, k.ConcurrentRequests, k.TokensPerDay, k.TokensPerMonth, toMS(k.Expires),
		boolInt(k.Disabled), now}
	var (
		res sql.Result
		err error
	)
	if k.ID == 0 {
		created := toMS(k.Created)
		if created == 0 {
			created = now
		}
		res, err = tx.tx.ExecContext(ctx, `INSERT INTO member_keys (name, note, digest, surfaces, models,
			requests_per_minute, concurrent_requests, tokens_per_day, tokens_per_month, expires_ms, disabled,
			updated_ms, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, append(args, created)...)
	} else {
		res, err = tx.tx.ExecContext(ctx, `UPDATE member_keys SET name = ?, note = ?, digest = ?, surfaces = ?,
			models = ?, requests_per_minute = ?, concurrent_requests = ?, tokens_per_day = ?,
			tokens_per_month = ?, expires_ms = ?, disabled = ?, updated_ms = ? WHERE id = ?`, append(args, k.ID)...)
	}
	switch {
	case isUniqueViolation(err) && strings.Contains(err.Error(), "member_keys.name"):
		return 0, fmt.Errorf("storage: save member key %q: %w", k.Name, ErrNameTaken)
	case err != nil:
		return 0, fmt.Errorf("storage: save member key: %w", err)
	}
	if k.ID == 0 {
		id, err := res.LastInsertId()
		if err != nil {
			return 0, fmt.Errorf("storage: save member key: %w", err)
		}
		return id, nil
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return 0, errors.Join(fmt.Errorf("storage: save member key %d: %w", k.ID, ErrNotFound), err)
	}
	return k.ID, nil
}

// DeleteMemberKey removes a member key; its usage rows stay. An unknown id
// fails with ErrNotFound.
func (tx *Tx) DeleteMemberKey(ctx context.Context, id int64) error {
	res, err := tx.tx.ExecContext(ctx, `DELETE FROM member_keys WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("storage: delete member key: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return errors.Join(fmt.Errorf("storage: delete member key %d: %w", id, ErrNotFound), err)
	}
	return nil
}

// KeyUsage is an amount of usage, or a sum of them.
type KeyUsage struct {
	Requests        int64 `json:"requests"`
	Errors          int64 `json:"errors"`
	InputTokens     int64 `json:"input_tokens"`
	OutputTokens    int64 `json:"output_tokens"`
	CachedTokens    int64 `json:"cached_tokens"`
	ReasoningTokens int64 `json:"reasoning_tokens"`
	// UnknownTokens counts requests whose tokens the upstream never
	// reported (a stream cut short).
	UnknownTokens int64 `json:"unknown_tokens"`
}

// Add adds o to u.
func (u *KeyUsage) Add(o KeyUsage) {
	u.Requests += o.Requests
	u.Errors += o.Errors
	u.InputTokens += o.InputTokens
	u.OutputTokens += o.OutputTokens
	u.CachedTokens += o.CachedTokens
	u.ReasoningTokens += o.ReasoningTokens
	u.UnknownTokens += o.UnknownTokens
}

// KeyUsageDelta is usage to add to one (key, provider, model, day) row.
// KeyID 0 is the operator key. LastUsed, when set, moves the key's
// last-used time forward.
type KeyUsageDelta struct {
	KeyID    int64
	KeyName  string
	Provider string
	Model    string
	Day      string
	LastUsed time.Time
	KeyUsage
}

// AddKeyUsage adds d to its row, creating the row on first use.
func (tx *Tx) AddKeyUsage(ctx context.Context, d KeyUsageDelta) error {
	if _, err := time.Parse(dayLayout, d.Day); err != nil {
		return fmt.Errorf("storage: add key usage: day %q is not YYYY-MM-DD", d.Day)
	}
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO key_usage (key_id, key_name, provider, model, day,
		requests, errors, input_tokens, output_tokens, cached_tokens, reasoning_tokens, unknown_tokens)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (key_id, provider, model, day) DO UPDATE SET key_name = excluded.key_name,
		requests = requests + excluded.requests, errors = errors + excluded.errors,
		input_tokens = input_tokens + excluded.input_tokens,
		output_tokens = output_tokens + excluded.output_tokens,
		cached_tokens = cached_tokens + excluded.cached_tokens,
		reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
		unknown_tokens = unknown_tokens + excluded.unknown_tokens`,
		d.KeyID, d.KeyName, d.Provider, d.Model, d.Day, d.Requests, d.Errors, d.InputTokens,
		d.OutputTokens, d.CachedTokens, d.ReasoningTokens, d.UnknownTokens)
	if err != nil {
		return fmt.Errorf("storage: add key usage: %w", err)
	}
	if d.KeyID != 0 && !d.LastUsed.IsZero() {
		if _, err := tx.tx.ExecContext(ctx, `UPDATE member_keys SET last_used_ms = MAX(last_used_ms, ?) WHERE id = ?`,
			toMS(d.LastUsed), d.KeyID); err != nil {
			return fmt.Errorf("storage: add key usage: %w", err)
		}
	}
	return nil
}

// KeyUsageRow is one (key, provider, model, day) row.
type KeyUsageRow struct {
	KeyID    int64
	KeyName  string
	Provider string
	Model    string
	Day      string
	KeyUsage
}

// KeyUsageRows reads the rows from day from to day to (YYYY-MM-DD, both
// included), ordered by day, key id, provider and model. The key name is the
// key's current name, or the last one counted for a deleted key.
func (db *DB) KeyUsageRows(ctx context.Context, from, to string) ([]KeyUsageRow, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT u.key_id, COALESCE(k.name, u.key_name), u.provider, u.model, u.day,
		u.requests, u.errors, u.input_tokens, u.output_tokens, u.cached_tokens, u.reasoning_tokens, u.unknown_tokens
		FROM key_usage u LEFT JOIN member_keys k ON k.id = u.key_id
		WHERE u.day >= ? AND u.day <= ?
		ORDER BY u.day, u.key_id, u.provider, u.model`, from, to)
	if err != nil {
		return nil, fmt.Errorf("storage: key usage: %w", err)
	}
	defer rows.Close()
	var out []KeyUsageRow
	for rows.Next() {
		var r KeyUsageRow
		if err := rows.Scan(&r.KeyID, &r.KeyName, &r.Provider, &r.Model, &r.Day, &r.Requests, &r.Errors,
			&r.InputTokens, &r.OutputTokens, &r.CachedTokens, &r.ReasoningTokens, &r.UnknownTokens); err != nil {
			return nil, fmt.Errorf("storage: key usage: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: key usage: %w", err)
	}
	return out, nil
}

// splitList splits a comma-separated column; "" is the empty list.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
