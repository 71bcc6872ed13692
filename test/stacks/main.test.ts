import * as pulumi from "@pulumi/pulumi";
import { beforeEach, describe, expect, it } from "vitest";
import { cloudMocks } from "../../stacks/cloud-mocks.ts";
import { ValidationError } from "../../model/spec.ts";
import { TENANT_ID } from "../support/acme.ts";

const registered: string[] = [];
const base = cloudMocks({ slug: "acme" });
await pulumi.runtime.setMocks({
  call: base.call,
  newResource(args) {
    registered.push(args.type);
    return base.newResource(args);
  },
}, "matih-tenants", "acme", false);
const { default: program } = await import("../../stacks/main.ts");

const tenant = { id: TENANT_ID, slug: "acme", displayName: "Acme", tier: "free", region: "eastus", adminEmail: "admin@acme.example", requestedBy: "ops@matih.ai", requestedAt: "2026-02-12T10:00:00Z" };

function configure(values: Record<string, unknown>): void {
  pulumi.runtime.setAllConfig(Object.fromEntries(Object.entries(values).map(([k, v]) => [`matih-tenants:${k}`, typeof v === "string" ? v : JSON.stringify(v)])));
}

describe("the CLI entry point (Pulumi.yaml main)", () => {
  beforeEach(() => {
    registered.length = 0;
  });

  it("creates nothing for an invalid tenant spec and names every bad field", async () => {
    configure({ tenant: { ...tenant, slug: "Kube-System", tier: "gold" } });
    const err = await program().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).problems.map((p) => p.field)).toEqual(expect.arrayContaining(["slug", "tier"]));
    await new Promise((r) => setTimeout(r, 50));
    expect(registered).toEqual([]);
  });

  it("creates nothing for invalid platform settings", async () => {
    configure({ tenant, platform: { postgres: { port: "5432" } } });
    await expect(program()).rejects.toThrow(/postgres\.port/);
    expect(registered).toEqual([]);
  });

  it("reads the tenant, platform overrides and last phase from stack config", async () => {
    configure({ tenant, platform: { baseDomain: "tenants.example.com", dns: { parentZoneName: "example.com" } }, lastPhase: "1" });
    const outputs = await program();
    expect(outputs.lastPhase).toBe(1);
    expect(outputs.slug).toBe("acme");
    expect(outputs.zoneName).toBeUndefined();
  });
});
