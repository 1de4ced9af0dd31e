package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// credentialColumns is the column list every credential read selects, in
// the order scanCredential expects.
const credentialColumns = `id, provider, sub, email, account, tier, access_token, refresh_token,
	expiry_ms, extra, status, status_reason, status_since_ms, created_ms, updated_ms`

// cooldownColumns is the column list every cooldown read selects, in the
// order scanCooldown expects.
const cooldownColumns = `credential_id, model, until_ms, backoff, reason`

// statements are the hot queries, prepared once at Open. Writer statements
// are bound to a transaction with Tx.StmtContext; since the writer has one
// connection the prepared statement is reused, not re-prepared.
type statements struct {
	// writer
	insertCredential *sql.Stmt
	identityInTx     *sql.Stmt
	existsInTx       *sql.Stmt
	upsertUpdate     *sql.Stmt
	deleteCredential *sql.Stmt
	updateTokens     *sql.Stmt
	updateState      *sql.Stmt
	deleteCooldowns  *sql.Stmt
	insertCooldown   *sql.Stmt
	usageAdd         *sql.Stmt
	usageInsert      *sql.Stmt
	putSetting       *sql.Stmt

	// reader
	credentialByID *sql.Stmt
	cooldownsByID  *sql.Stmt
	findByRefresh  *sql.Stmt
	findByIdentity *sql.Stmt
	setting        *sql.Stmt

	all []*sql.Stmt
}

func prepare(ctx context.Context, writer, reader *sql.DB) (*statements, error) {
	s := &statements{}
	var errs []error
	p := func(dst **sql.Stmt, pool *sql.DB, query string) {
		st, err := pool.PrepareContext(ctx, query)
		if err != nil {
			errs = append(errs, err)
			return
		}
		*dst = st
		s.all = append(s.all, st)
	}

	p(&s.insertCredential, writer, `INSERT INTO credentials (provider, sub, email, account, tier,
		access_token, refresh_token, refresh_token_sha256, expiry_ms, extra,
		status, status_reason, status_since_ms, created_ms, updated_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	p(&s.identityInTx, writer, `SELECT id FROM credentials WHERE provider = ? AND sub = ? AND account = ?`)
	p(&s.existsInTx, writer, `SELECT 1 FROM credentials WHERE id = ?`)
	p(&s.upsertUpdate, writer, `UPDATE credentials SET email = ?, tier = ?, access_token = ?,
		refresh_token = ?, refresh_token_sha256 = ?, expiry_ms = ?, extra = ?,
		status = 'active', status_reason = '', status_since_ms = ?, updated_ms = ? WHERE id = ?`)
	p(&s.deleteCredential, writer, `DELETE FROM credentials WHERE id = ?`)
	p(&s.updateTokens, writer, `UPDATE credentials SET access_token = ?, refresh_token = ?,
		refresh_token_sha256 = ?, expiry_ms = ?, updated_ms = ? WHERE id = ?`)
	p(&s.updateState, writer, `UPDATE credentials SET status = ?, status_reason = ?,
		status_since_ms = ?, updated_ms = ? WHERE id = ?`)
	p(&s.deleteCooldowns, writer, `DELETE FROM cooldowns WHERE credential_id = ?`)
	p(&s.insertCooldown, writer, `INSERT INTO cooldowns (`+cooldownColumns+`) VALUES (?, ?, ?, ?, ?)`)
	// IS rather than = so that rows whose credential is gone (NULL) add up too.
	p(&s.usageAdd, writer, `UPDATE usage SET requests = requests + ?,
		input_tokens = input_tokens + ?, output_tokens = output_tokens + ?
		WHERE credential_id IS ? AND provider = ? AND model = ? AND day = ?`)
	p(&s.usageInsert, writer, `INSERT INTO usage (credential_id, provider, model, day,
		requests, input_tokens, output_tokens) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	p(&s.putSetting, writer, `INSERT INTO settings (key, value, updated_ms) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms`)

	p(&s.credentialByID, reader, `SELECT `+credentialColumns+` FROM credentials WHERE id = ?`)
	p(&s.cooldownsByID, reader, `SELECT `+cooldownColumns+` FROM cooldowns
		WHERE credential_id = ? ORDER BY model`)
	p(&s.findByRefresh, reader, `SELECT id FROM credentials
		WHERE provider = ? AND refresh_token_sha256 = ? ORDER BY id LIMIT 1`)
	p(&s.findByIdentity, reader, `SELECT id FROM credentials
		WHERE provider = ? AND sub = ? AND account = ?`)
	p(&s.setting, reader, `SELECT value FROM settings WHERE key = ?`)

	if err := errors.Join(errs...); err != nil {
		return nil, errors.Join(fmt.Errorf("storage: prepare: %w", err), s.close())
	}
	return s, nil
}

func (s *statements) close() error {
	var errs []error
	for _, st := range s.all {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}
