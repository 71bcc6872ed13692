/**
 * Backups of a tenant's database and their restore. A tenant's data is its
 * schema, `tenant_{slug}` (model/spec.ts postgresIdentifier), with its role
 * of the same name: on the shared server for free and professional tenants.
 * A backup is a custom-format `pg_dump` of that schema (its tables, rows,
 * sequences, functions, ownership and grants), kept in the backup store and
 * recorded in tenant_backups with its size, sha256 and expiry.
 *
 * Where the schema is read from: MATIH_TENANT_DATABASE_URL when set; else, on
 * the pulumi engine, the shared server of the platform settings (host, port,
 * database, admin user, the admin password from its environment variable);
 * on the render engine nothing, since its tenants' phase 2 runs under Pulumi's
 * mock runtime and creates no schema anywhere: a backup there is recorded as
 * not taken, and why, in the audit log. An enterprise tenant's dedicated
 * server is backed up by Azure itself (point-in-time restore, the tier's
 * backupRetentionDays); this service does not dump it.
 *
 * Passwords reach pg_dump, pg_restore and psql through PGPASSWORD in their
 * environment, never their arguments (which any user of the host may list).
 */
import { spawn } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import pg from "pg";
import { knownSecrets } from "../../automation/index.ts";
import { redactSecrets } from "../../automation/core/redact.ts";
import type { PlatformSettings } from "../../model/settings.ts";
import { postgresIdentifier } from "../../model/spec.ts";
import { tierProfile } from "../../model/tiers.ts";
import { expiredBackups, insertBackup, markBackupRemoved, type BackupReason, type BackupRow } from "../db/backups.ts";
import type { Queryable } from "../db/pool.ts";
import type { TenantRow } from "../db/tenants.ts";
import type { BackupStore } from "./backup-store.ts";
import { currentPlatformSettings } from "./platform-settings.ts";

export interface BackupConfig {
  /**
   * MATIH_BACKUP_STORE: `local` (default), a folder of the service's host
   * (MATIH_BACKUP_DIR, default <data dir>/backups, 0700), or `azure`, a Blob
   * Storage container (MATIH_BACKUP_AZURE_CONTAINER_URL, written with the SAS
   * token in MATIH_BACKUP_AZURE_SAS_TOKEN, a secret).
   */
  readonly store: { readonly kind: "local"; readonly dir: string } | { readonly kind: "azure"; readonly containerUrl: string; readonly sasToken: string };
  /** MATIH_BACKUP_RETENTION_DAYS: how long a backup is kept; default 30. */
  readonly retentionDays: number;
  /** MATIH_TENANT_DATABASE_URL: a login that may dump and restore tenant schemas; unset = derived from the engine (domain/backup-service.ts). A secret. */
  readonly tenantDatabaseUrl: string | null;
  /** MATIH_PG_BIN_DIR: the folder of pg_dump, pg_restore and psql; unset = PATH. */
  readonly pgBinDir: string | null;
}

export interface BackupServiceDeps {
  pool: pg.Pool;
  store: BackupStore;
  /** MATIH_BACKUP_RETENTION_DAYS */
  retentionDays: number;
  /** MATIH_TENANT_DATABASE_URL; null: derived from the engine (see above). */
  tenantDatabaseUrl: string | null;
  engine: "pulumi" | "render";
  settings: PlatformSettings;
  env?: NodeJS.ProcessEnv;
  /** MATIH_PG_BIN_DIR: where pg_dump, pg_restore and psql are; default: PATH. Their major version must be at least the server's. */
  pgBinDir?: string | null;
}

/** A backup that could not be taken or restored; its message names what failed, in the tenant's terms. */
export class BackupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BackupError";
  }
}

/** The tenant's schema and the server it is on; `none` says why there is nothing this service can dump. */
export type BackupTarget =
  | { kind: "schema"; url: string; schema: string; source: string }
  | { kind: "none"; why: string };

export type BackupOutcome = { backup: BackupRow } | { none: string };

const MAX_STDERR = 600;

export class BackupService {
  private readonly deps: BackupServiceDeps;

