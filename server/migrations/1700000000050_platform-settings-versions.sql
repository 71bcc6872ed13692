-- Up Migration

-- Platform settings as versioned records (issue 23): every process runs on the
-- database's newest version instead of whatever file it read at start, and
-- each version says who recorded it, when and why. `settings` is json, not
-- jsonb, so that a version reads back with its keys in the order it was
-- written (renders iterate some maps). `changed_paths`: the dotted paths that
-- differ from the version before (empty for the first).
CREATE TABLE platform_settings_versions (
    version        integer     PRIMARY KEY CHECK (version > 0),
    settings       json        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     text        NOT NULL,
    reason         text        NOT NULL,
    changed_paths  text[]      NOT NULL DEFAULT '{}'
);

-- History is kept: a version is never changed or removed, only followed by a newer one.
CREATE FUNCTION platform_settings_versions_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'platform_settings_versions: version % cannot be changed or removed; record a new version instead', OLD.version;
END
$$;
CREATE TRIGGER platform_settings_versions_keep BEFORE UPDATE OR DELETE ON platform_settings_versions
    FOR EACH ROW EXECUTE FUNCTION platform_settings_versions_keep();

-- The settings version a tenant was last applied with (its last successful
-- provision, retry or update); null: never applied since versions exist.
ALTER TABLE tenants ADD COLUMN settings_version integer REFERENCES platform_settings_versions (version);
ALTER TABLE tenants ADD COLUMN settings_applied_at timestamptz;
CREATE INDEX tenants_settings_version ON tenants (settings_version);

-- Down Migration

DROP INDEX tenants_settings_version;
ALTER TABLE tenants DROP COLUMN settings_applied_at;
ALTER TABLE tenants DROP COLUMN settings_version;
DROP TABLE platform_settings_versions;
DROP FUNCTION platform_settings_versions_keep();
