package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/mattn/go-sqlite3"
	"go.uber.org/zap"
)

// readerConns is the size of the read pool. Reads are short point lookups
// and one bulk load at start-up, so a few connections are plenty.
const readerConns = 4

// Options shared by both pools. _busy_timeout makes a connection wait for a
// lock instead of failing at once (a reader during a checkpoint, a second
// process during migration).
const commonOptions = "_journal_mode=WAL&_busy_timeout=5000&_foreign_keys=on&_synchronous=NORMAL"

const (
	// writerOptions: BEGIN IMMEDIATE takes the write lock up front, so a
	// transaction never fails half-way with SQLITE_BUSY on lock upgrade.
	// Its page cache is 1 MiB, not SQLite's default of 2 MiB: writes are
	// appends and single-row updates that touch a few pages each, and the
	// cache, allocated with malloc as pages are read, otherwise grows over
	// days to the full 2 MiB outside the Go runtime's memory limit.
	writerOptions = commonOptions + "&_txlock=immediate&_cache_size=-1024"
	// readerOptions: query_only makes the single-writer rule a property of
	// the connection rather than a convention. A 512 KiB page cache per
	// reader (SQLite's default is 2 MiB) is plenty for point reads of a
	// database this size and keeps the process small.
	readerOptions = commonOptions + "&_txlock=deferred&_query_only=on&_cache_size=-512"
)

// ErrNotFound is returned (wrapped) when a row asked for by id or key does
// not exist.
var ErrNotFound = errors.New("storage: not found")

// ErrDuplicate is returned (wrapped) by InsertCredential when a credential
// with the same (provider, sub, account) already exists.
var ErrDuplicate = errors.New("storage: duplicate credential")

// DB is an open Pollux database: one writer connection and a read pool.
// Its methods are safe for concurrent use.
type DB struct {
	writer *sql.DB
	reader *sql.DB
	log    *zap.Logger
	now    func() time.Time
	stmts  *statements
	// sealer encrypts tokens at rest (sealer.go); nil stores them plain.
	sealer *Sealer
}

// Open opens (creating if needed) the SQLite database at path, migrates it
// to the newest schema and returns it. path is a filesystem path; its parent
// directory is created if missing, and a new database file is created with
// mode 0600 because it holds OAuth tokens.
func Open(ctx context.Context, path string, log *zap.Logger) (*DB, error) {
	return OpenWithClock(ctx, path, log, time.Now)
}

// OpenWithClock is Open with the clock used for created, updated and
// status-since times and for the default usage day. Tests pass a fixed clock.
func OpenWithClock(ctx context.Context, path string, log *zap.Logger, now func() time.Time) (*DB, error) {
	if path == "" {
		return nil, errors.New("storage: open: empty path")
	}
	if log == nil {
		log = zap.NewNop()
	}
	if now == nil {
		now = time.Now
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("storage: open: %w", err)
	}
	if err := createFile(abs); err != nil {
		return nil, fmt.Errorf("storage: open: %w", err)
	}

	writer, err := sql.Open("sqlite3", dsn(abs, writerOptions))
	if err != nil {
		return nil, fmt.Errorf("storage: open writer: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)

	db := &DB{writer: writer, log: log, now: now}
	// The writer goes first: it switches the file to WAL and creates the
	// schema, so the query-only readers never have to.
	if err := db.migrate(ctx); err != nil {
		return nil, errors.Join(err, writer.Close())
	}

	reader, err := sql.Open("sqlite3", dsn(abs, readerOptions))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("storage: open reader: %w", err), writer.Close())
	}
	reader.SetMaxOpenConns(readerConns)
	reader.SetMaxIdleConns(readerConns)
	reader.SetConnMaxLifetime(0)
	reader.SetConnMaxIdleTime(0)
	db.reader = reader

	if err := db.Ping(ctx); err != nil {
		return nil, errors.Join(err, reader.Close(), writer.Close())
	}
	stmts, err := prepare(ctx, writer, reader)
	if err != nil {
		return nil, errors.Join(err, reader.Close(), writer.Close())
	}
	db.stmts = stmts
	log.Debug("database open", zap.String("path", abs))
	return db, nil
}

// createFile makes path's directory and, if the file does not exist yet, an
// empty file with mode 0600. SQLite would otherwise create it with the
// process umask, and its -wal and -shm files copy the main file's mode.
func createFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	return f.Close()
}

// dsn builds a file: URI so that any character in the path ('?', '#', '%')
// is escaped rather than read as the start of the options.
func dsn(path, options string) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: options}
	return u.String()
}

// Close closes both pools. Call it after the last write has returned.
func (db *DB) Close() error {
	var errs []error
	if db.stmts != nil {
		errs = append(errs, db.stmts.close())
	}
	if db.reader != nil {
		errs = append(errs, db.reader.Close())
	}
	errs = append(errs, db.writer.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("storage: close: %w", err)
	}
	return nil
}

// Ping reports whether the database answers a trivial query on the read
// pool; it backs the readiness check.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.reader.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("storage: ping: %w", err)
	}
	return nil
}

// Tx is a write transaction handed to the function given to WriteTx. It is
// valid only until that function returns.
type Tx struct {
	tx *sql.Tx
	db *DB
}

// WriteTx runs fn in one transaction on the writer connection. If fn returns
// an error (or panics) the transaction is rolled back and fn's error is
// returned; otherwise it is committed and a commit error is returned.
// Concurrent calls queue for the single writer connection.
func (db *DB) WriteTx(ctx context.Context, fn func(tx *Tx) error) error {
	return inTx(ctx, db.writer, func(tx *sql.Tx) error { return fn(&Tx{tx: tx, db: db}) })
}

// inTx runs fn in a transaction on pool: IMMEDIATE on the writer, DEFERRED
// (a consistent read snapshot) on the reader.
func inTx(ctx context.Context, pool *sql.DB, fn func(tx *sql.Tx) error) (err error) {
	tx, err := pool.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storage: begin: %w", err)
	}
	defer func() {
		// After a commit, successful or not, Rollback reports ErrTxDone.
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			err = errors.Join(err, fmt.Errorf("storage: rollback: %w", rbErr))
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("storage: commit: %w", err)
	}
	return nil
}

// isUniqueViolation reports whether err is SQLite's UNIQUE constraint error.
func isUniqueViolation(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique
}

// toMS converts t to unix milliseconds, with the zero time as 0.
func toMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMS is the inverse of toMS; times come back in UTC.
func fromMS(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