  constructor(deps: BackupServiceDeps) {
    this.deps = deps;
  }

  /**
   * The current platform settings version, as a run reads it: a version that
   * moves the shared server (postgres.host, port, database, adminUser) applies
   * to the next backup or restore in every process, without a restart. On the
   * caller's connection when it has one (it may hold the tenant's row lock).
   */
  private async currentSettings(db?: Queryable): Promise<PlatformSettings> {
    return (await currentPlatformSettings(db ?? this.deps.pool, this.deps.settings)).settings;
  }

  get retentionDays(): number {
    return this.deps.retentionDays;
  }

  /**
   * Where the tenant's data is, or why this service has none to dump: on the
   * shared server of the given settings (by default those this process
   * started with; `take` and `restore` pass the current version's).
   */
  targetOf(tenant: Pick<TenantRow, "slug" | "tier">, settings: PlatformSettings = this.deps.settings): BackupTarget {
    const schema = postgresIdentifier(tenant.slug);
    if (tierProfile(tenant.tier).database.strategy === "database-per-tenant") {
      return { kind: "none", why: `a ${tenant.tier} tenant's dedicated server is backed up by Azure (point-in-time restore for ${tierProfile(tenant.tier).database.dedicatedServer?.backupRetentionDays ?? "its"} days); this service does not dump it` };
    }
    const url = this.deps.tenantDatabaseUrl ?? (this.deps.engine === "pulumi" ? this.sharedServerUrl(settings) : null);
    if (url === null) {
      return { kind: "none", why: "the render engine creates no tenant database (its phase 2 runs under Pulumi's mock runtime); set MATIH_TENANT_DATABASE_URL to back up tenant schemas from a PostgreSQL" };
    }
    const u = new URL(url);
    return { kind: "schema", url, schema, source: `${u.hostname}:${u.port || "5432"}${u.pathname}` };
  }

  private sharedServerUrl(settings: PlatformSettings): string {
    const p = settings.postgres;
    const url = new URL("postgresql://localhost");
    url.hostname = p.host;
    url.port = String(p.port);
    url.pathname = `/${p.database}`;
    url.username = p.adminUser;
    url.password = (this.deps.env ?? process.env)[p.adminPasswordEnv] ?? "";
    url.searchParams.set("sslmode", p.sslMode);
    // The settings' sslMode means what it means to libpq (and to pg_dump):
    // `require` encrypts without verifying the certificate. node-postgres
    // reads `require` as verify-full unless told to follow libpq.
    url.searchParams.set("uselibpqcompat", "true");
    return url.toString();
  }

  /**
   * Dumps the tenant's schema into the store and records it. A schema that
   * does not exist holds nothing to lose (the tenant never reached phase 2, or
   * a rollback removed it after its own backup): `none`, as for a tenant this
   * service has no database of. Anything else that fails throws BackupError.
   */
  async take(tenant: TenantRow, options: { reason: BackupReason; principal: string; runId?: string | null; db?: Queryable }): Promise<BackupOutcome> {
    const target = this.targetOf(tenant, await this.currentSettings(options.db));
    if (target.kind === "none") return { none: target.why };
    if (!(await this.schemaExists(target))) return { none: `schema ${target.schema} does not exist on ${target.source}: there is no data to back up` };
    const id = randomUUID();
    const name = `${tenant.slug}-${new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}-${id}.dump`;
    const file = path.join(this.deps.store.workDir, `${name}.partial`);
    try {
      // Created 0600 before pg_dump writes a byte into it.
      await (await open(file, "wx", 0o600)).close();
      await this.asMemberOfOwner(target, () => this.run("pg_dump", ["--format=custom", "--no-password", `--schema="${target.schema}"`, `--file=${file}`], target.url));
      const { size } = await stat(file);
      const sha256 = await sha256Of(file);
      const location = await this.deps.store.put(name, file);
      // In the caller's transaction when it holds the tenant's row lock (a restore): the row's foreign key would wait for it.
      const backup = await insertBackup(options.db ?? this.deps.pool, {
        id, tenantId: tenant.id, runId: options.runId ?? null, reason: options.reason, requestedBy: options.principal,
        schemaName: target.schema, source: target.source, store: this.deps.store.kind, location, sizeBytes: size, sha256, retentionDays: this.deps.retentionDays,
      });
      return { backup };
    } catch (error) {
      await rm(file, { force: true });
      if (error instanceof BackupError) throw error;
      throw new BackupError(`the backup of schema ${target.schema} on ${target.source} failed: ${this.clean((error as Error).message)}`);
    }
  }

