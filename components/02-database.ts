import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
// Only the PostgreSQL module: the package's root index loads all of its ~480 modules (about 35 MB more in every worker process).
import * as dbforpostgresql from "@pulumi/azure-native/dbforpostgresql/index.js";
import * as k8s from "@pulumi/kubernetes";
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { childOptions, whenChildrenDone, k8sResources, requireArg, tenantLabels } from "./common.ts";
import type { ConnectionPoolProfile, DatabaseStrategy, DedicatedServerProfile } from "../model/tiers.ts";
import { typeTokenOf } from "../model/phases.ts";
import { hasAvailabilityZones } from "../model/regions.ts";

const MIGRATIONS_DIR = new URL("./sql/", import.meta.url);

/** The Flyway migrations shipped with the program, by file name, in version order. */
export function tenantMigrations(): Record<string, string> {
  const files = readdirSync(MIGRATIONS_DIR).filter((f) => /^V\d+__.+\.sql$/.test(f));
  files.sort((a, b) => Number(a.slice(1, a.indexOf("__"))) - Number(b.slice(1, b.indexOf("__"))));
  return Object.fromEntries(files.map((f) => [f, readFileSync(new URL(f, MIGRATIONS_DIR), "utf8")]));
}

/** The six keys of the `tenant-database-credentials` Secret. */
export const CREDENTIAL_KEYS = ["POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD", "DATABASE_URL"] as const;
export const CREDENTIALS_SECRET_NAME = "tenant-database-credentials";
/**
 * Pod-template annotation of every workload that reads the credentials Secret
 * (this phase's pool and Jobs, phase 4's check, the matih releases): a digest
 * of the Secret's contents. Kubernetes restarts no pod when a Secret it reads
 * changes; a changed digest changes the template, which rolls the pods (and
 * re-runs a Job) onto the new connection settings.
 */
export const CREDENTIALS_CHECKSUM_ANNOTATION = "matih.ai/database-credentials-checksum";
/** How long the postgresql provider tries to connect before phase 2 fails. */
export const POSTGRES_CONNECT_TIMEOUT_SECONDS = 60;
/** PgBouncer's port inside the namespace. */
export const POOL_PORT = 6432;

/**
 * How a dedicated server is reached. `private`: VNet integration in a
 * delegated subnet with a private DNS zone (public access disabled). `public`:
 * a public endpoint with one firewall rule per allowed address range, for the
 * cluster's egress and the hosts that run the postgresql provider.
 */
export type DedicatedServerAccess =
  | { readonly kind: "private"; readonly subnetId: string; readonly privateDnsZoneId: string }
  | { readonly kind: "public"; readonly allowed: readonly { readonly name: string; readonly startIpAddress: string; readonly endIpAddress: string }[] };

export interface SharedPostgresEndpoint {
  /** Host of the shared instance. Required. */
  host: string;
  /** Port. Required. */
  port: number;
  /** Database holding the tenant schemas. Required. */
  database: string;
  /** Administrative login that creates roles and schemas. Required. */
  adminUser: string;
  /** Its password, as a secret. Required. */
  adminPassword: pulumi.Input<string>;
  /** sslmode for connections. Required. */
  sslMode: "require" | "verify-full" | "disable";
}

export interface TenantDatabaseArgs {
  /** Tenant UUID, a Flyway placeholder. Required. */
  tenantId: string;
  /** Tenant slug, a Flyway placeholder and part of server names. Required. */
  slug: string;
  /** Namespace for the Secret, pool and jobs. Required. */
  namespace: pulumi.Input<string>;
  /** Schema and role name, `tenant_{slug}`. Required. */
  identifier: string;
  /** Isolation strategy of the tier. Required. */
  strategy: DatabaseStrategy;
  /** The shared instance (schema-per-tenant). Required for schema-per-tenant; default: none. */
  shared?: SharedPostgresEndpoint;
  /** A PgBouncer pool of the tenant's own; only with schema-per-tenant. Default: null (direct connections). */
  connectionPool?: ConnectionPoolProfile | null;
  /**
   * An old tier's pool kept running while the workloads move off it: the
   * first update of a change to a tier without a pool (professional → free;
   * model/tier-change.ts). The credentials point at the server directly; the
   * pool keeps its pods as they were (no roll) until the next update, without
   * it, removes it. Only with schema-per-tenant and no `connectionPool`.
   * Default: null (none kept).
   */
  retiringConnectionPool?: ConnectionPoolProfile | null;
  /** The dedicated server's profile. Required for database-per-tenant; default: none. */
  dedicatedServer?: DedicatedServerProfile | null;
  /** Where a dedicated server goes and how it is reached. Required for database-per-tenant; default: none. */
  azure?: { resourceGroupName: string; location: string; access: DedicatedServerAccess };
  /** Connection limit of the tenant's role; -1 for none. Default -1. */
  roleConnectionLimit?: number;
  /** Images of the migration, check and pool containers. Required. */
  images: { flyway: string; postgresClient: string; pgbouncer: string };
}

