-- API keys (issue 11). The V1 table holds the key, its grants, allowlist,
-- rate window and last use; this adds why a key was revoked and what its
-- failed verifications came to.
--
-- `revoked_at` may lie in the future: `apikeys rotate --grace D` sets the
-- old key's to the end of the grace period, until which it still verifies.
-- `revoked_reason` says which of `revoked` (`apikeys revoke`), `rotated`
-- (`apikeys rotate`) or `leaked` (`apikeys scan --revoke`) ended it.
ALTER TABLE api_keys ADD COLUMN revoked_reason TEXT NULL
    CHECK (revoked_reason IS NULL OR length(revoked_reason) BETWEEN 1 AND 32);

-- Verifications of this key refused after its prefix was found (wrong
-- secret, revoked, expired, IP, permission, owner, rate limit), the last
-- one's time and reason. Not audited: written by `apikeys verify` like the
-- last use, without the audit chain.
ALTER TABLE api_keys ADD COLUMN failure_count INTEGER NOT NULL DEFAULT 0
    CHECK (failure_count >= 0);
ALTER TABLE api_keys ADD COLUMN last_failure_at TEXT NULL
    CHECK (last_failure_at IS NULL OR (length(last_failure_at) = 27 AND substr(last_failure_at, -1) = 'Z'));
ALTER TABLE api_keys ADD COLUMN last_failure_reason TEXT NULL
    CHECK (last_failure_reason IS NULL OR length(last_failure_reason) BETWEEN 1 AND 32);

-- `show` finds the key a key was rotated to.
CREATE INDEX idx_api_keys_rotated_from ON api_keys (rotated_from);
