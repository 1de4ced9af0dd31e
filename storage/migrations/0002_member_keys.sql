-- 0002: member keys (a key per team member or tool) and their usage.
-- Times are unix milliseconds; 0 means "no time". A limit of 0 means none.

CREATE TABLE member_keys (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    name                TEXT    NOT NULL UNIQUE,
    note                TEXT    NOT NULL DEFAULT '',
    -- SHA-256 of the secret; the secret itself is never stored.
    digest              BLOB    NOT NULL UNIQUE,
    -- Comma-separated surfaces and model names or globs; '' allows all.
    surfaces            TEXT    NOT NULL DEFAULT '',
    models              TEXT    NOT NULL DEFAULT '',
    requests_per_minute INTEGER NOT NULL DEFAULT 0,
    concurrent_requests INTEGER NOT NULL DEFAULT 0,
    tokens_per_day      INTEGER NOT NULL DEFAULT 0,
    tokens_per_month    INTEGER NOT NULL DEFAULT 0,
    expires_ms          INTEGER NOT NULL DEFAULT 0,
    disabled            INTEGER NOT NULL DEFAULT 0,
    created_ms          INTEGER NOT NULL,
    updated_ms          INTEGER NOT NULL,
    last_used_ms        INTEGER NOT NULL DEFAULT 0
);

-- Counters per key, provider, model and UTC day. key_id 0 is the operator
-- key (pollux_key). key_name is the key's name when last counted, so the
-- usage of a deleted key still reads with its name. No foreign key: usage
-- outlives its key.
CREATE TABLE key_usage (
    key_id           INTEGER NOT NULL,
    key_name         TEXT    NOT NULL,
    provider         TEXT    NOT NULL,
    model            TEXT    NOT NULL,
    day              TEXT    NOT NULL, -- YYYY-MM-DD, UTC
    requests         INTEGER NOT NULL DEFAULT 0,
    errors           INTEGER NOT NULL DEFAULT 0,
    input_tokens     INTEGER NOT NULL DEFAULT 0,
    output_tokens    INTEGER NOT NULL DEFAULT 0,
    cached_tokens    INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    -- Requests whose token counts are unknown (a stream cut before the
    -- upstream reported usage).
    unknown_tokens   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, provider, model, day)
);

CREATE INDEX key_usage_day ON key_usage (day);