/**
 * Phase 2, SETUP_DATABASE: a schema on the shared instance (with an optional
 * pool of the tenant's own) or a dedicated Azure PostgreSQL server; a login
 * role with a generated password; the Flyway migrations and reference data; the
 * credentials Secret; and a connectivity check from inside the namespace that
 * must complete before the phase does. Deleting it drops the schema (cascade)
 * or the server, and the Secret.
 */
export class TenantDatabase extends pulumi.ComponentResource {
  public readonly credentialsSecretName: pulumi.Output<string>;
  public readonly host: pulumi.Output<string>;
  public readonly port: pulumi.Output<number>;
  public readonly databaseName: pulumi.Output<string>;
  public readonly schemaName: pulumi.Output<string>;
  public readonly roleName: pulumi.Output<string>;
  /** Service name of the pool, or empty when connections go direct. */
  public readonly poolServiceName: pulumi.Output<string>;
  /** The credentials Secret; workloads wait on it. */
  public readonly credentialsSecret: k8s.core.v1.Secret;
  /** Digest of the Secret's contents for CREDENTIALS_CHECKSUM_ANNOTATION; not secret, reveals no value. */
  public readonly credentialsChecksum: pulumi.Output<string>;
  /** A dedicated server's admin connection (secret), for moving a tier change's data; undefined on the shared server. */
  public readonly dedicatedAdmin: pulumi.Output<DatabaseAdminConnection> | undefined;
  /** The tenant role's generated password (secret), for the role a tier change declares on its new target. */
  public readonly rolePassword: pulumi.Output<string>;

