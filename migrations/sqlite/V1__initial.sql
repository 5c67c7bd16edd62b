-- keyward schema, version 1 (SQLite dialect).
--
-- Conventions (the Rust code relies on them):
--   * ids are INTEGER PRIMARY KEY (rowid alias), except audit_events.id, which
--     the application assigns (gapless) and is therefore a plain BIGINT key;
--   * timestamps are TEXT in RFC 3339 UTC with exactly six fractional digits
--     and a trailing 'Z' (e.g. 2026-11-24T12:00:00.000000Z), 27 characters,
--     so that they sort and compare correctly as text; the application always
--     supplies them (no defaults);
--   * booleans are INTEGER 0/1;
--   * JSON columns are TEXT holding valid JSON.
-- Foreign keys are only enforced with PRAGMA foreign_keys = ON, which the
-- application sets on every connection (a PRAGMA here would be a no-op, since
-- refinery runs the migration inside a transaction).

CREATE TABLE users (
    id                    INTEGER PRIMARY KEY,
    username              TEXT    NOT NULL UNIQUE
                          CHECK (length(username) BETWEEN 3 AND 32),
    email                 TEXT    NOT NULL UNIQUE,
    password_hash         TEXT    NOT NULL,
    is_active             INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    failed_login_attempts INTEGER NOT NULL DEFAULT 0 CHECK (failed_login_attempts >= 0),
    locked_until          TEXT    NULL
                          CHECK (locked_until IS NULL OR (length(locked_until) = 27 AND substr(locked_until, -1) = 'Z')),
    last_login_at         TEXT    NULL
                          CHECK (last_login_at IS NULL OR (length(last_login_at) = 27 AND substr(last_login_at, -1) = 'Z')),
    password_changed_at   TEXT    NULL
                          CHECK (password_changed_at IS NULL OR (length(password_changed_at) = 27 AND substr(password_changed_at, -1) = 'Z')),
    -- Encrypted envelope, never the plain secret.
    totp_secret           TEXT    NULL,
    totp_enabled          INTEGER NOT NULL DEFAULT 0 CHECK (totp_enabled IN (0, 1)),
    -- Last accepted TOTP time step (replay protection).
    totp_last_step        INTEGER NULL,
    created_at            TEXT    NOT NULL
                          CHECK (length(created_at) = 27 AND substr(created_at, -1) = 'Z'),
    updated_at            TEXT    NOT NULL
                          CHECK (length(updated_at) = 27 AND substr(updated_at, -1) = 'Z')
);

CREATE TABLE roles (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    description TEXT    NULL,
    is_system   INTEGER NOT NULL DEFAULT 0 CHECK (is_system IN (0, 1)),
    created_at  TEXT    NOT NULL
                CHECK (length(created_at) = 27 AND substr(created_at, -1) = 'Z'),
    updated_at  TEXT    NOT NULL
                CHECK (length(updated_at) = 27 AND substr(updated_at, -1) = 'Z')
);

CREATE TABLE permissions (
    id          INTEGER PRIMARY KEY,
    resource    TEXT    NOT NULL,
    action      TEXT    NOT NULL CHECK (action IN ('read', 'write', 'delete', 'admin')),
    description TEXT    NULL,
    created_at  TEXT    NOT NULL
                CHECK (length(created_at) = 27 AND substr(created_at, -1) = 'Z'),
    UNIQUE (resource, action)
);

CREATE TABLE role_permissions (
    role_id       INTEGER NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    permission_id INTEGER NOT NULL REFERENCES permissions (id) ON DELETE CASCADE,
    granted_at    TEXT    NOT NULL
                  CHECK (length(granted_at) = 27 AND substr(granted_at, -1) = 'Z'),
    PRIMARY KEY (role_id, permission_id)
);

CREATE INDEX idx_role_permissions_permission_id ON role_permissions (permission_id);

CREATE TABLE user_roles (
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id     INTEGER NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    assigned_at TEXT    NOT NULL
                CHECK (length(assigned_at) = 27 AND substr(assigned_at, -1) = 'Z'),
    PRIMARY KEY (user_id, role_id)
);

CREATE INDEX idx_user_roles_role_id ON user_roles (role_id);

