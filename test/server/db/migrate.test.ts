import { readdir } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { migrateDatabase } from "../../../server/db/migrate.ts";
import { probePostgres } from "../../support/postgres.ts";
import { freshDatabase } from "../../support/service.ts";

const pg = await probePostgres();

describe.skipIf(!pg.available)("schema migrations", () => {
  it("let several processes start together: each migration is applied once, and none of them fails", async () => {
    const db = await freshDatabase();
    try {
      const runs = await Promise.all(Array.from({ length: 4 }, () => migrateDatabase(db.url)));
      const files = (await readdir(path.resolve(import.meta.dirname, "../../../server/migrations"))).filter((f) => f.endsWith(".sql")).map((f) => f.replace(/\.sql$/, "")).sort();
      expect(runs.flat().sort()).toEqual(files);
    } finally {
      await db.drop();
    }
  });
});
