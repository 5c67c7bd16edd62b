-- The audit chain's head (its newest entry's id and hash), kept in a table of
-- its own that a DELETE on audit_events does not reach. keyward moves it
-- forward in the same transaction as every append, and only if it still names
-- the entry the append follows; `keyward audit verify` compares the chain's
-- last entry with it, so deleting the newest entries (or all of them) is
-- reported as truncation. One row, never deleted, only moved forward.
CREATE TABLE audit_head (
    singleton INTEGER NOT NULL PRIMARY KEY CHECK (singleton = 1),
    last_id   BIGINT  NOT NULL CHECK (typeof(last_id) = 'integer' AND last_id >= 0),
    last_hash TEXT    NOT NULL CHECK (length(last_hash) = 64)
);

-- An existing database starts from its current newest entry (an empty chain
-- from entry 0 and the genesis hash).
INSERT INTO audit_head (singleton, last_id, last_hash)
SELECT 1,
       COALESCE((SELECT id FROM audit_events ORDER BY id DESC LIMIT 1), 0),
       COALESCE((SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1),
                '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TRIGGER audit_head_no_delete
BEFORE DELETE ON audit_head
BEGIN
    SELECT RAISE(ABORT, 'audit_head is append-only: its row cannot be deleted or moved back');
END;

CREATE TRIGGER audit_head_forward_only
BEFORE UPDATE ON audit_head
WHEN NEW.last_id <= OLD.last_id OR NEW.singleton <> OLD.singleton
BEGIN
    SELECT RAISE(ABORT, 'audit_head is append-only: its row cannot be deleted or moved back');
END;

-- Why an account is locked: 'operator' (`keyward users lock`) or
-- 'failed_attempts' (the lockout policy); NULL when not locked, or for a lock
-- set before this version (an indefinite lock can only be an operator's).
ALTER TABLE users ADD COLUMN lock_reason TEXT NULL
    CHECK (lock_reason IS NULL OR lock_reason IN ('operator', 'failed_attempts'));

UPDATE users SET lock_reason = 'operator'
WHERE locked_until = '9999-12-31T23:59:59.000000Z';
