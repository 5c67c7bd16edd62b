-- Sessions (issue 9): token-signing keys, refresh token families, and the
-- indexes `keyward sessions prune` needs.

-- Ed25519 keys that sign access tokens. The public half is published by
-- `keyward sessions jwks`; the private half (the 32-byte seed) is sealed with
-- the kw1 envelope, associated data `signing:<kid>`, and re-sealed by
-- `keyward db rotate-key`. `kid` is the RFC 7638 thumbprint of the public key.
-- One key signs at a time (retired_at IS NULL); a retired key loses its
-- private half and stays published until `last_expiry` (the latest `exp` of a
-- token it signed) has passed, then `sessions prune` deletes it.
CREATE TABLE signing_keys (
    id          INTEGER PRIMARY KEY,
    kid         TEXT    NOT NULL UNIQUE CHECK (length(kid) BETWEEN 1 AND 64),
    algorithm   TEXT    NOT NULL CHECK (algorithm = 'EdDSA'),
    -- base64url without padding of the 32-byte public key (the JWK's `x`).
    public_key  TEXT    NOT NULL CHECK (length(public_key) = 43),
    private_key TEXT    NULL CHECK (private_key IS NULL OR private_key LIKE 'kw1:%'),
    created_at  TEXT    NOT NULL
                CHECK (length(created_at) = 27 AND substr(created_at, -1) = 'Z'),
    retired_at  TEXT    NULL
                CHECK (retired_at IS NULL OR (length(retired_at) = 27 AND substr(retired_at, -1) = 'Z')),
    last_expiry TEXT    NULL
                CHECK (last_expiry IS NULL OR (length(last_expiry) = 27 AND substr(last_expiry, -1) = 'Z')),
    CHECK (retired_at IS NOT NULL OR private_key IS NOT NULL)
);

-- At most one signer: every algorithm is 'EdDSA', so this admits one active row.
CREATE UNIQUE INDEX idx_signing_keys_one_active ON signing_keys (algorithm)
    WHERE retired_at IS NULL;

-- A session's refresh tokens form a family: `refresh_jti` (unique since V1)
-- holds the family's id, the first 12 characters of every refresh token of
-- the session, and `refresh_hash` the hex SHA-256 of the one token that may be
-- presented next. A token of the family that is not that one was spent: its
-- reuse revokes the session (revoked_reason 'refresh_reuse').
--
-- The table is rebuilt (rather than altered) to make `id` AUTOINCREMENT: a
-- session id is the `sid` claim of its access tokens, so it must never be
-- given again once its row is gone (deleted with its user, or pruned); a
-- plain INTEGER PRIMARY KEY reuses the highest id, and an old token would
-- verify against the new session. Its indexes go with the old table.
CREATE TABLE sessions_v4 (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
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
    revoked_reason     TEXT    NULL,
    refresh_hash       TEXT    NULL
                       CHECK (refresh_hash IS NULL OR length(refresh_hash) = 64),
    refresh_count      INTEGER NOT NULL DEFAULT 0
                       CHECK (refresh_count >= 0)
);
INSERT INTO sessions_v4 (id, user_id, access_jti, refresh_jti, device, ip_address, created_at,
                         expires_at, refresh_expires_at, last_used_at, revoked_at, revoked_reason)
    SELECT id, user_id, access_jti, refresh_jti, device, ip_address, created_at,
           expires_at, refresh_expires_at, last_used_at, revoked_at, revoked_reason
    FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_v4 RENAME TO sessions;
CREATE INDEX idx_sessions_user_id ON sessions (user_id);

-- Prune selects by when a session stops being usable (its refresh expiry, or
-- its access expiry when it has no refresh token) and by revocation time;
-- one index each replaces the two expiry indexes of V1.
CREATE INDEX idx_sessions_ends_at ON sessions (COALESCE(refresh_expires_at, expires_at));
CREATE INDEX idx_sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
