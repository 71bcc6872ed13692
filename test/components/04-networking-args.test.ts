/**
 * Phase 4's component refuses, before declaring anything, the arguments that
 * would leave a tenant without its database, its DNS or a working check: each
 * with its exact message.
 */
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { cloudMocks } from "../../stacks/cloud-mocks.ts";
import type { NetworkIsolationArgs } from "../../components/04-networking.ts";

await pulumi.runtime.setMocks(cloudMocks({ slug: "acme" }), "matih-tenants", "acme", false);
const { NetworkIsolation } = await import("../../components/04-networking.ts");

const args = (overrides: Partial<NetworkIsolationArgs> = {}): NetworkIsolationArgs => ({
  slug: "acme",
  namespace: "matih-acme",
  controlPlaneNamespace: "matih-system",
  databaseCidrs: ["10.20.0.0/24"],
  dns: { namespace: "kube-system", podLabels: { "k8s-app": "kube-dns" } },
  databaseCheck: { image: "postgres:16-alpine", credentialsSecretName: "tenant-database-credentials" },
  ...overrides,
});

describe("NetworkIsolation's arguments", () => {
  it.each([
    [{ databaseCidrs: [] }, "NetworkIsolation: databaseCidrs must name at least one CIDR: without it the tenant cannot reach its database"],
    [{ dns: { namespace: "kube-system", podLabels: {} } }, "NetworkIsolation: dns.podLabels must select the cluster DNS pods"],
    [{ databaseCheck: { image: "", credentialsSecretName: "tenant-database-credentials" } }, "NetworkIsolation: databaseCheck.image must name an image with psql"],
    [{ databaseCheck: { image: "postgres:16-alpine", credentialsSecretName: "Tenant_Credentials" } }, 'NetworkIsolation: databaseCheck.credentialsSecretName must be a Kubernetes Secret name, got "Tenant_Credentials"'],
    [{ databaseCheck: { image: "postgres:16-alpine", credentialsSecretName: "-credentials" } }, 'NetworkIsolation: databaseCheck.credentialsSecretName must be a Kubernetes Secret name, got "-credentials"'],
    // Valid characters at the start do not make the rest valid: the whole name is checked.
    [{ databaseCheck: { image: "postgres:16-alpine", credentialsSecretName: "credentials_v2" } }, 'NetworkIsolation: databaseCheck.credentialsSecretName must be a Kubernetes Secret name, got "credentials_v2"'],
  ])("refuses %j up front", (overrides, message) => {
    expect(() => new NetworkIsolation(`net-bad-${Math.random()}`, args(overrides as Partial<NetworkIsolationArgs>))).toThrow(message);
  });

  it("takes valid arguments, with or without the check", () => {
    expect(() => new NetworkIsolation("net-ok", args())).not.toThrow();
    expect(() => new NetworkIsolation("net-ok-no-check", args({ databaseCheck: undefined }))).not.toThrow();
    expect(() => new NetworkIsolation("net-ok-dotted", args({ databaseCheck: { image: "postgres:16-alpine", credentialsSecretName: "tenant.db-credentials" } }))).not.toThrow();
    // A one-character name is a valid Secret name (RFC 1123 subdomain).
    expect(() => new NetworkIsolation("net-ok-short", args({ databaseCheck: { image: "postgres:16-alpine", credentialsSecretName: "c" } }))).not.toThrow();
  });
});
