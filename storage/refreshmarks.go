package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// MarkRefresh records that a refresh of credential id starts at. SaveTokens
// deletes the mark in the same transaction as the new tokens, so a mark
// found at start means a crash fell between the two.
func (tx *Tx) MarkRefresh(ctx context.Context, id int64, at time.Time) error {
	if _, err := tx.tx.ExecContext(ctx, `INSERT INTO refresh_marks (credential_id, started_ms) VALUES (?, ?)
		ON CONFLICT (credential_id) DO UPDATE SET started_ms = excluded.started_ms`, id, toMS(at)); err != nil {
		return fmt.Errorf("storage: mark refresh of credential %d: %w", id, err)
	}
	return nil
}

// ClearRefreshMark deletes credential id's refresh mark (a refresh that
// failed: the stored token is still the one in use).
func (tx *Tx) ClearRefreshMark(ctx context.Context, id int64) error {
	if _, err := tx.tx.ExecContext(ctx, `DELETE FROM refresh_marks WHERE credential_id = ?`, id); err != nil {
		return fmt.Errorf("storage: clear refresh mark of credential %d: %w", id, err)
	}
	return nil
}

// RefreshMark returns when a refresh of credential id started that never
// stored its result; ok is false when there is none.
func (db *DB) RefreshMark(ctx context.Context, id int64) (at time.Time, ok bool, err error) {
	var ms int64
	err = db.reader.QueryRowContext(ctx, `SELECT started_ms FROM refresh_marks WHERE credential_id = ?`, id).Scan(&ms)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return time.Time{}, false, nil
	case err != nil:
		return time.Time{}, false, fmt.Errorf("storage: refresh mark of credential %d: %w", id, err)
	}
	return fromMS(ms), true, nil
}
