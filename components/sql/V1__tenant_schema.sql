-- Tenant tables. Flyway runs this inside the tenant's schema (FLYWAY_SCHEMAS),
-- so names are unqualified and land in tenant_<slug>.

CREATE TABLE tenant_configuration (
    key         text PRIMARY KEY,
    value       jsonb       NOT NULL,
    description text        NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE system_roles (
    id          text PRIMARY KEY,
    name        text        NOT NULL UNIQUE,
    description text        NOT NULL,
    permissions text[]      NOT NULL,
    built_in    boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id           uuid PRIMARY KEY,
    email        text        NOT NULL UNIQUE,
    display_name text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE role_assignments (
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id    text        NOT NULL REFERENCES system_roles (id),
    granted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, role_id)
);

CREATE TABLE data_sources (
    id          uuid PRIMARY KEY,
    name        text        NOT NULL UNIQUE,
    kind        text        NOT NULL,
    -- Connection details reference secrets by name; no credential is stored here.
    settings    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dashboard_templates (
    id          text PRIMARY KEY,
    title       text        NOT NULL,
    category    text        NOT NULL,
    definition  jsonb       NOT NULL,
    built_in    boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dashboards (
    id          uuid PRIMARY KEY,
    title       text        NOT NULL,
    template_id text        REFERENCES dashboard_templates (id),
    owner_id    uuid        REFERENCES users (id) ON DELETE SET NULL,
    definition  jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE saved_queries (
    id          uuid PRIMARY KEY,
    title       text        NOT NULL,
    sql_text    text        NOT NULL,
    data_source uuid        REFERENCES data_sources (id) ON DELETE CASCADE,
    owner_id    uuid        REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE semantic_metrics (
    id          text PRIMARY KEY,
    name        text        NOT NULL,
    expression  text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor       text        NOT NULL,
    action      text        NOT NULL,
    subject     text        NOT NULL,
    details     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    occurred_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX dashboards_owner_idx ON dashboards (owner_id);
CREATE INDEX audit_events_occurred_idx ON audit_events (occurred_at);
