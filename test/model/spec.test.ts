import { describe, expect, it } from "vitest";
import { resolvePlatformSettings } from "../../model/settings.ts";
import { namespaceName, postgresIdentifier, SLUG_MAX_LENGTH, validateTenantSpec, ValidationError, type ValidationProblem } from "../../model/spec.ts";
import { TENANT_ID } from "../support/acme.ts";

const valid = {
  id: TENANT_ID,
  slug: "acme",
  displayName: "Acme Corp",
  tier: "professional",
  region: "eastus",
  adminEmail: "admin@acme.example",
  requestedBy: "admin@matih.ai",
  requestedAt: "2026-02-12T10:00:00Z",
};

function problemsOf(input: unknown, baseDomain = "matih.ai"): ValidationProblem[] {
  try {
    validateTenantSpec(input, { baseDomain });
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return [...(err as ValidationError).problems];
  }
  return [];
}

describe("tenant spec validation", () => {
  it("accepts the seed's example tenant and normalises the timestamp", () => {
    const spec = validateTenantSpec({ ...valid, requestedAt: "2026-02-12T10:00:00.000Z" }, { baseDomain: "matih.ai" });
    expect(spec.requestedAt).toBe("2026-02-12T10:00:00Z");
    expect(namespaceName(spec.slug)).toBe("matih-acme");
  });

  it("reports every invalid field at once, each naming its field", () => {
    const problems = problemsOf({ id: "nope", slug: "Bad_Slug", displayName: "", tier: "gold", region: "mars", adminEmail: "x", requestedBy: "", requestedAt: "yesterday" });
    expect(new Set(problems.map((p) => p.field))).toEqual(new Set(["id", "slug", "displayName", "tier", "region", "adminEmail", "requestedBy", "requestedAt"]));
  });

  it.each([
    ["uppercase letters", "Acme", /lowercase letters/],
    ["a leading digit", "1acme", /start with a letter/],
    ["a trailing hyphen", "acme-", /starting and ending/],
    ["consecutive hyphens", "ac--me", /consecutive hyphens/],
    ["an underscore", "ac_me", /lowercase letters/],
    ["a dot", "ac.me", /lowercase letters/],
    ["too few characters", "ab", /3 to/],
    ["a reserved name", "admin", /reserved/],
    ["a Kubernetes system prefix", "kube-foo", /reserved/],
    ["the platform prefix", "matihx", /reserved/],
    ["the shape of a UUID (another tenant's id)", "b3a1c0de-5f6e-4d2c-9a8b-0123456789ab", /must not look like a UUID/],
    ["the shape of a UUID of no known version", "deadbeef-0000-0000-0000-000000000000", /must not look like a UUID/],
  ])("refuses a slug with %s", (_what, slug, message) => {
    const problems = problemsOf({ ...valid, slug });
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.every((p) => p.field === "slug")).toBe(true);
    expect(problems.map((p) => p.message).join(" | ")).toMatch(message);
  });

  it("keeps the namespace within 63 characters at the longest allowed slug", () => {
    const longest = `a${"b".repeat(SLUG_MAX_LENGTH - 1)}`;
    expect(problemsOf({ ...valid, slug: longest })).toEqual([]);
    expect(namespaceName(longest).length).toBeLessThanOrEqual(63);
    expect(Buffer.byteLength(postgresIdentifier(longest))).toBeLessThanOrEqual(63);
    expect(`matih-${longest}-pg`.length).toBeLessThanOrEqual(63);
    expect(problemsOf({ ...valid, slug: `${longest}c` }).map((p) => p.field)).toEqual(["slug"]);
  });

  it("maps hyphens to underscores for the PostgreSQL identifier", () => {
    expect(postgresIdentifier("acme-eu-1")).toBe("tenant_acme_eu_1");
  });

  it("refuses a slug whose host names would exceed 253 characters under a long base domain", () => {
    const label = "d".repeat(50);
    const baseDomain = [label, label, label, label, "example.com"].join(".");
    const problems = problemsOf({ ...valid, slug: "a".repeat(54) }, baseDomain);
    expect(problems.map((p) => p.message).join()).toMatch(/253/);
  });

  it.each([
    ["a line break", "Acme\r\nYour password expired, log in at https://evil.example"],
    ["a tab", "Acme\tCorp"],
    ["a NUL character", "Acme\u0000"],
    ["a right-to-left override", "Acme \u202Egnp.exe"],
    ["a Unicode line separator", "Acme\u2028Corp"],
  ])("refuses a display name with %s: one line of printable text only", (_what, displayName) => {
    const problems = problemsOf({ ...valid, displayName });
    expect(problems).toEqual([{ field: "displayName", message: "must be one line of printable text (no line breaks, control or direction-override characters)" }]);
  });

  it("accepts a display name with accents, CJK and an emoji", () => {
    expect(problemsOf({ ...valid, displayName: "Café Zürich 東京 🚀" })).toEqual([]);
  });

  it("refuses a region outside the allowed list even if Azure has it", () => {
    expect(() => validateTenantSpec({ ...valid, region: "westeurope" }, { baseDomain: "matih.ai", allowedRegions: ["eastus"] })).toThrow(/region/);
  });

  it("refuses something that is not an object", () => {
    expect(problemsOf(["acme"])).toEqual([{ field: "(spec)", message: "must be an object" }]);
  });
});

describe("platform settings", () => {
  it("defaults the base domain to matih.ai and the parent zone to the base domain", () => {
    const s = resolvePlatformSettings();
    expect(s.baseDomain).toBe("matih.ai");
    expect(s.dns.parentZoneName).toBe("matih.ai");
    expect(resolvePlatformSettings({ baseDomain: "tenants.example.com" }).dns.parentZoneName).toBe("tenants.example.com");
  });

  it("merges nested overrides and keeps the other defaults", () => {
    const s = resolvePlatformSettings({ postgres: { host: "pg.internal" }, images: { tags: { "ai-service": "1.2.3" } } });
    expect(s.postgres.host).toBe("pg.internal");
    expect(s.postgres.port).toBe(5432);
    expect(s.images.tags).toEqual({ "ai-service": "1.2.3" });
    expect(s.images.registry).toBe("matih.azurecr.io");
  });

  it("reports unknown keys and bad values together with their dotted paths", () => {
    try {
      resolvePlatformSettings({ postgres: { hots: "x", port: 70000 }, kubernetes: { apiServerCidrs: ["10.0.0.1"] }, baseDomain: "not a domain" } as never);
      expect.unreachable();
    } catch (err) {
      const fields = (err as ValidationError).problems.map((p) => p.field);
      expect(fields).toEqual(expect.arrayContaining(["postgres.hots", "postgres.port", "kubernetes.apiServerCidrs", "baseDomain"]));
      expect((err as ValidationError).subject).toBe("platform settings");
    }
  });

  it("takes the Slack webhook only as a reference to a Secret, never as a URL", () => {
    expect(() => resolvePlatformSettings({ alerts: { slackWebhookSecret: "https://hooks.slack.com/services/x" } } as never)).toThrow(/never goes in settings/);
    const s = resolvePlatformSettings({ alerts: { slackWebhookSecret: { namespace: "matih-control-plane", name: "alert-webhooks", key: "slack" } } });
    expect(s.alerts.slackWebhookSecret).toEqual({ namespace: "matih-control-plane", name: "alert-webhooks", key: "slack" });
  });

  it("refuses a parent zone that does not contain the base domain", () => {
    expect(() => resolvePlatformSettings({ baseDomain: "matih.ai", dns: { parentZoneName: "example.com" } })).toThrow(/dns.parentZoneName/);
  });
});
