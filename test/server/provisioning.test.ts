import { describe, expect, it } from "vitest";
import { PHASES } from "../../model/phases.ts";
import { probePostgres } from "../support/postgres.ts";
import { auth, READ_TOKEN, settled, tenantRequest, useService, waitForStatus } from "../support/service.ts";

const pg = await probePostgres();

describe.skipIf(!pg.available)("provisioning through the API on real Postgres", () => {
  const service = useService();

  it.each(["free", "professional", "enterprise"])("brings a %s tenant to ACTIVE with every phase SUCCEEDED in order and matching audit rows", async (tier) => {
    const slug = `acme-${tier.slice(0, 4)}`;
    const created = await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest(slug, tier) });
    expect(created.statusCode).toBe(202);
    const { tenant, run } = created.json();
    // The same answer as every other queued run: the tenant, its run, and the status to watch.
    expect(created.headers.location).toBe(`/api/v1/tenants/${tenant.id}/provisioning/status`);
    expect(tenant).toMatchObject({ slug, tier, status: "PROVISIONING", requestedBy: "admin" });
    expect(run).toMatchObject({ kind: "provision", status: "QUEUED", targetPhase: 10 });

    const status = await waitForStatus(service.app, tenant.id, settled);
    expect(status.status).toBe("ACTIVE");
    expect(status.progress).toBe(100);
    expect(status.phases.map((p: any) => [p.number, p.name, p.status])).toEqual(PHASES.map((p) => [p.number, p.name, "SUCCEEDED"]));
    expect(status.phases.every((p: any) => p.attempts === 1 && p.startedAt && p.completedAt)).toBe(true);
    expect(status.completedAt).not.toBeNull();
    expect(status.error).toBeNull();

    const audit = (await service.app.inject({ method: "GET", url: `/api/v1/tenants/${slug}/audit`, headers: auth() })).json().items;
    const phaseRows = audit.filter((a: any) => a.entity === "phase").map((a: any) => [a.phase, a.from, a.to]);
    expect(phaseRows).toEqual(PHASES.flatMap((p) => [[p.number, "PENDING", "RUNNING"], [p.number, "RUNNING", "SUCCEEDED"]]));
    const tenantRows = audit.filter((a: any) => a.entity === "tenant").map((a: any) => [a.from, a.to]);
    expect(tenantRows).toEqual([[null, "PROVISIONING"], ["PROVISIONING", "ACTIVE"]]);

    const fetched = (await service.app.inject({ method: "GET", url: `/api/v1/tenants/${slug}`, headers: auth() })).json();
    expect(fetched.status).toBe("ACTIVE");
    expect(fetched.outputs).toMatchObject({ namespace: `matih-${slug}`, urls: { api: `https://${slug}.matih.ai/api`, bi: `https://bi.${slug}.matih.ai` } });
    expect(JSON.stringify(fetched)).not.toMatch(/render-[0-9a-f]{8}/);
  });

  it("tears a tenant down to DELETED, undoing the phases in reverse order", async () => {
    const tenant = (await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("gone") })).json().tenant;
    await waitForStatus(service.app, tenant.id, settled);
    const deleted = await service.app.inject({ method: "DELETE", url: `/api/v1/tenants/${tenant.id}?confirm=gone`, headers: auth() });
    expect(deleted.statusCode).toBe(202);
    expect(deleted.json().tenant.status).toBe("DEPROVISIONING");
    const status = await waitForStatus(service.app, tenant.id, (s) => s.status === "DELETED");
    expect(status.phases.every((p: any) => p.status === "ROLLED_BACK")).toBe(true);
    const audit = (await service.app.inject({ method: "GET", url: `/api/v1/tenants/${tenant.id}/audit`, headers: auth() })).json().items;
    const removals = audit.filter((a: any) => a.entity === "phase" && a.to === "ROLLED_BACK").map((a: any) => a.phase);
    expect(removals).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    expect(audit.filter((a: any) => a.entity === "tenant").map((a: any) => a.to)).toEqual(["PROVISIONING", "ACTIVE", "DEPROVISIONING", "DELETED"]);
    // The slug is free again; until it is reused, it finds the deleted tenant.
    expect((await service.app.inject({ method: "GET", url: "/api/v1/tenants/gone", headers: auth() })).json()).toMatchObject({ id: tenant.id, status: "DELETED" });
    expect((await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("gone") })).statusCode).toBe(202);
  });

  it("refuses transitions the lifecycle does not allow with 409", async () => {
    const tenant = (await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("steady") })).json().tenant;
    await waitForStatus(service.app, tenant.id, settled);
    const retry = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/provisioning/retry`, headers: auth() });
    expect(retry.statusCode).toBe(409);
    expect(retry.json()).toMatchObject({ code: "invalid_transition" });
    const rollback = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/rollback`, headers: auth(), payload: { targetPhase: 4 } });
    expect(rollback.statusCode).toBe(409);
  });

  it("answers 20 concurrent creates of one slug with exactly one 202", async () => {
    const responses = await Promise.all(Array.from({ length: 20 }, () => service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("race") })));
    const codes = responses.map((r) => r.statusCode).sort();
    expect(codes.filter((c) => c === 202)).toHaveLength(1);
    expect(codes.filter((c) => c === 409)).toHaveLength(19);
    expect(responses.find((r) => r.statusCode === 409)!.json().code).toBe("slug_taken");
    const list = (await service.app.inject({ method: "GET", url: "/api/v1/tenants?limit=200", headers: auth() })).json();
    expect(list.items.filter((t: any) => t.slug === "race")).toHaveLength(1);
  });

  it("replays the first answer for a repeated Idempotency-Key and refuses the key for another request", async () => {
    const headers = { ...auth(), "idempotency-key": "create-replay-1" };
    const first = await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers, payload: tenantRequest("replay") });
    const second = await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers, payload: tenantRequest("replay") });
    expect(first.statusCode).toBe(202);
    expect(second.statusCode).toBe(202);
    expect(second.json()).toEqual(first.json());
    expect(second.headers["idempotent-replayed"]).toBe("true");
    const other = await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers, payload: tenantRequest("replay-other") });
    expect(other.statusCode).toBe(422);
  });

  it("lists tenants by page and filters by status and tier", async () => {
    const page = (await service.app.inject({ method: "GET", url: "/api/v1/tenants?limit=2&offset=0", headers: auth() })).json();
    expect(page.items).toHaveLength(2);
    expect(page.total).toBeGreaterThan(2);
    const pro = (await service.app.inject({ method: "GET", url: "/api/v1/tenants?tier=professional", headers: auth() })).json();
    expect(pro.items.length).toBeGreaterThan(0);
    expect(pro.items.every((t: any) => t.tier === "professional")).toBe(true);
    const bad = await service.app.inject({ method: "GET", url: "/api/v1/tenants?tier=gold", headers: auth() });
    expect(bad.statusCode).toBe(400);
  });

  it("previews a tier change as quota changes only, and finds no drift on a fresh tenant", async () => {
    const tenant = (await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("preview") })).json().tenant;
    await waitForStatus(service.app, tenant.id, settled);
    const same = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/preview`, headers: auth(), payload: {} });
    expect(same.statusCode).toBe(200);
    expect(same.json().changeSummary).toMatchObject({ create: 0, update: 0, delete: 0, replace: 0 });
    const upgrade = (await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/preview`, headers: auth(), payload: { tier: "professional" } })).json();
    expect(upgrade.changeSummary.update + upgrade.changeSummary.create).toBeGreaterThan(0);
    const quota = upgrade.phases.flatMap((p: any) => p.changes).find((c: any) => c.type === "kubernetes:core/v1:ResourceQuota");
    expect(quota.op).toBe("update");
    expect(quota.changedPaths).toEqual(expect.arrayContaining(["spec.hard.pods"]));
    const drift = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/drift-check`, headers: auth() });
    expect(drift.statusCode).toBe(200);
    expect(drift.json().drifted).toEqual([]);
  });

  it("exposes runs and phase durations as Prometheus metrics", async () => {
    const res = await service.app.inject({ method: "GET", url: "/metrics", headers: auth(READ_TOKEN) });
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatch(/matih_runs_total\{kind="provision",outcome="succeeded"\} [1-9]/);
    expect(res.body).toMatch(/matih_phase_duration_seconds_count\{phase="CREATE_NAMESPACE",outcome="succeeded"\} [1-9]/);
    expect(res.body).toMatch(/matih_queue_depth\{state="queued"\}/);
  });

  it("is ready when the database answers and says the engine changes nothing", async () => {
    const res = await service.app.inject({ method: "GET", url: "/readyz", headers: auth(READ_TOKEN) });
    expect(res.statusCode).toBe(200);
    expect(res.json().checks.engine.detail).toMatch(/no infrastructure is changed/);
    expect((await service.app.inject({ method: "GET", url: "/healthz" })).json()).toEqual({ status: "ok" });
  });

  it("serves the OpenAPI document at /docs", async () => {
    const res = await service.app.inject({ method: "GET", url: "/docs/json" });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/api/v1/tenants", "/api/v1/tenants/{id}/provisioning/status", "/api/v1/tenants/{id}/rollback"]));
  });
});
