// Package storage is Pollux's SQLite persistence: the credential pool, the
// per-model cooldowns, operator settings and aggregated usage counters.
//
// # Schema
//
// All times are unix milliseconds; a zero time.Time is stored as 0.
//
//	schema_version  one row: the number of the last migration applied.
//	credentials     one row per OAuth identity, unique on (provider, sub,
//	                account). account is the Code Assist project id for
//	                geminicli and the ChatGPT account id for codex. Tokens
//	                are kept as text next to refresh_token_sha256, which is
//	                indexed with provider so ingestion can find a known
//	                refresh token without comparing secrets. status is one
//	                of active, cooling, needs_reauth, ineligible, banned,
//	                disabled, with the reason and the time it was entered.
//	                extra is the provider's own JSON object.
//	cooldowns       (credential_id, model) → until, backoff step and reason.
//	                Model "*" cools the whole credential. Rows go away with
//	                their credential (ON DELETE CASCADE).
//	settings        key → opaque value bytes.
//	usage           per credential, model and UTC day (YYYY-MM-DD): request
//	                and token counters, added to in place. Deleting a
//	                credential keeps its usage with a NULL credential_id.
//	member_keys     one row per member key: name (unique), note, the SHA-256
//	                of its secret (never the secret), surface and model
//	                allow-lists (comma-separated; empty allows all), limits
//	                (0 = none), expiry, disabled flag, last-used time.
//	key_usage       per key id (0 = the operator key), provider, model and
//	                UTC day: requests, errors, input, output, cached and
//	                reasoning tokens, and requests whose tokens are unknown.
//	                No foreign key: usage outlives its key, under the name
//	                it had when last counted.
//
// Migrations are SQL files embedded from migrations/, named NNNN_name.sql and
// numbered from 1 without gaps. Open applies every migration newer than the
// database's schema_version, each in its own transaction, and refuses a
// database whose version is newer than the binary knows.
//
// # Who writes
//
// A DB holds two connection pools on the same file in WAL mode: a writer with
// exactly one connection whose transactions begin IMMEDIATE, and a small
// read-only pool. Only the persistence actor (package actors) writes, and
// only through WriteTx, so writes are serialised in one place and batched
// into as few transactions as it likes. Any goroutine may call the read
// methods concurrently; WAL lets them proceed while a write is in progress,
// and each read method sees one consistent snapshot.
//
// # One process per database
//
// AcquireLock takes an exclusive flock on "<database>.lock", which holds the
// holder's PID; a second process gets a *LockedError naming the file and
// that PID. The kernel releases the lock when the holder dies, however it
// dies. cmd/pollux takes it before Open.
//
// # The original Pollux's tables
//
// The original (Rust) Pollux kept credentials in gemini_cli, codex and
// antigravity tables of the same file. ImportOriginalTables copies them into
// credentials once (recorded in settings), in one transaction;
// ImportOriginalFile does the same from another file, opened read-only. Both
// only read the original's tables.
//
// Tokens are config.Secret values. They are revealed only as SQL parameters;
// no log line or error from this package contains one.
package storage
