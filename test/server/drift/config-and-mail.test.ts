/**
 * The parts of drift detection that need no running service: configuration
 * and the operators' mails.
 */
import { describe, expect, it } from "vitest";
import { loadServiceConfig, ServiceConfigError } from "../../../server/config.ts";
import { renderMail } from "../../../server/outbox/mail-templates.ts";

const base = { MATIH_ADMIN_TOKEN: "a-long-enough-admin-token-Xc4Vb8Nm2Kq6Wz" };

describe("drift configuration", () => {
  it("checks hourly, four tenants at a time, keeps 90 days and mails nobody by default", () => {
    expect(loadServiceConfig(base).drift).toEqual({ schedule: "0 * * * *", concurrency: 4, retrySeconds: 60, maxSkips: 10, retentionDays: 90, opsEmail: null, scheduleCheckSeconds: 30 });
  });

  it("turns the schedule off with `off` and takes a cron expression of five or six fields", () => {
    expect(loadServiceConfig({ ...base, MATIH_DRIFT_SCHEDULE: "off" }).drift.schedule).toBeNull();
    expect(loadServiceConfig({ ...base, MATIH_DRIFT_SCHEDULE: "OFF" }).drift.schedule).toBeNull();
    expect(loadServiceConfig({ ...base, MATIH_DRIFT_SCHEDULE: " 15  */6 * * * " }).drift.schedule).toBe("15 */6 * * *");
    expect(loadServiceConfig({ ...base, MATIH_DRIFT_SCHEDULE: "0 0 * * * *" }).drift.schedule).toBe("0 0 * * * *");
  });

  it("names every bad drift variable at once", () => {
    try {
      loadServiceConfig({ ...base, MATIH_DRIFT_SCHEDULE: "hourly", MATIH_DRIFT_CONCURRENCY: "0", MATIH_DRIFT_RETENTION_DAYS: "forever", MATIH_OPS_EMAIL: "ops at example", MATIH_SCHEDULE_CHECK_SECONDS: "60" });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ServiceConfigError);
      const problems = (error as ServiceConfigError).problems;
      expect(problems).toContain('MATIH_DRIFT_SCHEDULE must be a cron expression of 5 fields (or 6 with seconds), such as "0 * * * *", or off; got "hourly"');
      expect(problems).toContain('MATIH_DRIFT_CONCURRENCY must be a whole number from 1 to 64, got "0"');
      expect(problems).toContain('MATIH_DRIFT_RETENTION_DAYS must be a whole number from 1 to 3650, got "forever"');
      expect(problems).toContain('MATIH_OPS_EMAIL must be an address such as ops@example.com, got "ops at example"');
      expect(problems).toContain('MATIH_SCHEDULE_CHECK_SECONDS must be a whole number from 1 to 45, got "60"');
    }
  });
});

describe("the operators' drift mails", () => {
  const payload = {
    to: "ops@matih.example", displayName: "Acme Analytics", tenantId: "550e8400-e29b-41d4-a716-446655440000", slug: "acme", tier: "free", region: "eastus",
    detectedAt: "2026-11-30T04:00:00.000Z",
    resources: [
      { urn: "urn:pulumi:acme::matih-tenants::matih:namespace:TenantNamespace$kubernetes:core/v1:ResourceQuota::namespace-quota", type: "kubernetes:core/v1:ResourceQuota", drift: "changed", properties: ["spec.hard.pods"] },
      { urn: "urn:pulumi:acme::matih-tenants::matih:namespace:TenantNamespace$kubernetes:core/v1:ServiceAccount::namespace-service-account", type: "kubernetes:core/v1:ServiceAccount", drift: "gone", properties: [] },
    ],
  };

  it("says what drifted, where, and where to read the values", () => {
    const mail = renderMail({ type: "drift-detected", payload });
    expect(mail.to).toBe("ops@matih.example");
    expect(mail.subject).toBe("Drift detected: Acme Analytics");
    expect(mail.text).toContain("  - kubernetes:core/v1:ResourceQuota namespace-quota\n      changed: spec.hard.pods\n");
    expect(mail.text).toContain("  - kubernetes:core/v1:ServiceAccount namespace-service-account\n      deleted outside the service\n");
    expect(mail.text).toContain("GET /api/v1/tenants/550e8400-e29b-41d4-a716-446655440000/drift");
  });

  it("says since when a resolved drift lasted", () => {
    const mail = renderMail({ type: "drift-resolved", payload: { ...payload, driftedSince: "2026-11-30T04:00:00.000Z", resolvedAt: "2026-11-30T06:00:00.000Z" } });
    expect(mail.subject).toBe("Drift resolved: Acme Analytics");
    expect(mail.text).toContain("Drifted since: 2026-11-30T04:00:00.000Z\nIn sync at:    2026-11-30T06:00:00.000Z\n");
  });
});
