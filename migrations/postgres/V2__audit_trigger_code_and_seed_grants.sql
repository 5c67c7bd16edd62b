-- The append-only trigger raises keyward's own SQLSTATE (KW001) instead of
-- insufficient_privilege (42501), so a read-only database role is no longer
-- reported as tampering.
CREATE OR REPLACE FUNCTION keyward_reject_audit_change() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: its rows cannot be changed or deleted', TG_TABLE_NAME
        USING ERRCODE = 'KW001';
END;
$$;

-- Which built-in grants the seed has applied to the system roles, so a later
-- keyward version brings new ones once and never re-grants what an operator
-- revoked.
CREATE TABLE seed_grants (
    role_name   TEXT        NOT NULL,
    resource    TEXT        NOT NULL,
    action      TEXT        NOT NULL,
    since       INTEGER     NOT NULL,
    applied_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (role_name, resource, action)
);

-- A database seeded by an earlier keyward already had every grant of seed
-- version 1 applied when its system roles were created: record them as
-- applied, so an operator's earlier revoke is not undone by the upgrade.
INSERT INTO seed_grants (role_name, resource, action, since)
WITH p(resource, action) AS (
    VALUES ('users', 'read'), ('users', 'write'), ('users', 'delete'),
           ('roles', 'read'), ('roles', 'write'),
           ('settings', 'read'), ('settings', 'write'), ('settings', 'delete'),
           ('flags', 'read'), ('flags', 'write'),
           ('apikeys', 'read'), ('apikeys', 'write'),
           ('audit', 'read')
)
SELECT r.name, p.resource, p.action, 1
FROM roles r, p
WHERE r.is_system = TRUE AND (
       r.name = 'admin'
    OR (r.name = 'operator' AND (p.resource || ':' || p.action) NOT IN ('users:delete', 'settings:delete', 'roles:write'))
    OR (r.name = 'developer' AND (p.resource || ':' || p.action) IN ('settings:read', 'settings:write', 'flags:read', 'flags:write', 'audit:read'))
    OR (r.name = 'viewer' AND p.action = 'read')
);
