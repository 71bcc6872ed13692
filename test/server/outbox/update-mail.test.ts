import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probePostgres } from "../../support/postgres.ts";
import { auth, eventually, freshDatabase, SmtpSink, startService, tenantRequest, waitForTenant, type TestDatabase, type TestService } from "./helpers.ts";

const postgres = await probePostgres();

describe.skipIf(!postgres.available)("the mails after an applied change, through a real SMTP server", () => {
  const sink = new SmtpSink();
  let db: TestDatabase;
  let service: TestService;

  beforeAll(async () => {
    db = await freshDatabase();
    await sink.start();
    service = await startService(db.url, { SMTP_URL: sink.url, MAIL_FROM: "Matih <no-reply@matih.ai>", MATIH_OPS_EMAIL: "ops@matih.example" });
  });
  afterAll(async () => {
    await service?.close();
    await sink.close();
    await db?.drop();
  });

  it("tells the tenant's admin the tier, quota and addresses, and the operators the resources by name and type", async () => {
    const app = service.app;
    const created = await app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth, payload: tenantRequest("mailup") });
    expect(created.statusCode, created.body).toBe(202);
    const id = created.json().tenant.id;
    await waitForTenant(app, id, (t) => t.status === "ACTIVE");
    const requested = await app.inject({ method: "POST", url: `/api/v1/tenants/${id}/changes`, headers: auth, payload: { tier: "professional", reason: "more users" } });
    expect(requested.statusCode, requested.body).toBe(202);
    const changeId = requested.json().id;
    await eventually("the preview", async () => (await app.inject({ method: "GET", url: `/api/v1/tenants/${id}/changes/${changeId}`, headers: auth })).json().status === "PENDING_REVIEW");
    const approved = await app.inject({ method: "POST", url: `/api/v1/tenants/${id}/changes/${changeId}/approve`, headers: auth, payload: {} });
    expect(approved.statusCode, approved.body).toBe(202);
    await waitForTenant(app, id, (t) => t.status === "ACTIVE" && t.tier === "professional");

    const byTemplate = (template: string) => sink.mails.find((m) => m.header("x-matih-template") === template);
    const { tenantMail, opsMail } = await eventually("both mails", async () => {
      const [tenant, ops] = [byTemplate("update-completed"), byTemplate("update-applied-operators")];
      return tenant && ops ? { tenantMail: tenant, opsMail: ops } : undefined;
    });

    expect(tenantMail.to).toEqual(["admin@mailup.example"]);
    expect(tenantMail.text).toContain("Tier:     free -> professional");
    expect(tenantMail.text).toContain("Quota:    up to 16 CPU, 32Gi memory, 50 pods (was up to 4 CPU, 8Gi memory, 20 pods)");
    expect(tenantMail.text).toContain("Reason:   more users");
    expect(tenantMail.text).toContain("You can reach your tenant here:\n  API:\n    https://mailup.matih.ai/api\n  BI / dashboards:\n    https://bi.mailup.matih.ai\n");
    // No platform object by name or type: those are the operators' business.
    expect(tenantMail.text).not.toMatch(/kubernetes:|ResourceQuota|Deployment|database-pool|\[.*:.*\]/);

    expect(opsMail.to).toEqual(["ops@matih.example"]);
    expect(opsMail.text).toMatch(/changed: .*ResourceQuota.*spec\.hard\.pods/);
    expect(opsMail.text).toContain("added: database-pool [kubernetes:apps/v1:Deployment]");
    expect(opsMail.text).toContain(`Change:   GET /api/v1/tenants/${id}/changes/${changeId}`);
  });
});
