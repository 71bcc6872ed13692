import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { resolvePlatformSettings } from "../../model/settings.ts";
import { buildService } from "../../server/build.ts";
import { loadServiceConfig } from "../../server/config.ts";
import { probePostgres } from "../support/postgres.ts";
import { ADMIN_TOKEN, auth, freshDatabase } from "../support/service.ts";

const pg = await probePostgres();

describe.skipIf(!pg.available)("the error handler", () => {
  it("answers an unexpected failure with 500 and the request id, never the internal message", async () => {
    const db = await freshDatabase();
    const dataDir = await mkdtemp(path.join(tmpdir(), "matih-errors-"));
    const env = { ...process.env, MATIH_ENGINE: "render", MATIH_DATA_DIR: dataDir, MATIH_ADMIN_TOKEN: ADMIN_TOKEN, KAFKA_BROKERS: "", SMTP_URL: "", SMTP_HOST: "" };
    const app = await buildService({ config: loadServiceConfig(env), databaseUrl: db.url, settings: resolvePlatformSettings(), env, logger: false, shutdownGraceMs: 1_000 });
    // A route that fails the way a bug would, with internals in its message.
    app.get("/api/v1/boom", { config: { scope: "read" } }, async () => {
      throw new Error("connection to 10.1.2.3 refused for user matih_admin password=hunter2");
    });
    try {
      await app.ready();
      const res = await app.inject({ method: "GET", url: "/api/v1/boom", headers: auth() });
      expect(res.statusCode).toBe(500);
      const body = res.json();
      expect(body.code).toBe("internal_error");
      expect(body.message).toMatch(/quote request id req-[0-9a-z]+ when reporting it/);
      expect(res.body).not.toMatch(/hunter2|10\.1\.2\.3|matih_admin/);
    } finally {
      await app.close();
      await rm(dataDir, { recursive: true, force: true });
      await db.drop();
    }
  }, 60_000);
});
