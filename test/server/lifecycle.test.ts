import { describe, expect, it } from "vitest";
import { loadServiceConfig, ServiceConfigError } from "../../server/config.ts";
import { TENANT_STATUSES } from "../../server/db/tenants.ts";
import { assertTransition, canTransition, TransitionRefusedError } from "../../server/domain/tenant-status.ts";
import { probePostgres } from "../support/postgres.ts";
import { auth, freshDatabase, settled, startService, tenantRequest, waitForStatus } from "../support/service.ts";
import { PHASE_COUNT } from "../../model/phases.ts";

describe("service configuration", () => {
  it("applies the documented defaults", () => {
    const config = loadServiceConfig({ MATIH_ADMIN_TOKEN: "a-long-enough-admin-token-Xc4Vb8Nm2Kq6Wz" });
    expect(config).toMatchObject({ port: 8080, host: "127.0.0.1", databaseUrl: null, maxAttempts: 3, rollbackPolicy: "keep", worker: true, jobHeartbeatSeconds: 30 });
    expect(config.dataDir).toMatch(/\.matih$/);
  });

  it("reports every bad variable at once, by name, without echoing token values", () => {
    try {
      loadServiceConfig({ PORT: "http", DATABASE_URL: "mysql://x", MATIH_ADMIN_TOKEN: "short-secret", MATIH_ROLLBACK_POLICY: "shred", MATIH_JOB_HEARTBEAT_SECONDS: "5", MATIH_WORKER: "maybe" });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ServiceConfigError);
      const text = (error as ServiceConfigError).problems.join("\n");
      for (const name of ["PORT", "DATABASE_URL", "MATIH_ADMIN_TOKEN", "MATIH_ROLLBACK_POLICY", "MATIH_JOB_HEARTBEAT_SECONDS", "MATIH_WORKER"]) expect(text).toContain(name);
      expect(text).not.toContain("short-secret");
    }
  });
});

describe("the tenant lifecycle", () => {
  const allowed = [
    ["PROVISIONING", "ACTIVE"], ["PROVISIONING", "FAILED"], ["FAILED", "PROVISIONING"],
    ["ACTIVE", "DEPROVISIONING"], ["FAILED", "DEPROVISIONING"], ["DEPROVISIONING", "DELETED"], ["DEPROVISIONING", "DEPROVISIONING"],
    // Changes through review: an approved change updates an ACTIVE tenant; a failed update is retried with the same change.
    ["ACTIVE", "UPDATING"], ["UPDATING", "ACTIVE"], ["UPDATING", "FAILED"], ["FAILED", "UPDATING"],
  ];
  it("allows exactly the documented transitions", () => {
    for (const from of TENANT_STATUSES) {
      for (const to of TENANT_STATUSES) {
        const expected = allowed.some(([f, t]) => f === from && t === to);
        expect(canTransition(from, to), `${from} -> ${to}`).toBe(expected);
      }
    }
  });

  it("names both states when it refuses one", () => {
    expect(() => assertTransition("DELETED", "ACTIVE")).toThrow(TransitionRefusedError);
    expect(() => assertTransition("ACTIVE", "PROVISIONING", "retry a FAILED tenant")).toThrow("an ACTIVE tenant cannot become PROVISIONING: retry a FAILED tenant");
    expect(() => assertTransition("DELETED", "ACTIVE")).toThrow("a DELETED tenant cannot become ACTIVE");
  });
});

const pg = await probePostgres();

describe.skipIf(!pg.available)("several service processes on one database", () => {
  it("share the runs, and no run is started twice", async () => {
    const db = await freshDatabase();
    const first = await startService(db.url, { MATIH_RENDER_PACE: "0.001" });
    const second = await startService(db.url, { MATIH_RENDER_PACE: "0.001" });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) {
        const via = i % 2 === 0 ? first : second;
        ids.push((await via.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest(`shared-${i}`) })).json().tenant.id);
      }
      for (const id of ids) expect((await waitForStatus(first.app, id, settled, 120_000)).status).toBe("ACTIVE");
      for (const id of ids) {
        const audit = (await first.app.inject({ method: "GET", url: `/api/v1/tenants/${id}/audit`, headers: auth() })).json().items;
        expect(audit.filter((a: any) => a.entity === "run" && a.to === "RUNNING"), `runs started for ${id}`).toHaveLength(1);
        expect(audit.filter((a: any) => a.entity === "phase" && a.to === "SUCCEEDED")).toHaveLength(PHASE_COUNT);
      }
    } finally {
      await first.close();
      await second.close();
      await db.drop();
    }
  }, 180_000);
});

describe.skipIf(!pg.available)("a service process that shuts down mid-run", () => {
  it("hands the run back at a safe point, and another process finishes it", async () => {
    const db = await freshDatabase();
    const leaving = await startService(db.url, { MATIH_RENDER_PACE: "0.02" });
    let staying: Awaited<ReturnType<typeof startService>> | undefined;
    try {
      const tenant = (await leaving.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("handback") })).json().tenant;
      await waitForStatus(leaving.app, tenant.id, (s) => s.phases.some((p: any) => p.status === "RUNNING"), 60_000);
      // The grace period (5 s in tests) runs out before the run would finish; the run is stopped and handed back.
      await leaving.close();
      staying = await startService(db.url);
      const final = await waitForStatus(staying.app, tenant.id, settled, 120_000);
      expect(final.status).toBe("ACTIVE");
      const audit = (await staying.app.inject({ method: "GET", url: `/api/v1/tenants/${tenant.id}/audit`, headers: auth() })).json().items;
      expect(audit.some((a: any) => a.entity === "run" && /interrupted by shutdown/.test(a.message))).toBe(true);
      expect(audit.filter((a: any) => a.entity === "tenant").map((a: any) => a.to)).toEqual(["PROVISIONING", "ACTIVE"]);
    } finally {
      await staying?.close();
      await db.drop();
    }
  }, 180_000);
});
