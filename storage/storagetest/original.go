package storagetest

import (
	"database/sql"
	"fmt"
	"testing"

	// The SQLite driver, registered by storage's own import too.
	_ "github.com/mattn/go-sqlite3"
)

// OriginalSchema creates the credential tables of the original (Rust)
// Pollux, as its databases have them.
const OriginalSchema = `
CREATE TABLE gemini_cli (
    id INTEGER PRIMARY KEY, email TEXT NULL, sub TEXT NOT NULL, project_id TEXT NOT NULL,
    refresh_token TEXT NOT NULL, access_token TEXT NULL, expiry TEXT NOT NULL,
    status INTEGER NOT NULL DEFAULT 1, created_at TEXT, updated_at TEXT,
    UNIQUE (sub, project_id));
CREATE TABLE codex (
    id INTEGER PRIMARY KEY, email TEXT NULL, sub TEXT NOT NULL, account_id TEXT NOT NULL,
    refresh_token TEXT NOT NULL, access_token TEXT NOT NULL, expiry TEXT NOT NULL,
    chatgpt_plan_type TEXT NULL, status INTEGER NOT NULL DEFAULT 1, created_at TEXT, updated_at TEXT,
    UNIQUE (sub, account_id));
CREATE TABLE antigravity (
    id INTEGER PRIMARY KEY, email TEXT NULL, sub TEXT NOT NULL, project_id TEXT NOT NULL,
    refresh_token TEXT NOT NULL, access_token TEXT NULL, expiry TEXT NOT NULL,
    status INTEGER NOT NULL DEFAULT 1, created_at TEXT, updated_at TEXT,
    UNIQUE (sub, project_id));
`

// OriginalRow is one credential row of the original Pollux. Table is
// "gemini_cli", "codex" or "antigravity"; Account goes to project_id or
// account_id.
type OriginalRow struct {
	Table        string
	Email        string // "" is stored as NULL
	Sub          string
	Account      string
	RefreshToken string
	AccessToken  string
	Plan         string // codex only
	Active       bool
}

// WriteOriginalDB creates the original Pollux's tables in the SQLite file
// at path (creating it if needed) and inserts rows.
func WriteOriginalDB(tb testing.TB, path string, rows ...OriginalRow) {
	tb.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		tb.Fatal(err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			tb.Errorf("storagetest: close original db: %v", err)
		}
	}()
	if _, err := db.Exec(OriginalSchema); err != nil {
		tb.Fatalf("storagetest: original schema: %v", err)
	}
	const ts = "2025-11-02T10:00:00+00:00"
	for _, r := range rows {
		status := 0
		if r.Active {
			status = 1
		}
		email := sql.NullString{String: r.Email, Valid: r.Email != ""}
		var q string
		args := []any{email, r.Sub, r.Account, r.RefreshToken, r.AccessToken, ts, status, ts, ts}
		switch r.Table {
		case "gemini_cli", "antigravity":
			q = fmt.Sprintf(`INSERT INTO %s (email, sub, project_id, refresh_token, access_token, expiry, status, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.Table)
		case "codex":
			q = `INSERT INTO codex (email, sub, account_id, refresh_token, access_token, expiry, status, created_at, updated_at, chatgpt_plan_type)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
			args = append(args, sql.NullString{String: r.Plan, Valid: r.Plan != ""})
		default:
			tb.Fatalf("storagetest: unknown original table %q", r.Table)
		}
		if _, err := db.Exec(q, args...); err != nil {
			tb.Fatalf("storagetest: insert original row: %v", err)
		}
	}
}

// OriginalDump returns every row of the original's tables as text, to check
// that an import left them untouched.
func OriginalDump(tb testing.TB, path string) string {
	tb.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	out := ""
	for _, table := range []string{"gemini_cli", "codex", "antigravity"} {
		var sqlText string
		if err := db.QueryRow(`SELECT sql FROM sqlite_master WHERE name = ?`, table).Scan(&sqlText); err != nil {
			tb.Fatalf("storagetest: schema of %s: %v", table, err)
		}
		out += sqlText + "\n"
		rows, err := db.Query(`SELECT * FROM ` + table + ` ORDER BY id`)
		if err != nil {
			tb.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				tb.Fatal(err)
			}
			out += fmt.Sprintln(table, vals)
		}
		if err := rows.Err(); err != nil {
			tb.Fatal(err)
		}
		_ = rows.Close()
	}
	return out
}
