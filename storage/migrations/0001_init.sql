-- 0001: credentials, their cooldowns, settings and usage counters.
-- Times are unix milliseconds; 0 means "no time".

CREATE TABLE credentials (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    provider             TEXT    NOT NULL,
    sub                  TEXT    NOT NULL,
    email                TEXT    NOT NULL DEFAULT '',
    -- Code Assist project id for geminicli, ChatGPT account id for codex.
    account              TEXT    NOT NULL DEFAULT '',
    tier                 TEXT    NOT NULL DEFAULT '',
    access_token         TEXT    NOT NULL DEFAULT '',
    refresh_token        TEXT    NOT NULL,
    refresh_token_sha256 BLOB    NOT NULL,
    expiry_ms            INTEGER NOT NULL DEFAULT 0,
    extra                TEXT    NOT NULL DEFAULT '{}',
    status               TEXT    NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'cooling', 'needs_reauth', 'ineligible', 'banned', 'disabled')),
    status_reason        TEXT    NOT NULL DEFAULT '',
    status_since_ms      INTEGER NOT NULL,
    created_ms           INTEGER NOT NULL,
    updated_ms           INTEGER NOT NULL,
    UNIQUE (provider, sub, account)
);

CREATE INDEX credentials_refresh_token ON credentials (provider, refresh_token_sha256);

CREATE TABLE cooldowns (
    credential_id INTEGER NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    -- '*' cools the whole credential.
    model         TEXT    NOT NULL,
    until_ms      INTEGER NOT NULL,
    backoff       INTEGER NOT NULL DEFAULT 0,
    reason        TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (credential_id, model)
);

CREATE TABLE settings (
    key        TEXT    PRIMARY KEY,
    value      BLOB    NOT NULL,
    updated_ms INTEGER NOT NULL
);

-- Aggregated counters, one row per credential, model and UTC day.
CREATE TABLE usage (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    credential_id INTEGER REFERENCES credentials (id) ON DELETE SET NULL,
    provider      TEXT    NOT NULL,
    model         TEXT    NOT NULL,
    day           TEXT    NOT NULL, -- YYYY-MM-DD, UTC
    requests      INTEGER NOT NULL DEFAULT 0,
    input_tokens  INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    UNIQUE (credential_id, model, day)
);

CREATE INDEX usage_day ON usage (day);
