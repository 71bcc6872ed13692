import * as pulumi from "@pulumi/pulumi";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cloudMocks } from "../../stacks/cloud-mocks.ts";
import type { TenantDatabaseArgs } from "../../components/02-database.ts";
import { TIER_PROFILES } from "../../model/tiers.ts";
import { resolvePlatformSettings } from "../../model/settings.ts";
import { render, unwrap } from "../support/fixtures.ts";
import { TENANT_ID } from "../support/acme.ts";
import { probePostgres, TEST_DATABASE_URL } from "../support/postgres.ts";

// Mocks first, then the component module, as the program would be loaded under a real engine.
await pulumi.runtime.setMocks(cloudMocks({ slug: "acme" }), "matih-tenants", "acme", false);
const { TenantDatabase, CREDENTIAL_KEYS, tenantMigrations } = await import("../../components/02-database.ts");

const sharedArgs = (overrides: Partial<TenantDatabaseArgs> = {}): TenantDatabaseArgs => ({
  tenantId: TENANT_ID,
  slug: "acme",
  namespace: "matih-acme",
  identifier: "tenant_acme",
  strategy: "schema-per-tenant",
  shared: { host: "pg.shared.internal", port: 5432, database: "matih_tenants", adminUser: "matih_admin", adminPassword: pulumi.secret("admin-pw"), sslMode: "require" },
  connectionPool: null,
  images: { flyway: "flyway/flyway:11-alpine", postgresClient: "postgres:16-alpine", pgbouncer: "bitnami/pgbouncer:1.24.1" },
  ...overrides,
});

describe("the tenant-database-credentials Secret", () => {
  it("holds exactly the six keys of the seed, with a URL that reaches the shared instance directly on the free tier", async () => {
    const db = new TenantDatabase("db-free", sharedArgs());
    const data = (await unwrap(db.credentialsSecret.stringData)) as Record<string, string>;
    expect(Object.keys(data).sort()).toEqual([...CREDENTIAL_KEYS].sort());
    expect(data.POSTGRES_HOST).toBe("pg.shared.internal");
    expect(data.POSTGRES_PORT).toBe("5432");
    expect(data.POSTGRES_DB).toBe("matih_tenants");
    expect(data.POSTGRES_USER).toBe("tenant_acme");
    expect(data.POSTGRES_PASSWORD).toMatch(/^render-/);
    expect(data.DATABASE_URL).toBe(`postgresql://tenant_acme:${data.POSTGRES_PASSWORD}@pg.shared.internal:5432/matih_tenants?sslmode=require`);
    // Let the component finish (its outputs wait for every child) before the next test resets the mocks.
    expect(await unwrap(db.credentialsSecretName)).toBe("tenant-database-credentials");
  });

  it("points applications at the tenant's own pool on the professional tier", async () => {
    const db = new TenantDatabase("db-pro", sharedArgs({ connectionPool: TIER_PROFILES.professional.database.connectionPool }));
    const data = (await unwrap(db.credentialsSecret.stringData)) as Record<string, string>;
    expect(data.POSTGRES_HOST).toBe("pgbouncer.matih-acme.svc.cluster.local");
    expect(data.POSTGRES_PORT).toBe("6432");
    expect(data.DATABASE_URL).toMatch(/@pgbouncer\.matih-acme\.svc\.cluster\.local:6432\/matih_tenants\?sslmode=disable$/);
    expect(await unwrap(db.poolServiceName)).toBe("pgbouncer");
  });

  it("is a Pulumi secret, so no state file or output shows its values", async () => {
    const db = new TenantDatabase("db-secret", sharedArgs());
    expect(await pulumi.isSecret(db.credentialsSecret.stringData)).toBe(true);
    expect(await unwrap(db.credentialsSecretName)).toBe("tenant-database-credentials");
  });

  it.each([
    [{ strategy: "database-per-tenant" as const }, "TenantDatabase: database-per-tenant needs dedicatedServer and azure settings"],
    [{ shared: undefined }, "TenantDatabase: schema-per-tenant needs the shared endpoint"],
    [{ strategy: "database-per-tenant" as const, dedicatedServer: TIER_PROFILES.enterprise.database.dedicatedServer, azure: { resourceGroupName: "rg", location: "eastus", access: { kind: "private" as const, subnetId: "/subscriptions/x/resourceGroups/n/providers/Microsoft.Network/virtualNetworks/v/subnets/s", privateDnsZoneId: "/subscriptions/x/resourceGroups/n/providers/Microsoft.Network/privateDnsZones/z" } }, connectionPool: TIER_PROFILES.professional.database.connectionPool }, "TenantDatabase: a connection pool is only for schema-per-tenant; a dedicated server is not shared"],
    [{ identifier: "Tenant-Acme" }, 'TenantDatabase: identifier must be a lowercase PostgreSQL identifier, got "Tenant-Acme"'],
    [{ connectionPool: TIER_PROFILES.professional.database.connectionPool, retiringConnectionPool: TIER_PROFILES.professional.database.connectionPool },
      "TenantDatabase: connectionPool and retiringConnectionPool exclude each other: an old pool is kept only when the new tier has none"],
    [{ strategy: "database-per-tenant" as const, dedicatedServer: TIER_PROFILES.enterprise.database.dedicatedServer, azure: { resourceGroupName: "rg", location: "eastus", access: { kind: "private" as const, subnetId: "/subscriptions/x/resourceGroups/n/providers/Microsoft.Network/virtualNetworks/v/subnets/s", privateDnsZoneId: "/subscriptions/x/resourceGroups/n/providers/Microsoft.Network/privateDnsZones/z" } }, retiringConnectionPool: TIER_PROFILES.professional.database.connectionPool },
      "TenantDatabase: retiringConnectionPool is only for schema-per-tenant: an old pool would point at the shared server, not the dedicated one"],
  ])("refuses a bad argument combination up front (%#)", (overrides, message) => {
    expect(() => new TenantDatabase(`db-bad-${Math.random()}`, sharedArgs(overrides as Partial<TenantDatabaseArgs>))).toThrow(message);
  });
});

