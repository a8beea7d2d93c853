-- hpod schema, version 1. Times are milliseconds since the epoch (UTC).
CREATE TABLE studies (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    spec        TEXT NOT NULL,              -- normalised spec, defaults filled
    spec_in     TEXT NOT NULL,              -- canonical text of the spec as submitted
    state       TEXT NOT NULL DEFAULT 'running'
                CHECK (state IN ('running', 'paused', 'finished')),
    direction   INTEGER NOT NULL,           -- 1 minimize, -1 maximize
    next_number INTEGER NOT NULL DEFAULT 0, -- number the next trial gets
    tokens_in   INTEGER NOT NULL DEFAULT 0,
    tokens_out  INTEGER NOT NULL DEFAULT 0,
    cost_usd    REAL NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    finished_at INTEGER
);

CREATE TABLE trials (
    id          INTEGER PRIMARY KEY,
    study_id    INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    number      INTEGER NOT NULL,
    state       TEXT NOT NULL
                CHECK (state IN ('pending', 'running', 'completed', 'failed', 'pruned')),
    params      TEXT NOT NULL,              -- JSON object, inactive params absent
    value       REAL,                       -- objective, NULL until finished
    values_json TEXT,                       -- all reported metrics of the result
    source      TEXT NOT NULL,              -- random, sobol, tpe, gp, llm, fallback:gp, manual ...
    worker      TEXT,                       -- holder of the current or last lease
    lease_expires_at INTEGER,
    attempts    INTEGER NOT NULL DEFAULT 0, -- leases handed out
    created_at  INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    error       TEXT,
    last_step   INTEGER,
    last_value  REAL,
    UNIQUE (study_id, number)
);
CREATE INDEX trials_study_state ON trials(study_id, state, value);
CREATE INDEX trials_running ON trials(lease_expires_at) WHERE state = 'running';
CREATE INDEX trials_worker ON trials(study_id, worker) WHERE state = 'running';

CREATE TABLE trial_reports (
    trial_id    INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    step        INTEGER NOT NULL,
    value       REAL,
    values_json TEXT,
    at          INTEGER NOT NULL,
    PRIMARY KEY (trial_id, step)
) WITHOUT ROWID;

CREATE TABLE trial_attempts (
    trial_id    INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    worker      TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    outcome     TEXT,                       -- completed, failed, pruned, stale, stopped
    PRIMARY KEY (trial_id, attempt)
) WITHOUT ROWID;

CREATE TABLE llm_calls (
    id          INTEGER PRIMARY KEY,
    study_id    INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    provider    TEXT NOT NULL,
    model       TEXT,
    request     TEXT NOT NULL,              -- the messages sent, JSON
    reply       TEXT,
    tokens_in   INTEGER NOT NULL DEFAULT 0,
    tokens_out  INTEGER NOT NULL DEFAULT 0,
    latency_ms  INTEGER NOT NULL DEFAULT 0,
    status      INTEGER,
    error       TEXT,
    trials      TEXT NOT NULL DEFAULT '[]'  -- numbers of the trials it produced, JSON
);
CREATE INDEX llm_calls_study ON llm_calls(study_id, id);

CREATE TABLE workers (
    study_id    INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    worker      TEXT NOT NULL,
    last_seen   INTEGER NOT NULL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    blocked_until INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (study_id, worker)
) WITHOUT ROWID;

CREATE TABLE tokens (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'worker', 'read')),
    hash        TEXT NOT NULL UNIQUE,       -- hex SHA-256 of the token
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
