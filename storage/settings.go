package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Setting reads the value stored under key; ok is false when there is none.
func (db *DB) Setting(ctx context.Context, key string) (value []byte, ok bool, err error) {
	err = db.stmts.setting.QueryRowContext(ctx, key).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("storage: setting %q: %w", key, err)
	}
	if value == nil {
		value = []byte{}
	}
	return value, true, nil
}

// PutSetting stores value under key, replacing any previous value.
func (tx *Tx) PutSetting(ctx context.Context, key string, value []byte) error {
	if value == nil {
		value = []byte{} // nil would bind as NULL
	}
	if _, err := tx.tx.StmtContext(ctx, tx.db.stmts.putSetting).ExecContext(ctx,
		key, value, toMS(tx.db.now())); err != nil {
		return fmt.Errorf("storage: put setting %q: %w", key, err)
	}
	return nil
}
