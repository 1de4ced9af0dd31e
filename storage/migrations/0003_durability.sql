-- 0003: durability. Ingestion jobs (resource:add), written before the client hears 202,
-- so a crash loses neither the submitted tokens nor the job. An item's
-- tokens are cleared when its verdict is written; a job's items are deleted
-- with the job when it is pruned.

CREATE TABLE ingest_jobs (
    id           TEXT    PRIMARY KEY,
    provider     TEXT    NOT NULL,
    total        INTEGER NOT NULL,
    started_ms   INTEGER NOT NULL,
    finished_ms  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE ingest_items (
    job_id        TEXT    NOT NULL REFERENCES ingest_jobs(id) ON DELETE CASCADE,
    idx           INTEGER NOT NULL,
    -- The submitted seed, until the verdict is known ('' afterwards).
    refresh_token TEXT    NOT NULL DEFAULT '',
    access_token  TEXT    NOT NULL DEFAULT '',
    account       TEXT    NOT NULL DEFAULT '',
    -- The verdict as JSON ('' while pending); it never holds a token.
    verdict       TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, idx)
);

-- A refresh under way: written before the token endpoint is called, deleted
-- in the transaction that stores the new tokens. A row left at start means a
-- crash fell between the two; with rotating refresh tokens the stored token
-- may be dead, and the operator is told to sign in again if it is.
CREATE TABLE refresh_marks (
    credential_id INTEGER PRIMARY KEY REFERENCES credentials(id) ON DELETE CASCADE,
    started_ms    INTEGER NOT NULL
);
