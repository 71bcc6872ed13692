import { describe, expect, it } from "vitest";
import { probePostgres } from "../support/postgres.ts";
import { auth, settled, tenantRequest, waitForStatus, withService, type TestService } from "../support/service.ts";
import { PHASE_COUNT } from "../../model/phases.ts";

const pg = await probePostgres();
const NO_IP = "no external IP assigned to ingress-nginx-controller within 600s";

function withFaults(faults: object, env: Record<string, string>, body: (service: TestService) => Promise<void>): Promise<void> {
  return withService({ MATIH_RENDER_FAULTS: JSON.stringify(faults), ...env }, body);
}

const audit = async (service: TestService, id: string) => (await service.app.inject({ method: "GET", url: `/api/v1/tenants/${id}/audit`, headers: auth() })).json().items;

describe.skipIf(!pg.available)("failures and retries", () => {
  it("retries a phase 6 that fails twice and ends ACTIVE, showing the attempts", async () => {
    await withFaults({ 6: { failTimes: 2, message: NO_IP } }, {}, async (service) => {
      const tenant = (await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("flaky") })).json().tenant;
      const status = await waitForStatus(service.app, tenant.id, settled);
      expect(status.status).toBe("ACTIVE");
      expect(status.run).toMatchObject({ kind: "provision", status: "SUCCEEDED", attempt: 3 });
      const phase6 = status.phases[5];
      expect(phase6).toMatchObject({ number: 6, status: "SUCCEEDED", attempts: 3, error: null });
      // Phases before the failure ran once: a retry continues where the failure was.
      expect(status.phases.slice(0, 5).map((p: any) => p.attempts)).toEqual([1, 1, 1, 1, 1]);
      expect(status.phases.slice(6).map((p: any) => p.attempts)).toEqual([1, 1, 1, 1]);
      const rows = await audit(service, tenant.id);
      const failures = rows.filter((a: any) => a.entity === "phase" && a.phase === 6 && a.to === "FAILED");
      expect(failures).toHaveLength(2);
      expect(failures[0].message).toContain(NO_IP);
      expect(rows.filter((a: any) => a.entity === "run" && a.to === "QUEUED" && /failed; retrying/.test(a.message))).toHaveLength(2);
    });
  });

  it("fails the tenant after the last attempt with the error, and a retry then succeeds from phase 6", async () => {
    await withFaults({ 6: { failTimes: 3, message: NO_IP } }, {}, async (service) => {
      const tenant = (await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("doomed", "professional") })).json().tenant;
      const failed = await waitForStatus(service.app, tenant.id, settled);
      expect(failed.status).toBe("FAILED");
      expect(failed.error).toContain(NO_IP);
      expect(failed.error).toContain("DEPLOY_INGRESS_CONTROLLER");
      expect(failed.run).toMatchObject({ status: "FAILED", attempt: 3 });
      expect(failed.phases[5]).toMatchObject({ status: "FAILED", attempts: 3 });
      expect(failed.phases.slice(6).every((p: any) => p.status === "PENDING")).toBe(true);
      const tenantRow = (await service.app.inject({ method: "GET", url: `/api/v1/tenants/${tenant.id}`, headers: auth() })).json();
      expect(tenantRow.provisioningError).toContain(NO_IP);

      const retry = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/provisioning/retry`, headers: auth() });
      expect(retry.statusCode).toBe(202);
      expect(retry.json()).toMatchObject({ tenant: { status: "PROVISIONING" }, run: { kind: "retry" } });
      const done = await waitForStatus(service.app, tenant.id, (s) => settled(s) && s.run.kind === "retry");
      expect(done.status).toBe("ACTIVE");
      expect(done.error).toBeNull();
      // The five phases that had succeeded were carried over, not run again.
      expect(done.phases.slice(0, 5).map((p: any) => p.attempts)).toEqual([1, 1, 1, 1, 1]);
      expect(done.phases[5]).toMatchObject({ status: "SUCCEEDED", attempts: 1 });
      const rows = await audit(service, tenant.id);
      expect(rows.filter((a: any) => a.entity === "tenant").map((a: any) => a.to)).toEqual(["PROVISIONING", "FAILED", "PROVISIONING", "ACTIVE"]);
    });
  });

  it("rolls a FAILED tenant back to the end of a phase, removing the later phases", async () => {
    await withFaults({ 6: { failTimes: 1, message: NO_IP } }, { MATIH_MAX_ATTEMPTS: "1" }, async (service) => {
      const tenant = (await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("rewind") })).json().tenant;
      await waitForStatus(service.app, tenant.id, (s) => settled(s) && s.status === "FAILED");
      const bad = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/rollback`, headers: auth(), payload: { targetPhase: PHASE_COUNT } });
      expect(bad.statusCode).toBe(400);
      const res = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/rollback`, headers: auth(), payload: { targetPhase: 3 } });
      expect(res.statusCode).toBe(202);
      const status = await waitForStatus(service.app, tenant.id, (s) => settled(s) && s.run.kind === "rollback");
      expect(status.status).toBe("FAILED");
      expect(status.error).toMatch(/rolled back to the end of phase 3/);
      expect(status.phases.slice(0, 3).every((p: any) => p.status === "SUCCEEDED")).toBe(true);
      expect(status.phases.slice(3, 6).map((p: any) => p.status)).toEqual(["ROLLED_BACK", "ROLLED_BACK", "ROLLED_BACK"]);
      expect(status.phases.slice(6).every((p: any) => p.status === "PENDING")).toBe(true);
      const rows = await audit(service, tenant.id);
      const removed = rows.filter((a: any) => a.entity === "phase" && a.to === "ROLLED_BACK").map((a: any) => a.phase);
      // The failed phase 6 had partly applied; it goes first, then 5 and 4, in reverse order.
      expect(removed).toEqual([6, 5, 4]);
    });
  });

  it("destroys what a finally failed run left when the rollback policy says destroy", async () => {
    await withFaults({ 6: { failTimes: 1, message: NO_IP } }, { MATIH_MAX_ATTEMPTS: "1", MATIH_ROLLBACK_POLICY: "destroy" }, async (service) => {
      const tenant = (await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("cleanup") })).json().tenant;
      const status = await waitForStatus(service.app, tenant.id, (s) => settled(s) && s.status === "FAILED" && s.phases[0].status === "ROLLED_BACK", 60_000);
      expect(status.phases.slice(0, 5).every((p: any) => p.status === "ROLLED_BACK")).toBe(true);
      const rows = await audit(service, tenant.id);
      expect(rows.some((a: any) => a.actor === "rollback-policy" && /resources were removed/.test(a.message))).toBe(true);
      // Nothing is left to check: the stack itself is gone.
      const drift = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/drift-check`, headers: auth() });
      expect(drift.statusCode).toBe(404);
      expect(drift.json().code).toBe("stack_not_found");
    });
  });
});
