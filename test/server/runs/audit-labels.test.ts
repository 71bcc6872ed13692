import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probePostgres } from "../../support/postgres.ts";
import { auth, freshDatabase, settled, startService, tenantRequest, waitForStatus, type TestService } from "../../support/service.ts";

const pg = await probePostgres();

describe.skipIf(!pg.available)("audit rows of a change's preview", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let service: TestService;
  beforeAll(async () => {
    db = await freshDatabase();
    service = await startService(db.url);
  });
  afterAll(async () => {
    await service?.close();
    await db?.drop();
  });

  it("label the preview's phase rows as a preview (message and action), unlike the phases an apply runs", async () => {
    const tenant = (await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("labels", "free", { lastPhase: 3 }) })).json().tenant;
    await waitForStatus(service.app, tenant.id, settled);
    const requested = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/changes`, headers: auth(), payload: { lastPhase: 4 } });
    expect(requested.statusCode, requested.body).toBe(202);
    const changeId = requested.json().id;
    for (let i = 0; i < 400; i++) {
      const change = (await service.app.inject({ method: "GET", url: `/api/v1/tenants/${tenant.id}/changes/${changeId}`, headers: auth() })).json();
      if (change.status !== "PREVIEWING") break;
      await new Promise((r) => setTimeout(r, 150));
    }
    const rows: any[] = (await service.app.inject({ method: "GET", url: `/api/v1/tenants/${tenant.id}/audit?limit=1000`, headers: auth() })).json().items;
    const previewRun = rows.find((r) => r.entity === "run" && r.message === `preview of change ${changeId} queued`)?.runId;
    expect(previewRun).toBeTruthy();
    const previewPhases = rows.filter((r) => r.entity === "phase" && r.runId === previewRun);
    expect(previewPhases.length).toBeGreaterThan(0);
    for (const row of previewPhases) {
      expect(row.message).toMatch(/^preview of phase \d+ [A-Z_]+ (started|succeeded)$/);
      expect(row.details.action).toBe("preview");
    }
    // The provisioning run's own phases are the changes it made.
    const applied = rows.filter((r) => r.entity === "phase" && r.runId !== previewRun);
    expect(applied.map((r) => r.message)).toContain("phase 1 CREATE_NAMESPACE succeeded");
    expect(applied.every((r) => r.details.action === "apply")).toBe(true);
  });
});
