package storage

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/pollux-gateway/pollux/config"
)

// The original (Rust) Pollux keeps its credentials in three tables of its
// own, in the file database_url names:
//
//	gemini_cli(id, email NULL, sub, project_id, refresh_token, access_token NULL,
//	           expiry, status, created_at, updated_at)  UNIQUE(sub, project_id)
//	codex(id, email NULL, sub, account_id, refresh_token, access_token,
//	      expiry, chatgpt_plan_type NULL, status, created_at, updated_at)
//	                                                   UNIQUE(sub, account_id)
//	antigravity(...)                                   as gemini_cli
//
// Times are RFC 3339 text; status 1 is active, 0 inactive. Importing only
// reads them: the original can still be run on the same file.
const (
	originalGeminiTable      = "gemini_cli"
	originalCodexTable       = "codex"
	originalAntigravityTable = "antigravity"
)

// originalImportedKey is the settings key that records a completed start-up
// import, so the next start imports nothing.
const originalImportedKey = "original_pollux.imported_ms"

// OriginalInactiveReason is the status reason of a credential that was
// inactive in the original Pollux and is imported disabled.
const OriginalInactiveReason = "inactive in the original Pollux; enable it to use it"

// OriginalImport counts what one import of the original Pollux's tables did.
type OriginalImport struct {
	// GeminiCLI and Codex count the credentials added, inactive ones included.
	GeminiCLI, Codex int
	// Inactive counts the added credentials stored disabled because the
	// original marked them inactive.
	Inactive int
	// Antigravity counts rows of the antigravity table, which are not
	// imported.
	Antigravity int
	// Kept counts rows for a credential this database already held (same
	// Google sub and project, same ChatGPT sub and account, or the same
	// refresh token). The held credential is kept; it takes the imported
	// refresh token only if it had none.
	Kept int
	// TokensTaken counts the kept credentials that took the imported refresh
	// token because theirs was empty.
	TokensTaken int
	// Unusable counts rows without a refresh token or identity.
	Unusable int
}

// Summary is the one line an operator sees after an import.
func (r OriginalImport) Summary() string {
	return fmt.Sprintf("imported %d Gemini CLI and %d Codex credentials from the original Pollux tables; "+
		"%d inactive kept disabled; %d Antigravity rows not imported: this version has no Antigravity provider",
		r.GeminiCLI, r.Codex, r.Inactive, r.Antigravity)
}

// originalRow is one row of gemini_cli or codex.
type originalRow struct {
	provider     string
	email        string
	sub          string
	account      string // project_id or account_id
	refreshToken config.Secret
	accessToken  config.Secret
	plan         string
	active       bool
	createdAt    time.Time
}

// queryer is what *sql.Tx and *sql.DB have in common for reading.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// ImportOriginalTables imports the original Pollux's credentials from this
// database's own file, once: when the original's tables exist and no earlier
// start imported them. Everything happens in one write transaction, which
// also records that the import is done. ran is false when there was nothing
// to do. Call it before the actors start: it writes outside the persistence
// actor.
func (db *DB) ImportOriginalTables(ctx context.Context) (res OriginalImport, ran bool, err error) {
	err = db.WriteTx(ctx, func(tx *Tx) error {
		var done int
		err := tx.tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM settings WHERE key = ?`, originalImportedKey).Scan(&done)
		if err != nil || done > 0 {
			return err
		}
		rows, anti, found, err := readOriginal(ctx, tx.tx)
		if err != nil || !found {
			return err
		}
		res, err = tx.importOriginal(ctx, rows)
		if err != nil {
			return err
		}
		res.Antigravity = anti
		ran = true
		return tx.PutSetting(ctx, originalImportedKey, []byte(fmt.Sprint(tx.db.now().UnixMilli())))
	})
	if err != nil {
		return OriginalImport{}, false, fmt.Errorf("storage: import original Pollux tables: %w", err)
	}
	return res, ran, nil
}

// ImportOriginalFile imports the original Pollux's credentials from the
// database file at path (opened read-only and left untouched) in one write
// transaction. Importing the same file again adds nothing: every row is a
// credential already held. A file without the original's tables is an
// error.
func (db *DB) ImportOriginalFile(ctx context.Context, path string) (OriginalImport, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return OriginalImport{}, fmt.Errorf("storage: import %s: %w", path, err)
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: "mode=ro&_busy_timeout=5000"}
	src, err := sql.Open("sqlite3", u.String())
	if err != nil {
		return OriginalImport{}, fmt.Errorf("storage: import %s: %w", abs, err)
	}
	rows, anti, found, err := readOriginal(ctx, src)
	if cerr := src.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return OriginalImport{}, fmt.Errorf("storage: import %s: %w", abs, err)
	}
	if !found {
		return OriginalImport{}, fmt.Errorf("storage: import %s: no gemini_cli, codex or antigravity table: not an original Pollux database", abs)
	}
	var res OriginalImport
	err = db.WriteTx(ctx, func(tx *Tx) error {
		var err error
		res, err = tx.importOriginal(ctx, rows)
		return err
	})
	if err != nil {
		return OriginalImport{}, fmt.Errorf("storage: import %s: %w", abs, err)
	}
	res.Antigravity = anti
	return res, nil
}

// readOriginal reads the original's credential rows. found is false when
// none of its tables exists.
func readOriginal(ctx context.Context, q queryer) (rows []originalRow, antigravity int, found bool, err error) {
	tables, err := existingTables(ctx, q, originalGeminiTable, originalCodexTable, originalAntigravityTable)
	if err != nil {
		return nil, 0, false, err
	}
	if len(tables) == 0 {
		return nil, 0, false, nil
	}
	if tables[originalGeminiTable] {
		r, err := readOriginalTable(ctx, q, "geminicli",
			`SELECT COALESCE(email, ''), sub, project_id, refresh_token, COALESCE(access_token, ''), '',
				status, COALESCE(created_at, '') FROM gemini_cli ORDER BY id`)
		if err != nil {
			return nil, 0, false, fmt.Errorf("read gemini_cli: %w", err)
		}
		rows = append(rows, r...)
	}
	if tables[originalCodexTable] {
		r, err := readOriginalTable(ctx, q, "codex",
			`SELECT COALESCE(email, ''), sub, account_id, refresh_token, COALESCE(access_token, ''),
				COALESCE(chatgpt_plan_type, ''), status, COALESCE(created_at, '') FROM codex ORDER BY id`)
		if err != nil {
			return nil, 0, false, fmt.Errorf("read codex: %w", err)
		}
		rows = append(rows, r...)
	}
	if tables[originalAntigravityTable] {
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM antigravity`).Scan(&antigravity); err != nil {
			return nil, 0, false, fmt.Errorf("count antigravity: %w", err)
		}
	}
	return rows, antigravity, true, nil
}

