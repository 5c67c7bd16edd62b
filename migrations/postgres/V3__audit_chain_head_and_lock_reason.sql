-- The audit chain's head (its newest entry's id and hash), kept in a table of
-- its own that a DELETE on audit_events does not reach. keyward moves it
-- forward in the same transaction as every append, and only if it still names
-- the entry the append follows; `keyward audit verify` compares the chain's
-- last entry with it, so deleting the newest entries (or all of them) is
-- reported as truncation. One row, never deleted, only moved forward.
CREATE TABLE audit_head (
    singleton SMALLINT NOT NULL PRIMARY KEY CHECK (singleton = 1),
    last_id   BIGINT   NOT NULL CHECK (last_id >= 0),
    last_hash TEXT     NOT NULL CHECK (char_length(last_hash) = 64)
);

-- An existing database starts from its current newest entry (an empty chain
-- from entry 0 and the genesis hash).
INSERT INTO audit_head (singleton, last_id, last_hash)
SELECT 1,
       COALESCE((SELECT id FROM audit_events ORDER BY id DESC LIMIT 1), 0),
       COALESCE((SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1),
                '0000000000000000000000000000000000000000000000000000000000000000');

CREATE OR REPLACE FUNCTION keyward_audit_head_forward_only() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF NEW.last_id <= OLD.last_id OR NEW.singleton <> OLD.singleton THEN
        RAISE EXCEPTION 'audit_head is append-only: its row cannot be deleted or moved back'
            USING ERRCODE = 'KW001';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER audit_head_forward_only
BEFORE UPDATE ON audit_head
FOR EACH ROW EXECUTE FUNCTION keyward_audit_head_forward_only();

CREATE TRIGGER audit_head_no_delete
BEFORE DELETE ON audit_head
FOR EACH ROW EXECUTE FUNCTION keyward_reject_audit_change();

CREATE TRIGGER audit_head_no_truncate
BEFORE TRUNCATE ON audit_head
FOR EACH STATEMENT EXECUTE FUNCTION keyward_reject_audit_change();

-- Why an account is locked: 'operator' (`keyward users lock`) or
-- 'failed_attempts' (the lockout policy); NULL when not locked, or for a lock
-- set before this version (an indefinite lock can only be an operator's).
ALTER TABLE users ADD COLUMN lock_reason TEXT NULL
    CHECK (lock_reason IS NULL OR lock_reason IN ('operator', 'failed_attempts'));

UPDATE users SET lock_reason = 'operator'
WHERE locked_until = TIMESTAMPTZ '9999-12-31 23:59:59+00';
