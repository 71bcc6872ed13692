-- Up Migration

-- An audit log nobody can rewrite unnoticed (issue 26, item 3).
--
-- Every row carries a SHA-256 hash over its contents and the hash of the row
-- before it (chain_seq orders the chain), so that a row changed, removed or
-- inserted behind the triggers' back (a superuser's session_replication_role,
-- an owner disabling the triggers) breaks the chain from that row on.
-- GET /api/v1/audit/verify and `npm run audit:verify` recompute it.
--
-- The database, not the service, sets what the service could otherwise make
-- up: created_at (its own clock), db_user (the login that wrote the row) and
-- the chain. The actor must be the one bound to the transaction
-- (set_config('matih.audit_actor', …, true)), which the service does in the
-- very statement that inserts the row.
ALTER TABLE provisioning_audit_logs
    ADD COLUMN db_user   text,
    ADD COLUMN chain_seq bigint,
    ADD COLUMN prev_hash bytea,
    ADD COLUMN hash      bytea;

COMMENT ON COLUMN provisioning_audit_logs.db_user IS 'the database login (session_user) that inserted the row; NULL for rows from before the chain';
COMMENT ON COLUMN provisioning_audit_logs.chain_seq IS 'position in the hash chain: 1, 2, 3, … without gaps';
COMMENT ON COLUMN provisioning_audit_logs.prev_hash IS 'hash of the row at chain_seq - 1 (32 zero bytes for the first)';
COMMENT ON COLUMN provisioning_audit_logs.hash IS 'sha256(prev_hash || the row''s canonical text, see provisioning_audit_logs_digest)';

-- The canonical text is a JSON array of the row's fields with the time in UTC
-- to the microsecond, so that it does not depend on the session's TimeZone or
-- DateStyle. The verifier (server/db/audit.ts) builds the same text in its own
-- query and hashes it itself: it does not rely on this function.
CREATE FUNCTION provisioning_audit_logs_digest(prev bytea, r provisioning_audit_logs) RETURNS bytea
    LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT sha256(prev || convert_to(jsonb_build_array(
        r.chain_seq, r.id, r.tenant_id, r.run_id, r.entity, r.phase, r.actor, r.from_status, r.to_status, r.message, r.details,
        to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), r.db_user)::text, 'UTF8'))
$$;

-- Rows already there are chained in id order; the append-only trigger steps
-- aside for this one update (the migration runs as the table's owner, in one
-- transaction with everything else).
ALTER TABLE provisioning_audit_logs DISABLE TRIGGER provisioning_audit_logs_no_update;
DO $$
DECLARE
    r provisioning_audit_logs;
    prev bytea := decode(repeat('00', 32), 'hex');
    n bigint := 0;
BEGIN
    FOR r IN SELECT * FROM provisioning_audit_logs ORDER BY id LOOP
        n := n + 1;
        r.chain_seq := n;
        r.prev_hash := prev;
        r.hash := provisioning_audit_logs_digest(prev, r);
        UPDATE provisioning_audit_logs SET chain_seq = r.chain_seq, prev_hash = r.prev_hash, hash = r.hash WHERE id = r.id;
        prev := r.hash;
    END LOOP;
END;
$$;
ALTER TABLE provisioning_audit_logs ENABLE TRIGGER provisioning_audit_logs_no_update;

-- Enforced even with triggers off: a forged row must come with a chain position and hashes.
ALTER TABLE provisioning_audit_logs
    ALTER COLUMN chain_seq SET NOT NULL,
    ALTER COLUMN prev_hash SET NOT NULL,
    ALTER COLUMN hash SET NOT NULL;
CREATE UNIQUE INDEX provisioning_audit_logs_chain ON provisioning_audit_logs (chain_seq);

-- Seals each new row. Replicas insert at once: a transaction-scoped advisory
-- lock makes them take turns from here to their commit, so each one reads the
-- head committed before it (a fresh snapshot per query in READ COMMITTED; in
-- REPEATABLE READ a stale head fails on the unique chain_seq instead of
-- forking the chain). BEFORE INSERT triggers fire in name order: nothing may
-- change the row after this one (keep other BEFORE INSERT triggers' names
-- sorting before "provisioning_audit_logs_seal").
CREATE FUNCTION provisioning_audit_logs_seal() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    bound text := current_setting('matih.audit_actor', true);
    last_seq bigint;
    last_hash bytea;
BEGIN
    IF coalesce(bound, '') = '' THEN
        RAISE EXCEPTION 'provisioning_audit_logs: no actor is bound to this transaction'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'insert with the actor set_config(''matih.audit_actor'', actor, true) returns, in the same statement or transaction';
    END IF;
    IF NEW.actor IS DISTINCT FROM bound THEN
        RAISE EXCEPTION 'provisioning_audit_logs: the row names actor "%", but the actor bound to this transaction is "%"', NEW.actor, bound
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- Key (0x6d617449 'matI', 1): a class of its own, apart from the service's
    -- other two-key locks (class 0x6d617469 'mati': backend claim, admission)
    -- and from node-pg-migrate's and pg-boss's one-key locks.
    PERFORM pg_advisory_xact_lock(1835103305, 1);
    SELECT chain_seq, hash INTO last_seq, last_hash FROM provisioning_audit_logs ORDER BY chain_seq DESC LIMIT 1;
    -- Taken after the lock, so that time order and chain order agree.
    NEW.created_at := clock_timestamp();
    NEW.db_user := session_user;
    NEW.chain_seq := coalesce(last_seq, 0) + 1;
    NEW.prev_hash := coalesce(last_hash, decode(repeat('00', 32), 'hex'));
    NEW.hash := provisioning_audit_logs_digest(NEW.prev_hash, NEW);
    RETURN NEW;
END;
$$;
CREATE TRIGGER provisioning_audit_logs_seal BEFORE INSERT ON provisioning_audit_logs
    FOR EACH ROW EXECUTE FUNCTION provisioning_audit_logs_seal();

-- Which migrations the schema has, for a service whose role may not read
-- schema_migrations (the owner migrates separately: `npm run migrate`, or the
-- embedded database's own setup). Names only.
CREATE FUNCTION matih_applied_migrations() RETURNS SETOF text
    LANGUAGE sql STABLE SECURITY DEFINER AS $$
    SELECT name FROM schema_migrations
$$;

-- Both functions look names up in this schema only, pg_temp last: a session's
-- own temporary table cannot stand in for the audit log or the migrations.
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION provisioning_audit_logs_seal() SET search_path = %I, pg_catalog, pg_temp', current_schema());
    EXECUTE format('ALTER FUNCTION matih_applied_migrations() SET search_path = %I, pg_catalog, pg_temp', current_schema());
END;
$$;

-- Down Migration

DROP FUNCTION matih_applied_migrations();
DROP TRIGGER provisioning_audit_logs_seal ON provisioning_audit_logs;
DROP FUNCTION provisioning_audit_logs_seal();
DROP INDEX provisioning_audit_logs_chain;
DROP FUNCTION provisioning_audit_logs_digest(bytea, provisioning_audit_logs);
ALTER TABLE provisioning_audit_logs DROP COLUMN hash, DROP COLUMN prev_hash, DROP COLUMN chain_seq, DROP COLUMN db_user;
