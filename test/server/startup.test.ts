import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { logLines, spawnService } from "../support/entry-point.ts";
import { probePostgres } from "../support/postgres.ts";
import { ADMIN_TOKEN, freshDatabase } from "../support/service.ts";

const pg = await probePostgres();

const noStack = (output: string) => expect(output, output).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);

describe.skipIf(!pg.available)("a start-up that fails", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });
  const dataDir = async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "matih-startup-"));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  };

  it("names DATABASE_URL in one line when the database cannot be reached", async () => {
    const service = spawnService({ DATABASE_URL: "postgresql://someone:hunter2@127.0.0.1:1/matih", MATIH_DATA_DIR: await dataDir(), MATIH_ENGINE: "render", MATIH_ADMIN_TOKEN: ADMIN_TOKEN, PORT: "0" });
    expect(await service.exited()).toBe(1);
    expect(service.output().trim()).toBe("matih tenant service cannot start: cannot connect to the database in DATABASE_URL at 127.0.0.1:1/matih: connection refused (is PostgreSQL running there?)");
    expect(service.output()).not.toContain("hunter2");
  }, 60_000);

  it("names MATIH_MIGRATION_DATABASE_URL in one line when the owner's database cannot be reached", async () => {
    const db = await freshDatabase();
    cleanup.push(() => db.drop());
    const service = spawnService({ DATABASE_URL: db.url, MATIH_MIGRATION_DATABASE_URL: "postgresql://owner:hunter3@127.0.0.1:1/matih", MATIH_DATA_DIR: await dataDir(), MATIH_ENGINE: "render", MATIH_ADMIN_TOKEN: ADMIN_TOKEN, PORT: "0" });
    expect(await service.exited()).toBe(1);
    expect(service.output().trim()).toBe("matih tenant service cannot start: cannot connect to the database in MATIH_MIGRATION_DATABASE_URL at 127.0.0.1:1/matih: connection refused (is PostgreSQL running there?)");
    expect(service.output()).not.toContain("hunter3");
  }, 60_000);

  it("refuses one role in both database URLs in one line, without a stack", async () => {
    const db = await freshDatabase();
    cleanup.push(() => db.drop());
    const service = spawnService({ DATABASE_URL: db.url, MATIH_MIGRATION_DATABASE_URL: db.url, MATIH_DATA_DIR: await dataDir(), MATIH_ENGINE: "render", MATIH_ADMIN_TOKEN: ADMIN_TOKEN, PORT: "0", LOG_LEVEL: "warn" });
    expect(await service.exited()).toBe(1);
    const user = new URL(db.url).username;
    expect(service.output().trim().split("\n").at(-1)).toBe(`matih tenant service cannot start: MATIH_MIGRATION_DATABASE_URL and DATABASE_URL both log in as "${user}"; DATABASE_URL must use the service's own role, which owns nothing`);
    noStack(service.output());
  }, 60_000);

  it("prints the missing-CLI message for MATIH_ENGINE=pulumi without a stack", async () => {
    const db = await freshDatabase();
    cleanup.push(() => db.drop());
    const service = spawnService({ DATABASE_URL: db.url, MATIH_DATA_DIR: await dataDir(), MATIH_ENGINE: "pulumi", MATIH_ADMIN_TOKEN: ADMIN_TOKEN, PORT: "0", PATH: "/nonexistent", LOG_LEVEL: "warn" });
    expect(await service.exited()).toBe(1);
    const lines = service.output().trim().split("\n");
    expect(lines.at(-1)).toMatch(/^matih tenant service cannot start: the Pulumi engine needs the pulumi CLI 3\.181\.0 or newer on PATH, and none was found\. .*MATIH_ENGINE=render/);
    noStack(service.output());
  }, 60_000);

  it("reports a busy port before any run is taken", async () => {
    const db = await freshDatabase();
    cleanup.push(() => db.drop());
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    cleanup.push(() => new Promise((resolve) => blocker.close(resolve)));
    const port = (blocker.address() as { port: number }).port;
    const service = spawnService({ DATABASE_URL: db.url, MATIH_DATA_DIR: await dataDir(), MATIH_ENGINE: "render", MATIH_ADMIN_TOKEN: ADMIN_TOKEN, PORT: String(port), LOG_LEVEL: "info" });
    expect(await service.exited()).toBe(1);
    expect(service.output().trim().split("\n").at(-1)).toBe(`matih tenant service cannot start: cannot listen on 127.0.0.1:${port}: the port is in use by another program (set PORT to another port)`);
    expect(service.output()).not.toContain("taking provisioning runs");
    noStack(service.output());
  }, 60_000);

  it("announces an active render fault plan at start-up", async () => {
    const db = await freshDatabase();
    cleanup.push(() => db.drop());
    const service = spawnService({ DATABASE_URL: db.url, MATIH_DATA_DIR: await dataDir(), MATIH_ENGINE: "render", MATIH_ADMIN_TOKEN: ADMIN_TOKEN, PORT: "0", LOG_LEVEL: "info", MATIH_RENDER_FAULTS: JSON.stringify({ 6: { failTimes: 2 }, 9: { failTimes: 1 } }) });
    try {
      await service.listening();
      const warning = logLines(service.output()).find((l) => String(l.msg).startsWith("MATIH_RENDER_FAULTS is active"));
      expect(warning).toMatchObject({ level: 40, msg: "MATIH_RENDER_FAULTS is active: phase 6 fails 2 times, phase 9 fails 1 time" });
      // Log times are ISO 8601, readable next to other systems' logs.
      expect(String(warning!.time)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    } finally {
      expect(await service.stop("SIGTERM")).toBe(0);
    }
  }, 60_000);
});
