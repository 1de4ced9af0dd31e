package storage

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// dayLayout is the usage.day format.
const dayLayout = "2006-01-02"

// UsageDay is the usage day (YYYY-MM-DD in UTC) that t falls in.
func UsageDay(t time.Time) string { return t.UTC().Format(dayLayout) }

// UsageDelta is an amount to add to one day's counters of a credential and
// model. CredentialID 0 records usage that no credential served. An empty
// Day means today (UTC) by the DB's clock.
type UsageDelta struct {
	CredentialID int64
	Provider     string
	Model        string
	Day          string
	Requests     int64
	InputTokens  int64
	OutputTokens int64
}

// UsageRow is one day's counters of a credential and model. CredentialID is
// 0 for usage of deleted credentials, summed together.
type UsageRow struct {
	CredentialID int64
	Provider     string
	Model        string
	Day          string
	Requests     int64
	InputTokens  int64
	OutputTokens int64
}

// AddUsage adds u's counters to its (credential, model, day) row, creating
// the row on first use.
func (tx *Tx) AddUsage(ctx context.Context, u UsageDelta) error {
	if u.Day == "" {
		u.Day = UsageDay(tx.db.now())
	}
	if _, err := time.Parse(dayLayout, u.Day); err != nil {
		return fmt.Errorf("storage: add usage: day %q is not YYYY-MM-DD", u.Day)
	}
	if u.Provider == "" || u.Model == "" {
		return fmt.Errorf("storage: add usage: empty provider or model")
	}
	cred := sql.NullInt64{Int64: u.CredentialID, Valid: u.CredentialID != 0}
	if cred.Valid {
		// The credential may have been deleted while its request ran: count
		// the usage detached, as deleting a credential does with its rows.
		_, found, err := queryID(tx.tx.StmtContext(ctx, tx.db.stmts.existsInTx).QueryRowContext(ctx, u.CredentialID))
		if err != nil {
			return fmt.Errorf("storage: add usage: %w", err)
		}
		cred.Valid = found
	}
	res, err := tx.tx.StmtContext(ctx, tx.db.stmts.usageAdd).ExecContext(ctx,
		u.Requests, u.InputTokens, u.OutputTokens, cred, u.Provider, u.Model, u.Day)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			_, err = tx.tx.StmtContext(ctx, tx.db.stmts.usageInsert).ExecContext(ctx,
				cred, u.Provider, u.Model, u.Day, u.Requests, u.InputTokens, u.OutputTokens)
		}
	}
	if err != nil {
		return fmt.Errorf("storage: add usage: %w", err)
	}
	return nil
}

// Usage reads the counters of provider ("" for all) from the day of since
// (UTC) on; a zero since reads everything. Rows are ordered by day,
// credential id and model.
func (db *DB) Usage(ctx context.Context, provider string, since time.Time) ([]UsageRow, error) {
	from := ""
	if !since.IsZero() {
		from = UsageDay(since)
	}
	rows, err := db.reader.QueryContext(ctx, `SELECT COALESCE(credential_id, 0) AS cred, provider, model, day,
		SUM(requests), SUM(input_tokens), SUM(output_tokens)
		FROM usage WHERE day >= ? AND (? = '' OR provider = ?)
		GROUP BY cred, provider, model, day
		ORDER BY day, cred, model, provider`, from, provider, provider)
	if err != nil {
		return nil, fmt.Errorf("storage: usage: %w", err)
	}
	defer rows.Close()
	var out []UsageRow
	for rows.Next() {
		var u UsageRow
		if err := rows.Scan(&u.CredentialID, &u.Provider, &u.Model, &u.Day,
			&u.Requests, &u.InputTokens, &u.OutputTokens); err != nil {
			return nil, fmt.Errorf("storage: usage: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: usage: %w", err)
	}
	return out, nil
}