  /**
   * Replaces the tenant's schema with the backup's, in one transaction: the
   * schema is dropped and the dump's objects, rows, sequence values, owners
   * and grants are created again, or nothing changes. A backup of another
   * tenant (restoreFrom) is renamed to this tenant's schema and role on the
   * way in. The file's sha256 must match the one recorded.
   */
  async restore(tenant: TenantRow, backup: BackupRow): Promise<void> {
    const target = this.targetOf(tenant, await this.currentSettings());
    if (target.kind === "none") throw new BackupError(`there is no database of ${tenant.slug} to restore into: ${target.why}`);
    if (backup.removedAt) throw new BackupError(`backup ${backup.id} was removed on ${new Date(backup.removedAt).toISOString()} (retention); it cannot be restored`);
    const base = path.join(this.deps.store.workDir, `restore-${randomUUID()}`);
    const dump = `${base}.dump`;
    const script = `${base}.sql`;
    try {
      await this.deps.store.get(backup.location, dump);
      const sha256 = await sha256Of(dump);
      if (sha256 !== backup.sha256) throw new BackupError(`backup ${backup.id} does not match its recorded sha256 (${backup.sha256}, the file's is ${sha256}); it was not restored`);
      await (await open(script, "wx", 0o600)).close();
      // The dump as SQL, so that the schema's removal and its re-creation run in one psql transaction.
      await this.run("pg_restore", ["--no-password", `--file=${script}`, dump], null);
      if (backup.schemaName !== target.schema) await renameIdentifier(script, backup.schemaName, target.schema);
      await this.asMemberOfOwner(target, () => this.run("psql", ["--no-password", "--no-psqlrc", "--quiet", "--single-transaction", "--set=ON_ERROR_STOP=1",
        `--command=DROP SCHEMA IF EXISTS "${target.schema}" CASCADE`, `--file=${script}`], target.url));
    } catch (error) {
      if (error instanceof BackupError) throw error;
      throw new BackupError(`the restore of backup ${backup.id} into schema ${target.schema} on ${target.source} failed: ${this.clean((error as Error).message)}`);
    } finally {
      await rm(dump, { force: true });
      await rm(script, { force: true });
    }
  }

  /** Deletes the files of backups past their retention; their rows stay, with removed_at. */
  async prune(): Promise<number> {
    let removed = 0;
    for (const backup of await expiredBackups(this.deps.pool)) {
      await this.deps.store.remove(backup.location);
      await markBackupRemoved(this.deps.pool, backup.id);
      removed += 1;
    }
    return removed;
  }

