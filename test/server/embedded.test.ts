import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { resolvePlatformSettings } from "../../model/settings.ts";
import { buildService } from "../../server/build.ts";
import { loadServiceConfig } from "../../server/config.ts";
import { startEmbeddedDatabase } from "../../server/db/embedded.ts";
import { ADMIN_TOKEN, auth, settled, tenantRequest, waitForStatus } from "../support/service.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");

describe("the embedded default database", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  async function serve(dataDir: string) {
    const env = { ...process.env, MATIH_ENGINE: "render", MATIH_DATA_DIR: dataDir, MATIH_ADMIN_TOKEN: ADMIN_TOKEN, MATIH_RETRY_DELAY_SECONDS: "0", LOG_LEVEL: "warn" };
    const database = await startEmbeddedDatabase(dataDir);
    const app = await buildService({ config: loadServiceConfig(env), databaseUrl: database.url, settings: resolvePlatformSettings(), env, logger: false, shutdownGraceMs: 5_000 });
    await app.ready();
    return { app, close: async () => { await app.close(); await database.close(); } };
  }

  it("provisions a tenant to ACTIVE and keeps it across a restart", async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "matih-embedded-"));
    dirs.push(dataDir);
    const first = await serve(dataDir);
    const tenant = (await first.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("embedded") })).json();
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

  it("starts with `npm start`'s entry point and no configuration at all, writing an admin token file", async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "matih-start-"));
    dirs.push(dataDir);
    const env: NodeJS.ProcessEnv = { ...process.env, MATIH_DATA_DIR: dataDir, MATIH_ENGINE: "render", PORT: "0", LOG_LEVEL: "info" };
    delete env.DATABASE_URL;
    delete env.MATIH_ADMIN_TOKEN;
    const child = spawn(process.execPath, ["server/server.ts"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout!.on("data", (d) => (out += String(d)));
    child.stderr!.on("data", (d) => (out += String(d)));
    try {
      const deadline = Date.now() + 60_000;
      let url: string | undefined;
      while (!url && Date.now() < deadline) {
        url = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(url, out.slice(-2000)).toBeDefined();
      const token = (await readFile(path.join(dataDir, "admin-token"), "utf8")).trim();
      expect((await stat(path.join(dataDir, "admin-token"))).mode & 0o077).toBe(0);
      expect(out).not.toContain(token);
      expect(out).toMatch(/embedded database/);
      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(200);
      const list = await fetch(`${url}/api/v1/tenants`, { headers: { authorization: `Bearer ${token}` } });
      expect(list.status).toBe(200);
    } finally {
      child.kill("SIGTERM");
      const code = await new Promise((resolve) => child.once("exit", (c) => resolve(c)));
      expect(code).toBe(0);
    }
  }, 120_000);
});