  constructor(name: string, args: TenantDatabaseArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(typeTokenOf("SETUP_DATABASE"), name, {}, opts);
    const child = (extra: pulumi.CustomResourceOptions = {}) => childOptions(this, opts, extra);
    const C = "TenantDatabase";
    const dedicated = args.strategy === "database-per-tenant";
    requireArg(!dedicated || (!!args.dedicatedServer && !!args.azure), C, "database-per-tenant needs dedicatedServer and azure settings");
    const access = args.azure?.access;
    requireArg(!dedicated || access?.kind === "private" || (access?.kind === "public" && access.allowed.length > 0), C,
      "a dedicated server needs azure.access: private (subnetId, privateDnsZoneId) or public with at least one allowed address range; without either nothing can reach it");
    // Azure refuses zone-redundant HA where the region has no second zone, after the run has started; refuse it here.
    requireArg(!(dedicated && args.dedicatedServer!.highAvailability === "ZoneRedundant" && !hasAvailabilityZones(args.azure!.location)), C,
      `highAvailability ZoneRedundant needs availability zones, which region ${args.azure?.location} lacks; use SameZone there`);
    requireArg(dedicated || !!args.shared, C, "schema-per-tenant needs the shared endpoint");
    requireArg(!(dedicated && args.connectionPool), C, "a connection pool is only for schema-per-tenant; a dedicated server is not shared");
    requireArg(!(dedicated && args.retiringConnectionPool), C, "retiringConnectionPool is only for schema-per-tenant: an old pool would point at the shared server, not the dedicated one");
    requireArg(!(args.connectionPool && args.retiringConnectionPool), C, "connectionPool and retiringConnectionPool exclude each other: an old pool is kept only when the new tier has none");
    requireArg(!(!dedicated && args.dedicatedServer), C, "dedicatedServer is only for database-per-tenant");
    requireArg(/^[a-z_][a-z0-9_]{0,62}$/.test(args.identifier), C, `identifier must be a lowercase PostgreSQL identifier, got "${args.identifier}"`);

    const labels = tenantLabels(args.slug, "database");
    const namespace = args.namespace;

    // Where the tenant's data lives, and an admin connection to it.
    let directHost: pulumi.Output<string>;
    let port: number;
    let databaseName: pulumi.Output<string>;
    let sslMode: string;
    let adminProvider: postgresql.Provider;
    let databaseReady: pulumi.Resource[] = [];
    this.dedicatedAdmin = undefined;
    if (dedicated) {
      const server = declareDedicatedServer(name, args, child);
      directHost = server.host;
      port = 5432;
      databaseName = server.databaseName;
      sslMode = "require";
      adminProvider = new postgresql.Provider(`${name}-postgres`, {
        host: directHost,
        port,
        database: databaseName,
        username: DEDICATED_ADMIN_USER,
        password: server.adminPassword,
        sslmode: sslMode,
        superuser: false,
        // The provider waits forever for a connection unless told otherwise; an unreachable server must fail the phase.
        connectTimeout: POSTGRES_CONNECT_TIMEOUT_SECONDS,
      }, child({ dependsOn: server.ready }));
      this.dedicatedAdmin = server.admin;
      databaseReady = server.ready;
    } else {
      const shared = args.shared!;
      directHost = pulumi.output(shared.host);
      port = shared.port;
      databaseName = pulumi.output(shared.database);
      sslMode = shared.sslMode;
      adminProvider = new postgresql.Provider(`${name}-postgres`, {
        host: shared.host,
        port: shared.port,
        database: shared.database,
        username: shared.adminUser,
        password: pulumi.secret(shared.adminPassword),
        sslmode: shared.sslMode,
        // Azure flexible servers do not grant SUPERUSER to the admin.
        superuser: false,
        // The provider waits forever for a connection unless told otherwise; an unreachable server must fail the phase.
        connectTimeout: POSTGRES_CONNECT_TIMEOUT_SECONDS,
      }, child());
    }
    const pg = child({ provider: adminProvider, dependsOn: databaseReady });

    const passwordResource = new random.RandomPassword(`${name}-role-password`, { length: 40, special: false }, child());
    const password = { result: pulumi.secret(passwordResource.result) };
    this.rolePassword = password.result;
    const role = new postgresql.Role(`${name}-role`, {
      name: args.identifier,
      login: true,
      password: password.result,
      connectionLimit: args.roleConnectionLimit ?? -1,
      searchPaths: [args.identifier],
      createDatabase: false,
      createRole: false,
      inherit: true,
    }, pg);
    const schema = new postgresql.Schema(`${name}-schema`, {
      name: args.identifier,
      database: databaseName,
      owner: role.name,
      // Rollback drops the schema with everything in it.
      dropCascade: true,
      ifNotExists: false,
    }, pg);
    // What applications connect to: the pool when there is one, else the server.
    const pool = args.connectionPool ?? null;
    const appHost = pool ? pulumi.interpolate`pgbouncer.${namespace}.svc.cluster.local` : directHost;
    const appPort = pool ? POOL_PORT : port;
    // In-namespace hop to the pool is plaintext, confined by NetworkPolicy; the pool itself talks TLS to the server.
    const appSslMode = pool ? "disable" : sslMode;
    const databaseUrl = pulumi.interpolate`postgresql://${role.name}:${password.result}@${appHost}:${appPort}/${databaseName}?sslmode=${appSslMode}`;

    // The digest is taken over what determines the Secret's six values, not over the values themselves: a dedicated
    // server's FQDN (and so the Secret's host) is unknown in the preview of a tier change, which would make every
    // reader's annotation unknown there too; the server's name and region are known, as are the pool's in-cluster
    // name, the shared host and the stored password. So a preview shows each reader's annotation change exactly,
    // and a re-render of the same tenant gives the same digest. It is not secret (unsecret below, or every Helm
    // release's values would turn secret and show no diff): sha256 over a 40-character random password and the
    // rest reveals none of them.
    const poolHost = pulumi.interpolate`pgbouncer.${namespace}.svc.cluster.local`;
    const checksumOf = (hostIdentity: pulumi.Input<string>, connectPort: number, connectSslMode: string) =>
      pulumi.unsecret(pulumi.all([hostIdentity, connectPort, dedicated ? args.identifier : args.shared!.database, args.identifier, connectSslMode, password.result])
        .apply((parts) => createHash("sha256").update(JSON.stringify(["matih/tenant-database-credentials/v1", ...parts])).digest("hex")));
    this.credentialsChecksum = checksumOf(pool ? appHost : dedicated ? `server matih-${args.slug}-pg in ${args.azure!.location}` : args.shared!.host, appPort, appSslMode);
    const rollOnCredentials = { [CREDENTIALS_CHECKSUM_ANNOTATION]: this.credentialsChecksum };

    this.credentialsSecret = new k8s.core.v1.Secret(`${name}-credentials`, {
      metadata: { name: CREDENTIALS_SECRET_NAME, namespace, labels },
      type: "Opaque",
      // Each value is a secret, not the map as a whole: a preview then shows which of the six keys exist and
      // which change, while no value is ever shown.
      stringData: {
        POSTGRES_HOST: pulumi.secret(appHost),
        POSTGRES_PORT: pulumi.secret(String(appPort)),
        POSTGRES_DB: pulumi.secret(databaseName),
        POSTGRES_USER: pulumi.secret(role.name),
        POSTGRES_PASSWORD: password.result,
        DATABASE_URL: pulumi.secret(databaseUrl),
      },
    }, child({ dependsOn: [schema] }));
    // By its fixed name, not the Secret's output: a replaced Secret's name is unknown in a preview, which makes the
    // reviewed plan fail where it is used. Whatever reads it depends on the Secret.
    const fromSecret = (envName: string, key: (typeof CREDENTIAL_KEYS)[number]) => ({
      name: envName,
      valueFrom: { secretKeyRef: { name: CREDENTIALS_SECRET_NAME, key } },
    });

    // A retiring pool keeps the digest of the settings its clients had (through the pool): its pods do not roll on
    // the way out, and the quota they were counted in stays wide enough (model/tier-change.ts).
    const deployedPool = pool ?? args.retiringConnectionPool ?? null;
    const poolAnnotations = pool ? rollOnCredentials : { [CREDENTIALS_CHECKSUM_ANNOTATION]: checksumOf(poolHost, POOL_PORT, "disable") };
    let poolReady: pulumi.Resource[] = [];
    if (deployedPool) {
      const poolLabels = { ...labels, "app.kubernetes.io/name": "pgbouncer" };
      const deployment = new k8s.apps.v1.Deployment(`${name}-pool`, {
        metadata: { name: "pgbouncer", namespace, labels: poolLabels },
        spec: {
          replicas: deployedPool.replicas,
          selector: { matchLabels: { "app.kubernetes.io/name": "pgbouncer", "matih.ai/tenant-slug": args.slug } },
          template: {
            metadata: { labels: poolLabels, annotations: poolAnnotations },
            spec: {
              serviceAccountName: "tenant-workload",
              containers: [{
                name: "pgbouncer",
                image: args.images.pgbouncer,
                ports: [{ name: "postgres", containerPort: POOL_PORT }],
                env: [
                  { name: "POSTGRESQL_HOST", value: directHost },
                  { name: "POSTGRESQL_PORT", value: String(port) },
                  { name: "POSTGRESQL_DATABASE", value: databaseName },
                  fromSecret("POSTGRESQL_USERNAME", "POSTGRES_USER"),
                  fromSecret("POSTGRESQL_PASSWORD", "POSTGRES_PASSWORD"),
                  { name: "PGBOUNCER_DATABASE", value: databaseName },
                  { name: "PGBOUNCER_PORT", value: String(POOL_PORT) },
                  { name: "PGBOUNCER_POOL_MODE", value: "transaction" },
                  { name: "PGBOUNCER_DEFAULT_POOL_SIZE", value: String(deployedPool.defaultPoolSize) },
                  { name: "PGBOUNCER_MAX_CLIENT_CONN", value: String(deployedPool.maxClientConnections) },
                  { name: "PGBOUNCER_SERVER_TLS_SSLMODE", value: sslMode },
                ],
                readinessProbe: { tcpSocket: { port: POOL_PORT }, periodSeconds: 5 },
                resources: k8sResources(deployedPool.resources),
              }],
            },
          },
        },
      }, child({ dependsOn: [this.credentialsSecret] }));
      const service = new k8s.core.v1.Service(`${name}-pool-service`, {
        metadata: { name: "pgbouncer", namespace, labels: poolLabels },
        spec: {
          selector: { "app.kubernetes.io/name": "pgbouncer", "matih.ai/tenant-slug": args.slug },
          ports: [{ name: "postgres", port: POOL_PORT, targetPort: POOL_PORT }],
        },
      }, child({ dependsOn: [deployment] }));
      poolReady = [deployment, service];
    }

    // Migrations: the SQL ships with the program; the Job's name carries their
    // hash, so a changed migration set runs as a new Job.
    const migrations = tenantMigrations();
    const migrationsHash = createHash("sha256").update(JSON.stringify(migrations)).update(args.images.flyway).digest("hex").slice(0, 10);
    const migrationsConfig = new k8s.core.v1.ConfigMap(`${name}-migrations`, {
      metadata: { name: `tenant-migrations-${migrationsHash}`, namespace, labels },
      data: migrations,
    }, child());
    const migrate = new k8s.batch.v1.Job(`${name}-migrate`, {
      // The provider waits a minute past the Job's own deadline, so the Job's failure and its reason are what is reported.
      metadata: { name: `tenant-migrate-${migrationsHash}`, namespace, labels, annotations: { "pulumi.com/timeoutSeconds": "660" } },
      spec: {
        backoffLimit: 3,
        activeDeadlineSeconds: 600,
        template: {
          // A changed Secret re-runs the migrations with the new credentials (idempotent: Flyway skips what is applied).
          metadata: { labels: { ...labels, "app.kubernetes.io/name": "flyway" }, annotations: rollOnCredentials },
          spec: {
            restartPolicy: "Never",
            serviceAccountName: "tenant-workload",
            containers: [{
              name: "flyway",
              image: args.images.flyway,
              args: ["migrate"],
              env: [
                // Migrations go straight to the server: session features are not safe through a transaction pool.
                { name: "FLYWAY_URL", value: pulumi.interpolate`jdbc:postgresql://${directHost}:${port}/${databaseName}?sslmode=${sslMode}` },
                fromSecret("FLYWAY_USER", "POSTGRES_USER"),
                fromSecret("FLYWAY_PASSWORD", "POSTGRES_PASSWORD"),
                { name: "FLYWAY_SCHEMAS", value: args.identifier },
                { name: "FLYWAY_DEFAULT_SCHEMA", value: args.identifier },
                { name: "FLYWAY_CREATE_SCHEMAS", value: "false" },
                { name: "FLYWAY_LOCATIONS", value: "filesystem:/flyway/sql" },
                { name: "FLYWAY_CONNECT_RETRIES", value: "10" },
                { name: "FLYWAY_PLACEHOLDERS_TENANT_ID", value: args.tenantId },
                { name: "FLYWAY_PLACEHOLDERS_TENANT_SLUG", value: args.slug },
              ],
              volumeMounts: [{ name: "migrations", mountPath: "/flyway/sql", readOnly: true }],
              // Sized to fit beside a running free-tier tenant, for when a later migration runs.
              resources: { requests: { cpu: "50m", memory: "256Mi" }, limits: { cpu: "400m", memory: "512Mi" } },
            }],
            volumes: [{ name: "migrations", configMap: { name: migrationsConfig.metadata.name } }],
          },
        },
      },
    }, child({ dependsOn: [this.credentialsSecret, schema, role], deleteBeforeReplace: true }));

    // The check runs as the tenant, from the tenant namespace, through the same
    // URL the services will use, and reads a table the migrations created.
    const check = new k8s.batch.v1.Job(`${name}-connectivity-check`, {
      // Named after the migrations too: a new migration set makes a new check that reads the migrated schema.
      // The provider waits a minute past the Job's own deadline, so the Job's failure and its reason are what is reported.
      metadata: { name: `database-connectivity-check-${migrationsHash}`, namespace, labels, annotations: { "pulumi.com/timeoutSeconds": "360" } },
      spec: {
        backoffLimit: 5,
        activeDeadlineSeconds: 300,
        template: {
          // A changed Secret re-runs the check through the new connection settings.
          metadata: { labels: { ...labels, "app.kubernetes.io/name": "database-connectivity-check" }, annotations: rollOnCredentials },
          spec: {
            restartPolicy: "Never",
            serviceAccountName: "tenant-workload",
            containers: [{
              name: "psql",
              image: args.images.postgresClient,
              // $(DATABASE_URL) is expanded by the kubelet from the env below; no shell involved.
              command: ["psql", "$(DATABASE_URL)", "-v", "ON_ERROR_STOP=1", "-tAc", `SELECT count(*) FROM ${args.identifier}.system_roles WHERE built_in`],
              env: [fromSecret("DATABASE_URL", "DATABASE_URL"), { name: "PGCONNECT_TIMEOUT", value: "10" }],
              resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "100m", memory: "64Mi" } },
            }],
          },
        },
      },
    }, child({ dependsOn: [migrate, ...poolReady], deleteBeforeReplace: true, replaceOnChanges: ["spec"] }));
    void check;

    // Resolved only after the migration and connectivity Jobs have completed.
    const outputs = whenChildrenDone(this, {
      credentialsSecretName: this.credentialsSecret.metadata.name,
      host: appHost,
      port: appPort,
      databaseName,
      schemaName: schema.name,
      roleName: role.name,
      poolServiceName: pool ? "pgbouncer" : "",
    });
    this.credentialsSecretName = outputs.credentialsSecretName;
    this.host = outputs.host;
    this.port = outputs.port;
    this.databaseName = outputs.databaseName;
    this.schemaName = outputs.schemaName;
    this.roleName = outputs.roleName;
    this.poolServiceName = outputs.poolServiceName;
    this.registerOutputs(outputs);
  }
}

