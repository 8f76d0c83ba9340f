"""SQLite schema versions. Each entry moves the schema from version N to N+1; never edit one
that has shipped, add a new one. The version lives in ``PRAGMA user_version``."""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: executions, units, attempts, events
    """
    CREATE TABLE executions (
        id             TEXT PRIMARY KEY,
        name           TEXT NOT NULL,
        kind           TEXT NOT NULL DEFAULT 'pipeline',
        state          TEXT NOT NULL,
        mode           TEXT NOT NULL,
        spec_path      TEXT,
        spec_digest    TEXT NOT NULL,
        spec_text      TEXT NOT NULL,
        parameters     TEXT NOT NULL,
        run_dir        TEXT NOT NULL,
        created_at     REAL NOT NULL,
        started_at     REAL,
        ended_at       REAL,
        reason         TEXT,
        supervisor_pid INTEGER,
        heartbeat_at   REAL
    );
    CREATE INDEX executions_by_name ON executions (name, created_at);
    CREATE INDEX executions_by_state ON executions (state);
    CREATE TABLE units (
        execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
        position     INTEGER NOT NULL,
        name         TEXT NOT NULL,
        kind         TEXT NOT NULL,
        state        TEXT NOT NULL,
        attempts     INTEGER NOT NULL DEFAULT 0,
        started_at   REAL,
        ended_at     REAL,
        exit_code    INTEGER,
        reason       TEXT,
        pid          INTEGER,
        log_path     TEXT,
        PRIMARY KEY (execution_id, name)
    );
    CREATE TABLE attempts (
        execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
        unit         TEXT NOT NULL,
        number       INTEGER NOT NULL,
        state        TEXT NOT NULL,
        started_at   REAL,
        ended_at     REAL,
        exit_code    INTEGER,
        signal       TEXT,
        reason       TEXT,
        pid          INTEGER,
        resources    TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (execution_id, unit, number)
    );
    CREATE TABLE events (
        id           INTEGER PRIMARY KEY,
        execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
        ts           REAL NOT NULL,
        action       TEXT NOT NULL,
        unit         TEXT,
        data         TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_by_execution ON events (execution_id, id);
    """,
    # 2: stop requests for a supervisor (written by `shipyard stop`, read on SIGTERM)
    """
    ALTER TABLE executions ADD COLUMN stop_requested_at REAL;
    ALTER TABLE executions ADD COLUMN stop_force INTEGER;
    ALTER TABLE executions ADD COLUMN stop_grace REAL;
    """,
    # 3: cache keys: what a successful step's result depended on (for resume and --resume-from)
    """
    ALTER TABLE units ADD COLUMN cache_key TEXT;
    ALTER TABLE attempts ADD COLUMN cache_key TEXT;
    """,
    # 4: services (fleets): where they listen, how they are, how often they restarted
    """
    ALTER TABLE units ADD COLUMN port INTEGER;
    ALTER TABLE units ADD COLUMN url TEXT;
    ALTER TABLE units ADD COLUMN health TEXT;
    ALTER TABLE units ADD COLUMN restarts INTEGER NOT NULL DEFAULT 0;
    """,
    # 5: what a user asked of a service. Unused since those requests go over the control
    # socket; kept, as migrations are never rewritten.
    """
    ALTER TABLE units ADD COLUMN desired TEXT;
    """,
    # 6: named pipelines, metrics steps report, sweeps and their points, template repositories
    # (issue 12). Not shipped yet: each part's owner may still change its own statements here.
    """
    CREATE TABLE pipelines (
        name        TEXT PRIMARY KEY,
        spec_name   TEXT NOT NULL,
        spec_path   TEXT,
        spec_text   TEXT NOT NULL,
        spec_digest TEXT NOT NULL,
        defaults    TEXT NOT NULL DEFAULT '{}',
        added_at    REAL NOT NULL,
        updated_at  REAL NOT NULL,
        summary     TEXT
    );
    ALTER TABLE executions ADD COLUMN pipeline TEXT;
    CREATE INDEX executions_by_pipeline ON executions (pipeline, created_at);
    CREATE TABLE metrics (
        execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
        unit         TEXT NOT NULL,
        attempt      INTEGER NOT NULL,
        seq          INTEGER NOT NULL,
        name         TEXT NOT NULL,
        value        REAL NOT NULL,
        unit_label   TEXT,
        recorded_at  REAL NOT NULL,
        PRIMARY KEY (execution_id, unit, attempt, seq)
    );
    CREATE TABLE sweeps (
        id             TEXT PRIMARY KEY,
        name           TEXT NOT NULL,
        spec_path      TEXT,
        spec_text      TEXT NOT NULL,
        settings       TEXT NOT NULL,
        parameters     TEXT NOT NULL DEFAULT '{}',
        state          TEXT NOT NULL,
        created_at     REAL NOT NULL,
        ended_at       REAL,
        reason         TEXT,
        supervisor_pid INTEGER,
        heartbeat_at   REAL,
        stop_requested_at REAL,
        resumed_from   TEXT,
        pipeline       TEXT
    );
    CREATE TABLE sweep_points (
        sweep_id     TEXT NOT NULL REFERENCES sweeps (id) ON DELETE CASCADE,
        point_hash   TEXT NOT NULL,
        repeat       INTEGER NOT NULL,
        position     INTEGER NOT NULL,
        parameters   TEXT NOT NULL,
        execution_id TEXT,
        state        TEXT NOT NULL,
        reason       TEXT,
        started_at   REAL,
        duration     REAL,
        metrics      TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (sweep_id, point_hash, repeat)
    );
    CREATE INDEX events_alerts ON events (execution_id) WHERE action = 'alert';
    CREATE TABLE index_repos (
        name       TEXT PRIMARY KEY,
        source     TEXT NOT NULL,
        kind       TEXT NOT NULL,
        path       TEXT NOT NULL,
        revision   TEXT,
        added_at   REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
    # 7: a service's last health probe: its verdict and what it saw (a status code, an agent
    # card's mismatch, a connection error), shown by ps and status (issue 11 item 13)
    """
    ALTER TABLE units ADD COLUMN probe TEXT;
    ALTER TABLE units ADD COLUMN probe_ok INTEGER;
    """,
    # 8: the hooks' events, read by every status (hooks are units of their run for status
    # and logs, issue 11 item 12): found without reading the other events of a large run
    """
    CREATE INDEX events_hooks ON events (execution_id)
        WHERE action IN ('hook_started', 'hook_finished');
    """,
    # 9: files a step's declared outputs left in its artifacts folder (size, SHA-256: what a
    # dependant was handed), and failed quality gates passed on purpose by a person (issue 15)
    """
    CREATE TABLE artifacts (
        execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
        unit         TEXT NOT NULL,
        path         TEXT NOT NULL,
        size         INTEGER NOT NULL,
        sha256       TEXT NOT NULL,
        recorded_at  REAL NOT NULL,
        PRIMARY KEY (execution_id, unit, path)
    );
    CREATE TABLE gate_approvals (
        execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
        unit         TEXT NOT NULL,
        approved_by  TEXT NOT NULL,
        reason       TEXT NOT NULL,
        approved_at  REAL NOT NULL,
        gates        TEXT NOT NULL DEFAULT '[]',
        PRIMARY KEY (execution_id, unit)
    );
    """,
    # 10: the model registry (issue 15 §4): models, their versions (digest, size, the step
    # that made them, metrics, stage) and every stage change with who made it and when. A
    # model's production stack (the versions that were production, latest last) is what
    # ``models rollback`` walks back.
    """
    CREATE TABLE models (
        name             TEXT PRIMARY KEY,
        created_at       REAL NOT NULL,
        production_stack TEXT NOT NULL DEFAULT '[]'
    );
    CREATE TABLE model_versions (
        model          TEXT NOT NULL REFERENCES models (name) ON DELETE CASCADE,
        version        INTEGER NOT NULL,
        digest         TEXT NOT NULL,
        kind           TEXT NOT NULL,
        size           INTEGER NOT NULL,
        files          INTEGER NOT NULL,
        source_path    TEXT NOT NULL,
        execution_id   TEXT,
        step           TEXT,
        metrics        TEXT NOT NULL DEFAULT '{}',
        stage          TEXT NOT NULL,
        registered_at  REAL NOT NULL,
        registered_by  TEXT NOT NULL,
        PRIMARY KEY (model, version)
    );
    CREATE TABLE model_events (
        id         INTEGER PRIMARY KEY,
        model      TEXT NOT NULL REFERENCES models (name) ON DELETE CASCADE,
        version    INTEGER NOT NULL,
        action     TEXT NOT NULL,
        from_stage TEXT,
        to_stage   TEXT NOT NULL,
        actor      TEXT NOT NULL,
        at         REAL NOT NULL,
        detail     TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX model_events_by_model ON model_events (model, id);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