  /**
   * Runs `work` with the connecting admin a member of the role that owns the
   * tenant's schema. The platform's admin is not a superuser (Azure's
   * azure_pg_admin, the local cluster's CREATEROLE admin): without the
   * tenant role it may neither read the tenant's tables (pg_dump) nor drop
   * and re-create a schema that role owns (restore). It grants itself the
   * role for the work and gives it back after, as the postgresql provider
   * does for the objects it manages.
   */
  private async asMemberOfOwner<T>(target: Extract<BackupTarget, { kind: "schema" }>, work: () => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: target.url, application_name: "matih-backup", connectionTimeoutMillis: 10_000 });
    let granted: string | null = null;
    try {
      try {
        await client.connect();
        const { rows } = await client.query<{ owner: string; member: boolean; superuser: boolean }>(
          `SELECT pg_get_userbyid(n.nspowner) AS owner, pg_has_role(current_user, n.nspowner, 'USAGE') AS member,
                  (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser
             FROM pg_namespace n WHERE n.nspname = $1`, [target.schema]);
        const schema = rows[0];
        if (schema && !schema.member && !schema.superuser) {
          await client.query(`GRANT ${client.escapeIdentifier(schema.owner)} TO CURRENT_USER`);
          granted = schema.owner;
        }
      } catch (error) {
        throw new BackupError(`could not take the role that owns schema ${target.schema} on ${target.source}: ${this.clean((error as Error).message)}`);
      }
      return await work();
    } finally {
      if (granted !== null) await client.query(`REVOKE ${client.escapeIdentifier(granted)} FROM CURRENT_USER`).catch(() => undefined);
      await client.end().catch(() => undefined);
    }
  }

  private async schemaExists(target: Extract<BackupTarget, { kind: "schema" }>): Promise<boolean> {
    const client = new pg.Client({ connectionString: target.url, application_name: "matih-backup", connectionTimeoutMillis: 10_000 });
    try {
      await client.connect();
      const { rows } = await client.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [target.schema]);
      return rows.length > 0;
    } catch (error) {
      throw new BackupError(`could not reach the tenant database ${target.source}: ${this.clean((error as Error).message)}`);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Runs a PostgreSQL client program against `url` (connection in its environment); rejects with its stderr. */
  private run(program: "pg_dump" | "pg_restore" | "psql", args: string[], url: string | null): Promise<void> {
    const bin = this.deps.pgBinDir ? path.join(this.deps.pgBinDir, program) : program;
    return new Promise((resolve, reject) => {
      const child = spawn(bin, args, { env: { PATH: process.env.PATH ?? "", ...(url ? connectionEnv(url) : {}) }, stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (chunk: Buffer) => {
        if (stderr.length < MAX_STDERR * 4) stderr += chunk.toString();
      });
      child.on("error", (error) => reject(new BackupError(`${program} could not be started (${error.message}); install the PostgreSQL client programs or set MATIH_PG_BIN_DIR`)));
      child.on("close", (code) => {
        if (code === 0) resolve();
        else reject(new BackupError(`${program} failed (exit ${code}): ${this.clean(stderr)}`));
      });
    });
  }

  /** A client program's or driver's text, short and with no secret the process knows. */
  private clean(text: string): string {
    const url = this.deps.tenantDatabaseUrl;
    const secrets = [...knownSecrets(), ...(url && new URL(url).password ? [decodeURIComponent(new URL(url).password)] : [])];
    const out = redactSecrets(text.trim(), secrets);
    return out.length > MAX_STDERR ? `${out.slice(0, MAX_STDERR)}…` : out;
  }
}

/** libpq's environment for `url`: the password never appears in a process's arguments. */
export function connectionEnv(url: string): Record<string, string> {
  const u = new URL(url);
  const env: Record<string, string> = {
    PGHOST: decodeURIComponent(u.hostname.replace(/^\[(.*)\]$/, "$1")),
    PGPORT: u.port || "5432",
    PGDATABASE: decodeURIComponent(u.pathname.replace(/^\//, "")) || "postgres",
    PGUSER: decodeURIComponent(u.username) || "postgres",
    PGCONNECT_TIMEOUT: "10",
    PGAPPNAME: "matih-backup",
  };
  if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
  const sslMode = u.searchParams.get("sslmode");
  if (sslMode) env.PGSSLMODE = sslMode;
  return env;
}

export async function sha256Of(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * Renames the schema (and its role, of the same name) in a pg_restore script:
 * every whole-word occurrence outside COPY data, where a row's text is left
 * exactly as it was. Written to the same file.
 */
async function renameIdentifier(file: string, from: string, to: string): Promise<void> {
  const word = new RegExp(`\\b${from}\\b`, "g");
  const out = await open(`${file}.renamed`, "wx", 0o600);
  let inCopy = false;
  try {
    for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY })) {
      let text = line;
      if (inCopy) {
        if (line === "\\.") inCopy = false;
      } else {
        text = line.replace(word, to);
        if (/^COPY .* FROM stdin;$/.test(line)) inCopy = true;
      }
      await out.write(`${text}\n`);
    }
  } finally {
    await out.close();
  }
  await rename(`${file}.renamed`, file);
}