/** The administrative login of a dedicated server (Azure's `administratorLogin`). */
export const DEDICATED_ADMIN_USER = "matih_admin";

/** An administrative connection to the database holding a tenant's schema; exported only as a secret. */
export interface DatabaseAdminConnection {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string;
  readonly sslMode: string;
}

interface DedicatedServer {
  readonly host: pulumi.Output<string>;
  readonly databaseName: pulumi.Output<string>;
  readonly adminPassword: pulumi.Output<string>;
  /** The database and firewall rules: the server answers the tenant's logins once they exist. */
  readonly ready: pulumi.Resource[];
  readonly admin: pulumi.Output<DatabaseAdminConnection>;
}

/**
 * A tenant's dedicated Azure PostgreSQL server, its tenant database, admin
 * password and firewall rules, under the names phase 2 gives them: the
 * enterprise tier's program and a tier change's expand declare the same
 * resources, so the switch finds them created (declareMoveTarget).
 */
function declareDedicatedServer(
  name: string, args: Pick<TenantDatabaseArgs, "tenantId" | "slug" | "identifier" | "dedicatedServer" | "azure">,
  child: (extra?: pulumi.CustomResourceOptions) => pulumi.CustomResourceOptions,
): DedicatedServer {
  const profile = args.dedicatedServer!;
  const az = args.azure!;
  const adminPasswordResource = new random.RandomPassword(`${name}-server-admin-password`, { length: 32, special: false }, child());
  // Marked secret here too, not only by the provider's schema, so no engine or render can show it.
  const adminPassword = pulumi.secret(adminPasswordResource.result);
  const server = new dbforpostgresql.Server(`${name}-server`, {
    serverName: `matih-${args.slug}-pg`,
    resourceGroupName: az.resourceGroupName,
    location: az.location,
    version: profile.postgresVersion,
    sku: { name: profile.skuName, tier: profile.skuTier },
    storage: { storageSizeGB: profile.storageSizeGB },
    administratorLogin: DEDICATED_ADMIN_USER,
    administratorLoginPassword: adminPassword,
    highAvailability: { mode: profile.highAvailability },
    backup: { backupRetentionDays: profile.backupRetentionDays, geoRedundantBackup: "Enabled" },
    network: az.access.kind === "private"
      ? { delegatedSubnetResourceId: az.access.subnetId, privateDnsZoneArmResourceId: az.access.privateDnsZoneId, publicNetworkAccess: "Disabled" }
      : { publicNetworkAccess: "Enabled" },
    tags: { "matih.ai/tenant-id": args.tenantId, "matih.ai/tenant-slug": args.slug, "matih.ai/managed-by": "tenant-service" },
  }, child({ protect: false }));
  // Public access: without a rule the server refuses every client, this service's provider included.
  const firewallRules = az.access.kind === "public"
    ? az.access.allowed.map((range) => new dbforpostgresql.FirewallRule(`${name}-firewall-${range.name}`, {
      firewallRuleName: range.name,
      serverName: server.name,
      resourceGroupName: az.resourceGroupName,
      startIpAddress: range.startIpAddress,
      endIpAddress: range.endIpAddress,
    }, child()))
    : [];
  const database = new dbforpostgresql.Database(`${name}-database`, {
    databaseName: args.identifier,
    serverName: server.name,
    resourceGroupName: az.resourceGroupName,
    charset: "UTF8",
    collation: "en_US.utf8",
  }, child());
  const host = server.fullyQualifiedDomainName.apply((h) => h ?? "");
  const admin = pulumi.secret(pulumi.all([host, database.name, adminPassword]).apply(([h, db, pw]) => ({
    host: h, port: 5432, database: db, user: DEDICATED_ADMIN_USER, password: pw, sslMode: "require",
  })));
  return { host, databaseName: database.name, adminPassword, ready: [database, ...firewallRules], admin };
}