func existingTables(ctx context.Context, q queryer, names ...string) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	defer func() { _ = rows.Close() }()
	found := make(map[string]bool)
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("list tables: %w", err)
		}
		for _, n := range names {
			if name == n {
				found[n] = true
			}
		}
	}
	return found, rows.Err()
}

func readOriginalTable(ctx context.Context, q queryer, provider, query string) ([]originalRow, error) {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []originalRow
	for rows.Next() {
		var (
			r               originalRow
			refresh, access string
			status          int64
			created         string
		)
		if err := rows.Scan(&r.email, &r.sub, &r.account, &refresh, &access, &r.plan, &status, &created); err != nil {
			return nil, err
		}
		r.provider = provider
		r.refreshToken, r.accessToken = config.Secret(strings.TrimSpace(refresh)), config.Secret(access)
		r.active = status != 0
		if t, err := time.Parse(time.RFC3339Nano, created); err == nil {
			r.createdAt = t.UTC()
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// importOriginal applies the rows: new credentials are inserted, known ones
// kept. Every imported credential gets a zero expiry, so its actor refreshes
// it at once: the refresh validates it, and a dead token ends in
// needs_reauth with the upstream's reason.
func (tx *Tx) importOriginal(ctx context.Context, rows []originalRow) (OriginalImport, error) {
	var res OriginalImport
	for _, r := range rows {
		if r.refreshToken.IsZero() || r.sub == "" {
			res.Unusable++
			continue
		}
		id, held, err := tx.heldCredential(ctx, r)
		if err != nil {
			return OriginalImport{}, err
		}
		if held {
			res.Kept++
			taken, err := tx.adoptRefreshToken(ctx, id, r.refreshToken)
			if err != nil {
				return OriginalImport{}, err
			}
			if taken {
				res.TokensTaken++
			}
			continue
		}
		c := Credential{
			Provider: r.provider, Sub: r.sub, Email: r.email, Account: r.account,
			AccessToken: r.accessToken, RefreshToken: r.refreshToken,
			CreatedAt: r.createdAt,
		}
		if r.provider == "codex" && r.plan != "" {
			c.Tier = r.plan
			c.Extra = []byte(fmt.Sprintf(`{"plan_type":%q}`, r.plan))
		}
		if !r.active {
			c.Status, c.StatusReason = StatusDisabled, OriginalInactiveReason
		}
		if _, err := tx.InsertCredential(ctx, c); err != nil {
			return OriginalImport{}, err
		}
		switch r.provider {
		case "geminicli":
			res.GeminiCLI++
		case "codex":
			res.Codex++
		}
		if !r.active {
			res.Inactive++
		}
	}
	return res, nil
}

// heldCredential finds a credential this database already holds for r: the
// same identity (Google sub and project, ChatGPT sub and account) or the
// same refresh token.
func (tx *Tx) heldCredential(ctx context.Context, r originalRow) (int64, bool, error) {
	id, ok, err := queryID(tx.tx.StmtContext(ctx, tx.db.stmts.identityInTx).QueryRowContext(ctx, r.provider, r.sub, r.account))
	if err != nil || ok {
		return id, ok, err
	}
	return queryID(tx.tx.QueryRowContext(ctx,
		`SELECT id FROM credentials WHERE provider = ? AND refresh_token_sha256 = ?`, r.provider, tokenHash(r.refreshToken)))
}

// adoptRefreshToken gives credential id the refresh token when it has none.
func (tx *Tx) adoptRefreshToken(ctx context.Context, id int64, refresh config.Secret) (bool, error) {
	res, err := tx.tx.ExecContext(ctx,
		`UPDATE credentials SET refresh_token = ?, refresh_token_sha256 = ?, expiry_ms = 0, updated_ms = ?
			WHERE id = ? AND refresh_token = ''`,
		refresh.Reveal(), tokenHash(refresh), toMS(tx.db.now()), id)
	if err != nil {
		return false, fmt.Errorf("adopt refresh token of credential %d: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n > 0, nil
}
