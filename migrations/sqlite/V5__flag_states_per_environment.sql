-- Feature flags per environment (issue 10). A flag's name, description and
-- bucketing group are global (`feature_flags`); whether it is on, its
-- rollout percentage and its targeted users and roles belong to one
-- environment (`feature_flag_states`). A flag never configured in an
-- environment has no state row there and is off. The V1 columns move to the
-- `development` state of each existing flag, then leave `feature_flags`.

-- `feature_flags` is rebuilt (rather than altered) to make `id`
-- AUTOINCREMENT: a plain INTEGER PRIMARY KEY gives the highest id again once
-- its row is gone, and a flag deleted where foreign keys are not enforced
-- (the sqlite3 shell) leaves its states behind for the next flag to inherit.
-- The states' table refers to the new table, renamed at the end.
CREATE TABLE feature_flags_v5 (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL UNIQUE,
    description  TEXT    NULL,
    -- The bucketing group (Unleash's groupId); NULL means the flag's own name.
    group_id     TEXT    NULL
                 CHECK (group_id IS NULL OR length(group_id) BETWEEN 1 AND 100),
    created_at   TEXT    NOT NULL
                 CHECK (length(created_at) = 27 AND substr(created_at, -1) = 'Z'),
    updated_at   TEXT    NOT NULL
                 CHECK (length(updated_at) = 27 AND substr(updated_at, -1) = 'Z')
);
INSERT INTO feature_flags_v5 (id, name, description, created_at, updated_at)
    SELECT id, name, description, created_at, updated_at FROM feature_flags;

CREATE TABLE feature_flag_states (
    id           INTEGER PRIMARY KEY,
    flag_id      INTEGER NOT NULL REFERENCES feature_flags_v5 (id) ON DELETE CASCADE,
    environment  TEXT    NOT NULL CHECK (length(environment) BETWEEN 1 AND 64),
    enabled      INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
    percentage   INTEGER NOT NULL DEFAULT 0 CHECK (percentage BETWEEN 0 AND 100),
    -- JSON arrays of usernames and role names, sorted, without duplicates.
    target_users TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(target_users) AND json_type(target_users) = 'array'),
    target_roles TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(target_roles) AND json_type(target_roles) = 'array'),
    created_at   TEXT    NOT NULL
                 CHECK (length(created_at) = 27 AND substr(created_at, -1) = 'Z'),
    updated_at   TEXT    NOT NULL
                 CHECK (length(updated_at) = 27 AND substr(updated_at, -1) = 'Z'),
    UNIQUE (flag_id, environment)
);

CREATE INDEX idx_feature_flag_states_environment ON feature_flag_states (environment);

INSERT INTO feature_flag_states (flag_id, environment, enabled, percentage, target_users, target_roles, created_at, updated_at)
SELECT id, 'development', enabled, percentage, target_users, target_roles, created_at, updated_at
FROM feature_flags;

DROP TABLE feature_flags;
ALTER TABLE feature_flags_v5 RENAME TO feature_flags;