export interface MoveTargetArgs {
  /** Where the data goes: a dedicated server (with dedicatedServer and azure) or the shared one (with shared). */
  readonly strategy: DatabaseStrategy;
  readonly dedicatedServer?: DedicatedServerProfile | null;
  readonly azure?: TenantDatabaseArgs["azure"];
  readonly shared?: SharedPostgresEndpoint;
  /** The role's connection limit as the switch declares it. */
  readonly roleConnectionLimit: number;
}

/**
 * The expand of a tier change that moves the data to another server (the
 * Pulumi engine's first update of such a change): the new target beside
 * the old one, while phase 2's resources, the credentials Secret first,
 * stay as the old tier declares them.
 *
 * - A dedicated server: the server, its database, admin password and
 *   firewall rules under the very names the new tier's phase 2 declares, so
 *   the switch finds them created.
 * - The tenant role on the new target, with its generated password, login
 *   and limits, through an admin provider of its own. The switch's program
 *   points phase 2's postgresql provider at the new target, and its Role
 *   and Schema then stay in place in the state (a changed provider
 *   configuration replaces nothing, upstream as in the stand-in): they must
 *   find the role, and the moved schema, already there. This role resource
 *   is `retainOnDelete`: when the switch no longer declares it, Pulumi forgets
 *   it without dropping the role, which phase 2's Role then manages.
 *
 * The schema is not declared: the move creates it (a schema already there
 * and not left by a failed move is refused, never overwritten). The program
 * must give phase 2's component the azure-native provider for a dedicated
 * target (tenantProgram's `moveDatabaseTo`).
 */