CREATE TABLE sessions (
    id                 INTEGER PRIMARY KEY,
    user_id            INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    access_jti         TEXT    NOT NULL UNIQUE,
    refresh_jti        TEXT    NULL UNIQUE,
    device             TEXT    NULL,
    ip_address         TEXT    NULL,
    created_at         TEXT    NOT NULL
                       CHECK (length(created_at) = 27 AND substr(created_at, -1) = 'Z'),
    -- Expiry of the access token.
    expires_at         TEXT    NOT NULL
                       CHECK (length(expires_at) = 27 AND substr(expires_at, -1) = 'Z'),
    refresh_expires_at TEXT    NULL
                       CHECK (refresh_expires_at IS NULL OR (length(refresh_expires_at) = 27 AND substr(refresh_expires_at, -1) = 'Z')),
    last_used_at       TEXT    NULL
                       CHECK (last_used_at IS NULL OR (length(last_used_at) = 27 AND substr(last_used_at, -1) = 'Z')),
    revoked_at         TEXT    NULL
                       CHECK (revoked_at IS NULL OR (length(revoked_at) = 27 AND substr(revoked_at, -1) = 'Z')),
    revoked_reason     TEXT    NULL
);

CREATE INDEX idx_sessions_user_id ON sessions (user_id);
CREATE INDEX idx_sessions_expires_at ON sessions (expires_at);
CREATE INDEX idx_sessions_refresh_expires_at ON sessions (refresh_expires_at);

CREATE TABLE settings (
    id           INTEGER PRIMARY KEY,
    key          TEXT    NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    environment  TEXT    NOT NULL,
    -- NULL only once the setting has been deleted.
    value        TEXT    NULL,
    value_type   TEXT    NOT NULL DEFAULT 'string'
                 CHECK (value_type IN ('string', 'int', 'float', 'bool', 'json')),
    is_encrypted INTEGER NOT NULL DEFAULT 0 CHECK (is_encrypted IN (0, 1)),
    category     TEXT    NULL,
    description  TEXT    NULL,
    version      INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
    is_deleted   INTEGER NOT NULL DEFAULT 0 CHECK (is_deleted IN (0, 1)),
    created_at   TEXT    NOT NULL
                 CHECK (length(created_at) = 27 AND substr(created_at, -1) = 'Z'),
    updated_at   TEXT    NOT NULL
                 CHECK (length(updated_at) = 27 AND substr(updated_at, -1) = 'Z'),
    updated_by   TEXT    NULL,
    UNIQUE (key, environment),
    CHECK (value IS NOT NULL OR is_deleted = 1)
);

CREATE INDEX idx_settings_environment_category ON settings (environment, category);

-- Append-only: see the triggers below.
CREATE TABLE settings_audit_log (
    id           INTEGER PRIMARY KEY,
    setting_id   INTEGER NOT NULL REFERENCES settings (id) ON DELETE RESTRICT,
    key          TEXT    NOT NULL,
    environment  TEXT    NOT NULL,
    action       TEXT    NOT NULL CHECK (action IN ('create', 'update', 'delete', 'rollback')),
    old_value    TEXT    NULL,
    new_value    TEXT    NULL,
    is_encrypted INTEGER NOT NULL DEFAULT 0 CHECK (is_encrypted IN (0, 1)),
    value_type   TEXT    NOT NULL DEFAULT 'string'
                 CHECK (value_type IN ('string', 'int', 'float', 'bool', 'json')),
    category     TEXT    NULL,
    description  TEXT    NULL,
    version      INTEGER NOT NULL CHECK (version >= 1),
    actor        TEXT    NOT NULL,
    changed_at   TEXT    NOT NULL
                 CHECK (length(changed_at) = 27 AND substr(changed_at, -1) = 'Z')
);

CREATE INDEX idx_settings_audit_log_setting_id_changed_at ON settings_audit_log (setting_id, changed_at);
CREATE INDEX idx_settings_audit_log_environment_key ON settings_audit_log (environment, key);

CREATE TABLE feature_flags (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL UNIQUE,
    description  TEXT    NULL,
    enabled      INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
    percentage   INTEGER NOT NULL DEFAULT 0 CHECK (percentage BETWEEN 0 AND 100),
    target_users TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(target_users)),
    target_roles TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(target_roles)),
    created_at   TEXT    NOT NULL
                 CHECK (length(created_at) = 27 AND substr(created_at, -1) = 'Z'),
    updated_at   TEXT    NOT NULL
                 CHECK (length(updated_at) = 27 AND substr(updated_at, -1) = 'Z')
);

