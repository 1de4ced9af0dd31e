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

// RefreshMarks returns the refresh marks of provider's credentials by id
// (usually none): start-up reads them once instead of once per credential.
func (db *DB) RefreshMarks(ctx context.Context, provider string) (map[int64]time.Time, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT m.credential_id, m.started_ms FROM refresh_marks m
		JOIN credentials c ON c.id = m.credential_id WHERE c.provider = ?`, provider)
	if err != nil {
		return nil, fmt.Errorf("storage: refresh marks: %w", err)
	}
	defer func() { _ = rows.Close() }()
	marks := make(map[int64]time.Time)
	for rows.Next() {
		var id, ms int64
		if err := rows.Scan(&id, &ms); err != nil {
			return nil, fmt.Errorf("storage: refresh marks: %w", err)
		}
		marks[id] = fromMS(ms)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: refresh marks: %w", err)
	}
	return marks, nil
}