export function declareMoveTarget(database: TenantDatabase, name: string, tenant: Pick<TenantDatabaseArgs, "tenantId" | "slug" | "identifier">, target: MoveTargetArgs): { dedicatedAdmin: pulumi.Output<DatabaseAdminConnection> | undefined } {
  // Children of phase 2's component, so their URNs are the new tier's; they inherit its providers (azure-native included).
  const child = (extra: pulumi.CustomResourceOptions = {}) => ({ ...extra, parent: database });
  const dedicated = target.strategy === "database-per-tenant";
  requireArg(!dedicated || (!!target.dedicatedServer && !!target.azure), "declareMoveTarget", "a dedicated target needs dedicatedServer and azure settings");
  requireArg(dedicated || !!target.shared, "declareMoveTarget", "a shared target needs the shared endpoint");
  let provider: postgresql.Provider;
  let dedicatedAdmin: pulumi.Output<DatabaseAdminConnection> | undefined;
  if (dedicated) {
    const server = declareDedicatedServer(name, { ...tenant, dedicatedServer: target.dedicatedServer!, azure: target.azure! }, child);
    dedicatedAdmin = server.admin;
    provider = new postgresql.Provider(`${name}-move-target-postgres`, {
      host: server.host, port: 5432, database: server.databaseName, username: DEDICATED_ADMIN_USER, password: server.adminPassword,
      sslmode: "require", superuser: false, connectTimeout: POSTGRES_CONNECT_TIMEOUT_SECONDS,
    }, { parent: database, dependsOn: server.ready });
  } else {
    const shared = target.shared!;
    provider = new postgresql.Provider(`${name}-move-target-postgres`, {
      host: shared.host, port: shared.port, database: shared.database, username: shared.adminUser, password: pulumi.secret(shared.adminPassword),
      sslmode: shared.sslMode, superuser: false, connectTimeout: POSTGRES_CONNECT_TIMEOUT_SECONDS,
    }, { parent: database });
  }
  new postgresql.Role(`${name}-move-target-role`, {
    name: tenant.identifier,
    login: true,
    password: database.rolePassword,
    connectionLimit: target.roleConnectionLimit,
    searchPaths: [tenant.identifier],
    createDatabase: false,
    createRole: false,
    inherit: true,
  }, { parent: database, provider, retainOnDelete: true });
  return { dedicatedAdmin };
}
