-- Reference data every tenant starts with: system roles, dashboard templates
-- and configuration. ${tenant_id} and ${tenant_slug} are Flyway placeholders.

INSERT INTO system_roles (id, name, description, permissions, built_in) VALUES
    ('tenant-admin', 'Tenant administrator', 'Manages users, data sources and settings', ARRAY['*'], true),
    ('analyst', 'Analyst', 'Builds queries and dashboards', ARRAY['query:run', 'dashboard:write', 'dashboard:read', 'catalog:read'], true),
    ('viewer', 'Viewer', 'Reads dashboards', ARRAY['dashboard:read'], true),
    ('data-engineer', 'Data engineer', 'Manages pipelines and data quality', ARRAY['pipeline:write', 'quality:write', 'catalog:write', 'query:run'], true);

INSERT INTO dashboard_templates (id, title, category, definition, built_in) VALUES
    ('executive-overview', 'Executive overview', 'business', '{"panels": [{"type": "kpi", "metric": "revenue"}, {"type": "timeseries", "metric": "active_users"}]}', true),
    ('data-quality', 'Data quality', 'operations', '{"panels": [{"type": "table", "source": "quality_checks"}, {"type": "timeseries", "metric": "failed_checks"}]}', true),
    ('pipeline-health', 'Pipeline health', 'operations', '{"panels": [{"type": "timeseries", "metric": "pipeline_runs"}, {"type": "table", "source": "failed_runs"}]}', true),
    ('query-usage', 'Query usage', 'platform', '{"panels": [{"type": "timeseries", "metric": "queries"}, {"type": "histogram", "metric": "query_latency"}]}', true);

INSERT INTO tenant_configuration (key, value, description) VALUES
    ('tenant.id', '"${tenant_id}"', 'Tenant identifier'),
    ('tenant.slug', '"${tenant_slug}"', 'Tenant slug'),
    ('query.timeout_seconds', '300', 'Longest a query may run'),
    ('query.max_rows', '100000', 'Most rows a query returns'),
    ('ai.enabled', 'true', 'Conversational analytics'),
    ('retention.audit_days', '365', 'Days audit events are kept');