CREATE TABLE api_keys (
    id                    INTEGER PRIMARY KEY,
    name                  TEXT    NOT NULL,
    -- 'kw_' followed by 8 characters; shown to users to identify the key.
    key_prefix            TEXT    NOT NULL UNIQUE
                          CHECK (length(key_prefix) = 11 AND substr(key_prefix, 1, 3) = 'kw_'),
    -- Hex SHA-256 of the full key.
    key_hash              TEXT    NOT NULL UNIQUE CHECK (length(key_hash) = 64),
    user_id               INTEGER NULL REFERENCES users (id) ON DELETE CASCADE,
    permissions           TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(permissions)),
    allowed_ips           TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(allowed_ips)),
    rate_limit_per_minute INTEGER NULL CHECK (rate_limit_per_minute > 0),
    rate_window_start     TEXT    NULL
                          CHECK (rate_window_start IS NULL OR (length(rate_window_start) = 27 AND substr(rate_window_start, -1) = 'Z')),
    rate_window_count     INTEGER NOT NULL DEFAULT 0 CHECK (rate_window_count >= 0),
    expires_at            TEXT    NULL
                          CHECK (expires_at IS NULL OR (length(expires_at) = 27 AND substr(expires_at, -1) = 'Z')),
    revoked_at            TEXT    NULL
                          CHECK (revoked_at IS NULL OR (length(revoked_at) = 27 AND substr(revoked_at, -1) = 'Z')),
    rotated_from          INTEGER NULL REFERENCES api_keys (id) ON DELETE SET NULL,
    last_used_at          TEXT    NULL
                          CHECK (last_used_at IS NULL OR (length(last_used_at) = 27 AND substr(last_used_at, -1) = 'Z')),
    last_used_ip          TEXT    NULL,
    created_at            TEXT    NOT NULL
                          CHECK (length(created_at) = 27 AND substr(created_at, -1) = 'Z'),
    created_by            TEXT    NULL
);

CREATE INDEX idx_api_keys_user_id ON api_keys (user_id);
CREATE INDEX idx_api_keys_expires_at ON api_keys (expires_at);

-- Hash-chained, append-only audit trail: see the triggers below. The id is
-- assigned by the application (gapless), so it is deliberately not a rowid
-- alias; typeof() keeps a non-integer from slipping past "id >= 1" (in SQLite
-- any text compares greater than any number).
CREATE TABLE audit_events (
    id          BIGINT  NOT NULL PRIMARY KEY CHECK (typeof(id) = 'integer' AND id >= 1),
    occurred_at TEXT    NOT NULL
                CHECK (length(occurred_at) = 27 AND substr(occurred_at, -1) = 'Z'),
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    target_type TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    details     TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(details)),
    prev_hash   TEXT    NOT NULL CHECK (length(prev_hash) = 64),
    hash        TEXT    NOT NULL UNIQUE CHECK (length(hash) = 64)
);

CREATE INDEX idx_audit_events_occurred_at ON audit_events (occurred_at);
CREATE INDEX idx_audit_events_actor ON audit_events (actor);
CREATE INDEX idx_audit_events_action ON audit_events (action);
CREATE INDEX idx_audit_events_target ON audit_events (target_type, target);

-- Key-check values for the settings encryption keys.
CREATE TABLE key_checks (
    kid         TEXT NOT NULL PRIMARY KEY CHECK (length(kid) = 8),
    check_value TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('active', 'previous')),
    created_at  TEXT NOT NULL
                CHECK (length(created_at) = 27 AND substr(created_at, -1) = 'Z'),
    retired_at  TEXT NULL
                CHECK (retired_at IS NULL OR (length(retired_at) = 27 AND substr(retired_at, -1) = 'Z'))
);

-- At most one active key.
CREATE UNIQUE INDEX idx_key_checks_one_active ON key_checks (state) WHERE state = 'active';

-- The audit tables are append-only.
CREATE TRIGGER settings_audit_log_no_update
BEFORE UPDATE ON settings_audit_log
BEGIN
    SELECT RAISE(ABORT, 'settings_audit_log is append-only: its rows cannot be changed or deleted');
END;

CREATE TRIGGER settings_audit_log_no_delete
BEFORE DELETE ON settings_audit_log
BEGIN
    SELECT RAISE(ABORT, 'settings_audit_log is append-only: its rows cannot be changed or deleted');
END;

CREATE TRIGGER audit_events_no_update
BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: its rows cannot be changed or deleted');
END;

CREATE TRIGGER audit_events_no_delete
BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: its rows cannot be changed or deleted');
END;
