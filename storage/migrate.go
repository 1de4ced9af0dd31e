package storage

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one embedded schema step.
type migration struct {
	version int
	name    string // file name, for logs and errors
	sql     string
}

// loadMigrations reads the embedded migrations, ordered by version. Names are
// NNNN_description.sql and versions must run 1, 2, 3... without gaps, so a
// misnumbered file fails every test instead of being skipped in production.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("storage: list migrations: %w", err)
	}
	ms := make([]migration, 0, len(names))
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		if !ok {
			return nil, fmt.Errorf("storage: migration %s: name is not NNNN_description.sql", base)
		}
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("storage: migration %s: bad version %q", base, num)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("storage: read migration %s: %w", base, err)
		}
		ms = append(ms, migration{version: v, name: base, sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("storage: migration %s: want version %d", m.name, i+1)
		}
	}
	return ms, nil
}

// migrate brings the database up to the newest embedded migration. Each step
// runs in its own IMMEDIATE transaction and re-reads the version inside it,
// so two processes opening the same file never apply a step twice.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		return err
	}
	latest := len(ms)

	var current int
	err = inTx(ctx, db.writer, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
			return fmt.Errorf("create schema_version: %w", err)
		}
		v, err := schemaVersion(ctx, tx)
		current = v
		return err
	})
	if err != nil {
		return fmt.Errorf("storage: migrate: %w", err)
	}
	if current > latest {
		return fmt.Errorf("storage: database schema version %d is newer than this binary supports (%d); upgrade pollux", current, latest)
	}

	for _, m := range ms[current:] {
		applied := false
		err := inTx(ctx, db.writer, func(tx *sql.Tx) error {
			v, err := schemaVersion(ctx, tx)
			if err != nil {
				return err
			}
			if v >= m.version {
				return nil // another process got there first
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("apply: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM schema_version`); err != nil {
				return fmt.Errorf("bump version: %w", err)
			}
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO schema_version (version) VALUES (?)`, m.version); err != nil {
				return fmt.Errorf("bump version: %w", err)
			}
			applied = true
			return nil
		})
		if err != nil {
			return fmt.Errorf("storage: migration %s: %w", m.name, err)
		}
		if applied {
			db.log.Info("applied migration", zap.Int("version", m.version), zap.String("name", m.name))
		}
	}
	return nil
}

// schemaVersion reads the version row; a table with no row is version 0.
func schemaVersion(ctx context.Context, tx *sql.Tx) (int, error) {
	var v sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return int(v.Int64), nil
}