describe("phase 2 SETUP_DATABASE in the rendered program", () => {
  it("uses a schema on the shared instance for free tenants, with no pool and no server", async () => {
    const r = await render("free", { lastPhase: 2 });
    expect(r.ofType("postgresql:index/schema:Schema")[0]!.inputs).toMatchObject({ name: "tenant_acme", database: "matih_tenants", owner: "tenant_acme", dropCascade: true });
    expect(r.ofType("azure-native:dbforpostgresql:Server")).toHaveLength(0);
    expect(r.ofKind("Deployment")).toHaveLength(0);
  });

  it("adds a PgBouncer pool of the tenant's own for professional tenants", async () => {
    const r = await render("professional", { lastPhase: 2 });
    const pool = r.k8s("Deployment", "pgbouncer");
    const spec = pool.inputs.spec as any;
    expect(spec.replicas).toBe(TIER_PROFILES.professional.database.connectionPool!.replicas);
    const env = Object.fromEntries(spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
    expect(env.POSTGRESQL_HOST).toBe("matih-shared-pg.postgres.database.azure.com");
    expect(env.PGBOUNCER_POOL_MODE).toBe("transaction");
    expect(env.POSTGRESQL_PASSWORD).toEqual({ secretKeyRef: { name: "tenant-database-credentials", key: "POSTGRES_PASSWORD" } });
    expect(r.k8s("Service", "pgbouncer").inputs.spec).toMatchObject({ ports: [{ port: 6432 }] });
  });

  it("creates a dedicated Azure PostgreSQL server and database for enterprise tenants", async () => {
    const r = await render("enterprise", { lastPhase: 2 });
    const [server] = r.ofType("azure-native:dbforpostgresql:Server");
    const profile = TIER_PROFILES.enterprise.database.dedicatedServer!;
    expect(server!.inputs).toMatchObject({
      serverName: "matih-acme-pg",
      location: "eastus",
      version: profile.postgresVersion,
      sku: { name: profile.skuName, tier: profile.skuTier },
      storage: { storageSizeGB: profile.storageSizeGB },
      highAvailability: { mode: "ZoneRedundant" },
      administratorLoginPassword: "[secret]",
    });
    expect(r.ofType("azure-native:dbforpostgresql:Database")[0]!.inputs).toMatchObject({ databaseName: "tenant_acme" });
    const provider = r.ofType("pulumi:providers:postgresql")[0]!;
    expect(provider.inputs).toMatchObject({ host: "matih-acme-pg.postgres.database.azure.com", password: "[secret]", connectTimeout: "60" });
  });

  it.each(["free", "professional", "enterprise"] as const)("gives the %s tenant a login role with a generated secret password", async (tier) => {
    const r = await render(tier, { lastPhase: 2 });
    const role = r.ofType("postgresql:index/role:Role")[0]!;
    expect(role.inputs).toMatchObject({ name: "tenant_acme", login: true, password: "[secret]", connectionLimit: TIER_PROFILES[tier].database.roleConnectionLimit });
    // Values are secret one by one: the six keys show, no value does.
    const stringData = r.k8s("Secret", "tenant-database-credentials").inputs.stringData as Record<string, unknown>;
    expect(Object.keys(stringData).sort()).toEqual(["DATABASE_URL", "POSTGRES_DB", "POSTGRES_HOST", "POSTGRES_PASSWORD", "POSTGRES_PORT", "POSTGRES_USER"]);
    expect(Object.values(stringData).every((v) => v === "[secret]")).toBe(true);
    const leaks = JSON.stringify(r.resources).match(/.{60}render-[0-9a-f]{8}/g);
    expect(leaks, "a generated password appears in the render").toBeNull();
  });

  it("runs the shipped migrations with Flyway in the namespace, straight to the server", async () => {
    const r = await render("professional", { lastPhase: 2 });
    const [job] = r.ofKind("Job").filter((j) => (j.inputs.metadata as any).name.startsWith("tenant-migrate-"));
    const container = (job!.inputs.spec as any).template.spec.containers[0];
    expect(container.image).toBe("flyway/flyway:11-alpine");
    expect(container.args).toEqual(["migrate"]);
    const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
    expect(env.FLYWAY_URL).toBe("jdbc:postgresql://matih-shared-pg.postgres.database.azure.com:5432/matih_tenants?sslmode=require");
    expect(env.FLYWAY_SCHEMAS).toBe("tenant_acme");
    expect(env.FLYWAY_PLACEHOLDERS_TENANT_ID).toBe(TENANT_ID);
    expect(env.FLYWAY_PASSWORD).toEqual({ secretKeyRef: { name: "tenant-database-credentials", key: "POSTGRES_PASSWORD" } });
    const configMapName = (job!.inputs.spec as any).template.spec.volumes[0].configMap.name;
    expect(Object.keys(r.k8s("ConfigMap", configMapName).inputs.data as object)).toEqual(Object.keys(tenantMigrations()));
  });

  it("completes only after a connectivity check from the namespace that reads seeded data through the application URL", async () => {
    const r = await render("professional", { lastPhase: 2 });
    const migrate = r.ofKind("Job").find((j) => (j.inputs.metadata as any).name.startsWith("tenant-migrate-"))!;
    const hash = (migrate.inputs.metadata as any).name.slice("tenant-migrate-".length);
    // Named after the migrations as well, so a new migration set runs a new check against the migrated schema.
    const check = r.k8s("Job", `database-connectivity-check-${hash}`);
    expect(hash).toMatch(/^[0-9a-f]{10}$/);
    const container = (check.inputs.spec as any).template.spec.containers[0];
    expect(container.command.slice(0, 2)).toEqual(["psql", "$(DATABASE_URL)"]);
    expect(container.command.join(" ")).toMatch(/tenant_acme\.system_roles/);
    expect(check.dependsOn).toContain(migrate.urn);
    expect(check.dependsOn).toContain(r.k8s("Deployment", "pgbouncer").urn);
  });
});

describe("how an enterprise tenant reaches its dedicated server", () => {
  const PUBLIC = { azure: { databaseAccess: "public" as const, clusterEgressIps: ["20.10.0.0/30"], serviceHostIps: ["52.1.2.3"] } };
  const dbEgress = (r: Awaited<ReturnType<typeof render>>) => (r.k8s("NetworkPolicy", "allow-egress-database").inputs.spec as any).egress[0];

  it("private access by default: the delegated subnet and private DNS zone, public access off, and the subnet's CIDR open in the egress policy", async () => {
    const settings = resolvePlatformSettings();
    const r = await render("enterprise", { lastPhase: 4 });
    const server = r.ofType("azure-native:dbforpostgresql:Server")[0]!;
    expect(server.inputs.network).toEqual({
      delegatedSubnetResourceId: settings.azure.databaseSubnetId,
      privateDnsZoneArmResourceId: settings.azure.databasePrivateDnsZoneId,
      publicNetworkAccess: "Disabled",
    });
    expect(r.ofType("azure-native:dbforpostgresql:FirewallRule")).toHaveLength(0);
    expect(settings.azure.databaseSubnetCidr).toBe("10.20.1.0/24");
    expect(dbEgress(r).to).toContainEqual({ ipBlock: { cidr: "10.20.1.0/24" } });
    expect(dbEgress(r).ports).toEqual([{ protocol: "TCP", port: 5432 }]);
  });

  it("public access: one firewall rule per cluster egress and service host range, created before anything connects", async () => {
    const r = await render("enterprise", { lastPhase: 4, settings: PUBLIC });
    const server = r.ofType("azure-native:dbforpostgresql:Server")[0]!;
    expect(server.inputs.network).toEqual({ publicNetworkAccess: "Enabled" });
    const rules = r.ofType("azure-native:dbforpostgresql:FirewallRule").map((x) => x.inputs);
    expect(rules).toEqual([
      expect.objectContaining({ firewallRuleName: "cluster-egress-1", serverName: "matih-acme-pg", startIpAddress: "20.10.0.0", endIpAddress: "20.10.0.3" }),
      expect.objectContaining({ firewallRuleName: "service-host-1", serverName: "matih-acme-pg", startIpAddress: "52.1.2.3", endIpAddress: "52.1.2.3" }),
    ]);
    const ruleUrns = r.ofType("azure-native:dbforpostgresql:FirewallRule").map((x) => x.urn);
    const provider = r.ofType("pulumi:providers:postgresql")[0]!;
    for (const urn of ruleUrns) expect(provider.dependsOn).toContain(urn);
    // The server's public address is Azure's to assign: the database port opens to public addresses, never to private ranges.
    expect(dbEgress(r).to).toContainEqual({ ipBlock: { cidr: "0.0.0.0/0", except: expect.arrayContaining(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]) } });
  });

  it("free and professional tenants keep their egress to the shared network only", async () => {
    const r = await render("professional", { lastPhase: 4, settings: PUBLIC });
    expect(dbEgress(r).to).toEqual([{ ipBlock: { cidr: "10.20.0.0/24" } }]);
  });

  it("refuses settings that give neither access, naming the settings to set", () => {
    expect(() => resolvePlatformSettings({ azure: { databaseAccess: "public" } })).toThrow(/azure\.clusterEgressIps: must list the cluster's outbound addresses.*azure\.serviceHostIps: must list/);
    expect(() => resolvePlatformSettings({ azure: { databaseSubnetId: "" } })).toThrow(/azure\.databaseSubnetId: must be the resource id of the subnet delegated to the servers for private access \(or set azure\.databaseAccess to "public" with azure\.clusterEgressIps and azure\.serviceHostIps\)/);
    expect(() => resolvePlatformSettings({ azure: { databaseAccess: "none" as never } })).toThrow(/azure\.databaseAccess: must be "private" .* or "public"/);
  });

  it("refuses a dedicated server without access, with the exact message", () => {
    expect(() => new TenantDatabase("db-no-access", sharedArgs({
      strategy: "database-per-tenant", shared: undefined, dedicatedServer: TIER_PROFILES.enterprise.database.dedicatedServer,
      azure: { resourceGroupName: "rg", location: "eastus", access: { kind: "public", allowed: [] } },
    }))).toThrow("TenantDatabase: a dedicated server needs azure.access: private (subnetId, privateDnsZoneId) or public with at least one allowed address range; without either nothing can reach it");
  });
});

describe("the tenant migrations on a real PostgreSQL", () => {
  const schema = `tenant_migration_test_${process.pid}`;
  let client: pg.Client;
  let reason = "";

  beforeAll(async () => {
    const probe = await probePostgres();
    if (!probe.available) {
      reason = probe.reason;
      return;
    }
    client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}; SET search_path TO ${schema}`);
  });
  afterAll(async () => {
    if (client) {
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    }
  });

  it("create the tenant tables and seed roles, dashboard templates and configuration", async (ctx) => {
    if (reason) ctx.skip(reason);
    // Flyway runs the files in version order, substituting ${placeholders}.
    for (const sql of Object.values(tenantMigrations())) {
      await client.query(sql.replaceAll("${tenant_id}", TENANT_ID).replaceAll("${tenant_slug}", "acme"));
    }
    const tables = await client.query("SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1", [schema]);
    expect(tables.rows.map((r) => r.table_name)).toEqual(expect.arrayContaining(["dashboard_templates", "dashboards", "system_roles", "tenant_configuration", "users", "role_assignments", "data_sources", "saved_queries"]));
    expect((await client.query("SELECT count(*)::int AS n FROM system_roles WHERE built_in")).rows[0].n).toBe(4);
    expect((await client.query("SELECT count(*)::int AS n FROM dashboard_templates")).rows[0].n).toBeGreaterThanOrEqual(4);
    expect((await client.query("SELECT value FROM tenant_configuration WHERE key = 'tenant.id'")).rows[0].value).toBe(TENANT_ID);
  });
});
