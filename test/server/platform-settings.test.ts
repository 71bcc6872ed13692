/**
 * Versioned platform settings (issue 23) on a real PostgreSQL: the file seeds
 * version 1 once, however many processes start together; every process then
 * runs on the database's current version, also one recorded after it started;
 * tenants record the version their last successful run applied; the fleet
 * filters those behind; the API shows versions with secrets masked.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolvePlatformSettings, type PlatformSettings } from "../../model/settings.ts";
import { buildService } from "../../server/build.ts";
import { loadServiceConfig } from "../../server/config.ts";
import { migrateDatabase } from "../../server/db/migrate.ts";
import { seedSettingsVersion } from "../../server/db/platform-settings.ts";
import { changedSettingPaths, currentPlatformSettings, recordPlatformSettingsVersion } from "../../server/domain/platform-settings.ts";
import { probePostgres } from "../support/postgres.ts";
import { ADMIN_TOKEN, auth, freshDatabase, READ_TOKEN, settled, tenantRequest, waitForStatus } from "../support/service.ts";

const postgres = await probePostgres();

interface Started {
  app: Awaited<ReturnType<typeof buildService>>;
  logLines: string[];
  close(): Promise<void>;
}

/** The service as test/support/service.ts starts it, but on the given platform settings (the settings file's, as server.ts reads it). */
async function startWith(databaseUrl: string, settings: PlatformSettings, file = "/etc/matih/settings.json"): Promise<Started> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "matih-settings-"));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KAFKA_BROKERS: "", SMTP_URL: "", SMTP_HOST: "",
    MATIH_ENGINE: "render", MATIH_DATA_DIR: dataDir, MATIH_ADMIN_TOKEN: ADMIN_TOKEN, MATIH_READ_TOKENS: READ_TOKEN,
    MATIH_RETRY_DELAY_SECONDS: "0", MATIH_MAX_ATTEMPTS: "3", MATIH_DRIFT_SCHEDULE: "off", MATIH_RENDER_PACE: "0.002",
    MATIH_PLATFORM_SETTINGS_FILE: file,
  };
  const logLines: string[] = [];
  const logger = { level: "info", stream: { write: (line: string) => void logLines.push(line) } };
  const app = await buildService({ config: loadServiceConfig(env), databaseUrl, settings, env, logger, shutdownGraceMs: 5_000 });
  await app.ready();
  return {
    app,
    logLines,
    async close() {
      await app.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

const get = async (app: Started["app"], url: string, token = READ_TOKEN) => {
  const res = await app.inject({ method: "GET", url, headers: auth(token) });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
};

const settingsWarnings = (lines: string[]) => lines.map((l) => JSON.parse(l)).filter((l) => l.level === 40 && /^platform settings:/.test(l.msg));

describe("the paths at which two settings versions differ", () => {
  it("names each changed leaf, map entries by key, lists as a whole, and nothing for equal settings", () => {
    const base = resolvePlatformSettings();
    const next = resolvePlatformSettings({ charts: { version: "1.0.1" }, images: { tags: { "ai-service": "2.0.0" } }, postgres: { networkCidrs: ["10.20.0.0/24", "10.21.0.0/24"] } });
    expect(changedSettingPaths(base, next)).toEqual(["charts.version", "images.tags.ai-service", "postgres.networkCidrs"]);
    expect(changedSettingPaths(base, resolvePlatformSettings())).toEqual([]);
    expect(changedSettingPaths(undefined, base)).toEqual([]);
  });
});

describe.skipIf(!postgres.available)("versioned platform settings on PostgreSQL", () => {
  const databases: Awaited<ReturnType<typeof freshDatabase>>[] = [];
  const services: Started[] = [];
  const fresh = async () => {
    const db = await freshDatabase("matih_settings");
    databases.push(db);
    return db;
  };
  const start = async (...args: Parameters<typeof startWith>) => {
    const s = await startWith(...args);
    services.push(s);
    return s;
  };
  afterAll(async () => {
    for (const s of services) await s.close().catch(() => undefined);
    for (const db of databases) await db.drop();
  });

  it("seeds version 1 exactly once when several writers race on an empty table", async () => {
    const db = await fresh();
    await migrateDatabase(db.url);
    const pools = [0, 1, 2, 3].map(() => new pg.Pool({ connectionString: db.url, max: 1 }));
    try {
      const results = await Promise.all(pools.map((pool, i) => seedSettingsVersion(pool, { settings: resolvePlatformSettings({ baseDomain: `r${i}.matih.ai`, dns: { parentZoneName: "matih.ai" } }), createdBy: `writer ${i}`, reason: "race" })));
      expect(results.filter((r) => r.seeded)).toHaveLength(1);
      const winner = results.find((r) => r.seeded)!.current;
      // Every writer sees the one version that was seeded, not its own settings.
      for (const r of results) expect(r.current).toMatchObject({ version: 1, createdBy: winner.createdBy, settings: { baseDomain: winner.settings.baseDomain } });
      const { rows } = await pools[0]!.query("SELECT version FROM platform_settings_versions");
      expect(rows).toEqual([{ version: 1 }]);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it("two services starting at once on one database seed once, and the one whose file differs uses the database's version and says so", async () => {
    // An installation from before settings versions (schema and job queue in place, no version) whose two
    // replicas restart on this version at once. (Two starts on a brand-new database race on creating the
    // job queue's schema, server/db/job-queue.ts, before this matters.)
    const db = await fresh();
    await (await startWith(db.url, resolvePlatformSettings())).close();
    const owner = new pg.Client({ connectionString: db.url });
    await owner.connect();
    try {
      await owner.query("ALTER TABLE platform_settings_versions DISABLE TRIGGER platform_settings_versions_keep");
      await owner.query("DELETE FROM platform_settings_versions");
      await owner.query("ALTER TABLE platform_settings_versions ENABLE TRIGGER platform_settings_versions_keep");
    } finally {
      await owner.end();
    }
    const [a, b] = await Promise.all([
      start(db.url, resolvePlatformSettings({ baseDomain: "a.matih.ai", dns: { parentZoneName: "matih.ai" } }), "/etc/matih/a.json"),
      start(db.url, resolvePlatformSettings({ baseDomain: "b.matih.ai", dns: { parentZoneName: "matih.ai" } }), "/etc/matih/b.json"),
    ]);
    const fromA = await get(a.app, "/api/v1/platform/settings");
    const fromB = await get(b.app, "/api/v1/platform/settings");
    expect(fromA).toEqual(fromB);
    expect(fromA).toMatchObject({ version: 1, createdBy: "service start" });
    const seededBy = fromA.settings.baseDomain === "a.matih.ai" ? a : b;
    const other = seededBy === a ? b : a;
    expect(fromA.reason).toContain(seededBy === a ? "/etc/matih/a.json" : "/etc/matih/b.json");
    expect((await get(a.app, "/api/v1/platform/settings/versions")).total).toBe(1);
    // The other file is not silently taken: it is named in a warning with the paths that differ, and how to change the settings.
    expect(settingsWarnings(seededBy.logLines)).toEqual([]);
    const [warning] = settingsWarnings(other.logLines);
    expect(warning).toMatchObject({ settingsVersion: 1, differingPaths: ["baseDomain"] });
    expect(warning.msg).toMatch(/using version 1/);
    expect(warning.msg).toMatch(/propose a new version/);
    // And what the other one serves uses the database's version: its tenant request rules check the seeded base domain.
    expect((await get(other.app, "/api/v1/platform")).baseDomain).toBe(fromA.settings.baseDomain);
  });

  describe("two services on one database after a new version is recorded", () => {
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    let a: Started;
    let b: Started;
    let pool: pg.Pool;
    const v1 = resolvePlatformSettings();
    const v2 = resolvePlatformSettings({ baseDomain: "v2.matih.ai", dns: { parentZoneName: "matih.ai" }, charts: { version: "1.0.1" } });

    beforeAll(async () => {
      db = await fresh();
      a = await start(db.url, v1);
      b = await start(db.url, v1);
      pool = new pg.Pool({ connectionString: db.url, max: 2 });
    });
    afterAll(async () => {
      await pool?.end();
    });

    const provision = async (app: Started["app"], slug: string) => {
      const created = await app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest(slug) });
      expect(created.statusCode, created.body).toBe(202);
      const status = await waitForStatus(app, created.json().tenant.id, settled);
      expect(status.status).toBe("ACTIVE");
      return created.json().tenant.id as string;
    };
    const fleetItem = async (app: Started["app"], slug: string, query = "") => (await get(app, `/api/v1/fleet${query}`)).items.find((t: any) => t.slug === slug);

    it("records the version a tenant was provisioned with", async () => {
      await provision(a.app, "early");
      const item = await fleetItem(b.app, "early");
      expect(item).toMatchObject({ settingsVersion: 1 });
      expect(Date.parse(item.settingsAppliedAt)).not.toBeNaN();
      expect((await get(b.app, "/api/v1/fleet?behind=true")).items).toEqual([]);
    });

    it("both services answer the new version once it is recorded, and the next run uses it", async () => {
      const { version, recorded } = await recordPlatformSettingsVersion(pool, { settings: v2, createdBy: "ops@example.com", reason: "charts 1.0.1 on a new domain" });
      expect(recorded).toBe(true);
      expect(version).toMatchObject({ version: 2, changedPaths: ["baseDomain", "charts.version"] });
      for (const s of [a, b]) {
        expect(await get(s.app, "/api/v1/platform/settings")).toMatchObject({ version: 2, createdBy: "ops@example.com", reason: "charts 1.0.1 on a new domain", settings: { baseDomain: "v2.matih.ai", charts: { version: "1.0.1" } } });
      }
      // Recording the same settings again is no new version.
      expect(await recordPlatformSettingsVersion(pool, { settings: v2, createdBy: "ops@example.com", reason: "again" })).toMatchObject({ recorded: false, version: { version: 2 } });
      // B started on version 1; a preview there now shows what version 2 would change on a tenant applied with version 1.
      const early = (await fleetItem(a.app, "early")).id;
      const preview = await b.app.inject({ method: "POST", url: `/api/v1/tenants/${early}/preview`, headers: auth(), payload: {} });
      expect(preview.statusCode, preview.body).toBe(200);
      expect(preview.json().changeSummary.update + preview.json().changeSummary.replace + preview.json().changeSummary.create).toBeGreaterThan(0);
      expect(preview.body).toContain("early.v2.matih.ai");
      // And the run it executes renders with version 2 (the tenant's URLs are on the new domain).
      const id = await provision(b.app, "later");
      const tenant = await get(a.app, `/api/v1/tenants/${id}`);
      expect(tenant.outputs.urls.api).toMatch(/\.v2\.matih\.ai\//);
      expect(await fleetItem(a.app, "later")).toMatchObject({ settingsVersion: 2 });
    });

    it("filters the tenants behind the current version, and an update brings a tenant up to it", async () => {
      const behind = await get(a.app, "/api/v1/fleet?behind=true");
      expect(behind).toMatchObject({ total: 1, currentSettingsVersion: 2 });
      expect(behind.items.map((t: any) => [t.slug, t.settingsVersion])).toEqual([["early", 1]]);
      const all = await get(a.app, "/api/v1/fleet");
      expect(all.items.map((t: any) => [t.slug, t.settingsVersion]).sort()).toEqual([["early", 1], ["later", 2]]);

      // A change that converges "early" to its spec, reviewed and applied, runs on version 2.
      const early = (await get(a.app, "/api/v1/fleet")).items.find((t: any) => t.slug === "early");
      const requested = await a.app.inject({ method: "POST", url: `/api/v1/tenants/${early.id}/changes`, headers: auth(), payload: { reason: "settings version 2" } });
      expect(requested.statusCode, requested.body).toBe(202);
      const changeId = requested.json().id;
      let change: any;
      for (let i = 0; i < 300 && (!change || change.status === "PREVIEWING"); i++) {
        if (change) await new Promise((r) => setTimeout(r, 200));
        change = await get(a.app, `/api/v1/tenants/${early.id}/changes/${changeId}`);
      }
      expect(change.status, JSON.stringify(change.error)).toBe("PENDING_REVIEW");
      const approved = await a.app.inject({ method: "POST", url: `/api/v1/tenants/${early.id}/changes/${changeId}/approve`, headers: auth(), payload: { allowDestructive: true } });
      expect(approved.statusCode, approved.body).toBe(202);
      await waitForStatus(a.app, early.id, (s) => settled(s) && s.run.kind === "update");
      expect(await fleetItem(b.app, "early")).toMatchObject({ settingsVersion: 2 });
      expect(await get(b.app, "/api/v1/fleet?behind=true")).toMatchObject({ items: [], total: 0 });
    });

    it("keeps every version: history cannot be changed or removed", async () => {
      await expect(pool.query("UPDATE platform_settings_versions SET reason = 'rewritten' WHERE version = 1")).rejects.toThrow(/cannot be changed or removed/);
      await expect(pool.query("DELETE FROM platform_settings_versions WHERE version = 2")).rejects.toThrow(/cannot be changed or removed/);
      expect((await get(a.app, "/api/v1/platform/settings/versions")).total).toBe(2);
    });

    it("checks a tenant request's placement and base domain against the current version in both services, not the one they started with", async () => {
      const request = (slug: string) => ({ ...tenantRequest(slug), tier: "enterprise", region: "westus" });
      // Versions 1 and 2 have no delegated subnet in westus: an enterprise tenant there is refused at the boundary.
      for (const s of [a, b]) {
        const refused = await s.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: request("west-early") });
        expect(refused.statusCode, refused.body).toBe(400);
        expect(refused.json().details).toEqual([expect.objectContaining({ field: "region", message: expect.stringContaining('there is none in "westus"') })]);
      }
      const westus = { subnetId: "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/westus/subnets/pg", subnetCidr: "10.30.1.0/24" };
      const v3 = { ...v2, azure: { ...v2.azure, databaseSubnets: { ...v2.azure.databaseSubnets, westus } } };
      expect((await recordPlatformSettingsVersion(pool, { settings: v3, createdBy: "ops@example.com", reason: "a subnet in westus" })).version.version).toBe(3);
      // Both processes, started on version 1, take it from the next request: no restart.
      for (const [s, slug] of [[a, "west-a"], [b, "west-b"]] as const) {
        const accepted = await s.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: { ...request(slug), lastPhase: 1 } });
        expect(accepted.statusCode, accepted.body).toBe(202);
        await waitForStatus(s.app, accepted.json().tenant.id, settled);
      }
      // A slug that fits under v1's domain but whose hostnames would not under a longer one is refused once that version is current.
      const long = "x".repeat(20);
      // 228 characters: api.{20}.{domain} is 253, the longest host name allowed; one more character in the slug is 254.
      const domain = `${"d".repeat(54)}.${"e".repeat(54)}.${"f".repeat(54)}.${"g".repeat(54)}.matih.ai`;
      expect(domain.length).toBe(228);
      const v4 = resolvePlatformSettings({ ...v3, baseDomain: domain, dns: { ...v3.dns, parentZoneName: "matih.ai" } } as never);
      const before = await a.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: { ...tenantRequest(long), lastPhase: 1 } });
      expect(before.statusCode, before.body).toBe(202);
      await waitForStatus(a.app, before.json().tenant.id, settled);
      await recordPlatformSettingsVersion(pool, { settings: v4, createdBy: "ops@example.com", reason: "a longer base domain" });
      const after = await b.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: { ...tenantRequest(`${long}b`), lastPhase: 1 } });
      expect(after.statusCode, after.body).toBe(400);
      expect(after.json().details).toEqual([{ field: "slug", message: `makes host names under "${domain}" longer than 253 characters` }]);
    });
  });

  it("keeps each process's cluster connection (an inline kubeconfig) out of the versions, and runs each process with its own", async () => {
    const db = await fresh();
    const kubeconfig = "apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:\n    token: kube-token-7a6b5c4d3e2f\n";
    const fileSettings = resolvePlatformSettings({ kubernetes: { kubeconfig, context: "aks-prod" } });
    await start(db.url, fileSettings);
    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    try {
      const stored = await pool.query("SELECT settings FROM platform_settings_versions");
      expect(stored.rows).toHaveLength(1);
      expect(JSON.stringify(stored.rows[0].settings)).not.toContain("kube-token-7a6b5c4d3e2f");
      expect(stored.rows[0].settings.kubernetes).not.toHaveProperty("context");
      // This process runs version 1 with its own connection; another process with none runs it with none.
      const mine = await currentPlatformSettings(pool, fileSettings);
      expect(mine.version).toBe(1);
      expect(mine.settings.kubernetes).toMatchObject({ kubeconfig, context: "aks-prod" });
      const other = await currentPlatformSettings(pool, resolvePlatformSettings());
      expect(other.settings.kubernetes.kubeconfig).toBeUndefined();
      expect(other.settings.kubernetes.serviceCidr).toBe(fileSettings.kubernetes.serviceCidr);
    } finally {
      await pool.end();
    }
  });

  it("answers the history newest first with the changed paths, pages it, and masks secrets in the settings", async () => {
    const db = await fresh();
    const s = await start(db.url, resolvePlatformSettings());
    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    try {
      const base = resolvePlatformSettings();
      // A repository URL that carries the service's admin token (a known secret), and a kubeconfig given inline.
      const kubeconfig = "apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:\n    token: kube-token-3f9a8b7c6d5e4f\n";
      await recordPlatformSettingsVersion(pool, { settings: { ...base, charts: { ...base.charts, repository: `https://ci:${ADMIN_TOKEN}@charts.example.com` } }, createdBy: "alice", reason: "private chart mirror" });
      await recordPlatformSettingsVersion(pool, { settings: { ...base, charts: { ...base.charts, repository: `https://ci:${ADMIN_TOKEN}@charts.example.com` }, kubernetes: { ...base.kubernetes, kubeconfig } }, createdBy: "bob", reason: "kubeconfig inline" });
      await recordPlatformSettingsVersion(pool, { settings: { ...base, charts: { ...base.charts, repository: `https://ci:${ADMIN_TOKEN}@charts.example.com` }, alerts: { ...base.alerts, emails: ["oncall@example.com"] } }, createdBy: "bob", reason: "on-call mail" });

      const current = await get(s.app, "/api/v1/platform/settings");
      expect(Object.keys(current).sort()).toEqual(["createdAt", "createdBy", "reason", "settings", "version"]);
      expect(current).toMatchObject({ version: 3, createdBy: "bob", reason: "on-call mail" });
      expect(Date.parse(current.createdAt)).not.toBeNaN();
      const text = JSON.stringify(current);
      expect(text).not.toContain(ADMIN_TOKEN);
      expect(current.settings.charts.repository).toBe("https://ci:[secret]@charts.example.com");
      // How a process reaches the cluster is its own: an inline kubeconfig (a token inside) is no part of a version.
      expect(current.settings.kubernetes.kubeconfig).toBeUndefined();
      const stored = await pool.query("SELECT settings::text AS text FROM platform_settings_versions");
      expect(stored.rows.map((r) => r.text).join("\n")).not.toContain("kube-token-3f9a8b7c6d5e4f");
      // Everything else is shown as it is.
      expect(current.settings.images).toEqual(base.images);

      const history = await get(s.app, "/api/v1/platform/settings/versions");
      expect(history).toMatchObject({ total: 3, limit: 50, offset: 0 });
      expect(history.items.map((v: any) => [v.version, v.createdBy, v.changedPaths])).toEqual([
        [3, "bob", ["alerts.emails"]],
        [2, "alice", ["charts.repository"]],
        [1, "service start", []],
      ]);
      expect(JSON.stringify(history)).not.toContain(ADMIN_TOKEN);
      const second = await get(s.app, "/api/v1/platform/settings/versions?limit=1&offset=1");
      expect(second.items.map((v: any) => v.version)).toEqual([2]);
      expect(second.total).toBe(3);
      // Bad settings are refused with the path that is wrong, and nothing is recorded.
      await expect(recordPlatformSettingsVersion(pool, { settings: { ...base, postgres: { ...base.postgres, port: 70_000 } }, createdBy: "alice", reason: "typo" })).rejects.toThrow(/postgres\.port/);
      await expect(recordPlatformSettingsVersion(pool, { settings: base, createdBy: "", reason: "nobody" })).rejects.toThrow(/who recorded it/);
      expect((await get(s.app, "/api/v1/platform/settings/versions")).total).toBe(3);
      // No token, no settings.
      expect((await s.app.inject({ method: "GET", url: "/api/v1/platform/settings" })).statusCode).toBe(401);
    } finally {
      await pool.end();
    }
  });
});
