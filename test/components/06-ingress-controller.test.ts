import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { cloudMocks, placeholderLoadBalancerIp } from "../../stacks/cloud-mocks.ts";
import { DEFAULT_PLATFORM_SETTINGS } from "../../model/settings.ts";
import { TIERS, type Tier } from "../../model/tiers.ts";
import { ingressControllerFullname, ingressControllerServiceName } from "../../components/06-ingress-controller.ts";
import { render, transitiveDependencies, unwrap, type Rendered } from "../support/fixtures.ts";

const RELEASE_TYPE = "kubernetes:helm.sh/v3:Release";
const SERVICE_TYPE = "kubernetes:core/v1:Service";
const HEALTH_PROBE_ANNOTATION = "service.beta.kubernetes.io/azure-load-balancer-health-probe-request-path";

/** Phase 6 "Helm Values" of the provisioning flow, verbatim. */
const SEED_VALUES = {
  controller: {
    ingressClassResource: { name: "nginx-acme", controllerValue: "k8s.io/ingress-nginx-acme" },
    ingressClass: "nginx-acme",
    replicaCount: 2,
    service: { type: "LoadBalancer", annotations: { [HEALTH_PROBE_ANNOTATION]: "/healthz" } },
    admissionWebhooks: { enabled: false },
    resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "500m", memory: "256Mi" } },
  },
};

interface ControllerValues {
  ingressClassResource: { name: string; controllerValue: string; enabled?: boolean; default?: boolean };
  ingressClass: string;
  replicaCount: number;
  service: unknown;
  admissionWebhooks: unknown;
  resources: unknown;
  scope?: { enabled?: boolean; namespace?: string };
}

function controllerValues(release: { inputs: Record<string, unknown> }): ControllerValues {
  return (release.inputs.values as { controller: ControllerValues }).controller;
}

const renders = new Map<Tier, Promise<Rendered>>();
const rendered = (tier: Tier): Promise<Rendered> => {
  if (!renders.has(tier)) renders.set(tier, render(tier, { lastPhase: 6 }));
  return renders.get(tier)!;
};

describe.each(TIERS)("phase 6 DEPLOY_INGRESS_CONTROLLER, %s tier", (tier) => {
  it("installs the ingress-nginx chart as release ingress-nginx in the tenant namespace, from the settings' repository and version", async () => {
    const r = await rendered(tier);
    const release = r.release("ingress-nginx");
    expect(release.phase).toEqual({ number: 6, name: "DEPLOY_INGRESS_CONTROLLER" });
    expect(release.inputs.chart).toBe("ingress-nginx");
    expect(release.inputs.namespace).toBe("matih-acme");
    expect(release.inputs.repositoryOpts).toEqual({ repo: DEFAULT_PLATFORM_SETTINGS.charts.ingressNginxRepository });
    expect(release.inputs.version).toBe(DEFAULT_PLATFORM_SETTINGS.charts.ingressNginxVersion);
    expect(DEFAULT_PLATFORM_SETTINGS.charts.ingressNginxRepository).toBe("https://kubernetes.github.io/ingress-nginx");
  });

  it("passes the Helm values of the seed exactly", async () => {
    const values = controllerValues((await rendered(tier)).release("ingress-nginx"));
    expect({ controller: values }).toMatchObject(SEED_VALUES);
    // Leaves that the seed spells out in full must not carry anything more.
    expect(values.ingressClass).toBe("nginx-acme");
    expect(values.ingressClassResource.name).toBe("nginx-acme");
    expect(values.ingressClassResource.controllerValue).toBe("k8s.io/ingress-nginx-acme");
    expect(values.replicaCount).toBe(2);
    expect(values.service).toEqual(SEED_VALUES.controller.service);
    expect(values.admissionWebhooks).toEqual({ enabled: false });
    expect(values.resources).toEqual(SEED_VALUES.controller.resources);
  });

  it("creates the tenant's own IngressClass without making it the cluster default", async () => {
    const values = controllerValues((await rendered(tier)).release("ingress-nginx"));
    expect(values.ingressClassResource.enabled).toBe(true);
    // A default class would claim other tenants' Ingresses that name no class.
    expect(values.ingressClassResource.default).toBe(false);
  });

  it("keeps the chart's RBAC in the namespace and grants the controller, cluster-wide, only reading IngressClasses, before the release installs", async () => {
    const r = await rendered(tier);
    const release = r.release("ingress-nginx");
    expect((release.inputs.values as { rbac: unknown }).rbac).toEqual({ create: true, scope: true });
    const role = r.k8s("ClusterRole", "ingress-nginx-acme");
    expect(role.inputs.rules).toEqual([{ apiGroups: ["networking.k8s.io"], resources: ["ingressclasses"], verbs: ["get", "list", "watch"] }]);
    const binding = r.k8s("ClusterRoleBinding", "ingress-nginx-acme");
    expect(binding.inputs.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "ingress-nginx-acme" });
    expect(binding.inputs.subjects).toEqual([{ kind: "ServiceAccount", name: "ingress-nginx-acme", namespace: "matih-acme" }]);
    expect(transitiveDependencies(r.resources, release.urn)).toContain(binding.urn);
  });

  it("scopes the controller to the tenant namespace, so it never serves other tenants' Ingresses", async () => {
    const values = controllerValues((await rendered(tier)).release("ingress-nginx"));
    expect(values.scope).toEqual({ enabled: true, namespace: "matih-acme" });
  });

  it("awaits the release (skipAwait false) for at most the seed's 600 seconds", async () => {
    const release = (await rendered(tier)).release("ingress-nginx");
    expect(release.inputs.skipAwait).toBe(false);
    expect(release.inputs.timeout).toBe(600);
  });

  it("reads the controller Service after the release and exports the load-balancer IP it reports", async () => {
    const r = await rendered(tier);
    const release = r.release("ingress-nginx");
    const reads = r.ofType(SERVICE_TYPE).filter((s) => s.read && s.phase?.number === 6);
    expect(reads).toHaveLength(1);
    const service = reads[0]!;
    expect(service.dependsOn).toContain(release.urn);
    const ip = placeholderLoadBalancerIp("acme");
    expect(ip).toMatch(/^203\.0\.113\.(\d{1,3})$/);
    expect(r.outputs.loadBalancerIp).toBe(ip);
    const component = r.resources.find((x) => x.type === "matih:ingress:IngressController");
    expect(component?.outputs).toEqual({ loadBalancerIp: ip, ingressClassName: "nginx-acme" });
    expect(r.outputs.ingressClassName).toBe("nginx-acme");
  });

  it("starts only after every phase 5 release", async () => {
    const r = await rendered(tier);
    const release = r.release("ingress-nginx");
    const phase5 = r.ofType(RELEASE_TYPE).filter((x) => x.phase?.number === 5);
    expect(phase5.length).toBeGreaterThan(0);
    const deps = transitiveDependencies(r.resources, release.urn);
    for (const p of phase5) expect(deps).toContain(p.urn);
  });

  it("declares nothing beyond phase 6 when rendered with lastPhase 6", async () => {
    const r = await rendered(tier);
    expect(r.resources.every((x) => x.phase === null || x.phase.number <= 6)).toBe(true);
  });
});

describe("tenant-unique names of the chart's objects", () => {
  it("names the chart's objects ingress-nginx-{slug} (fullnameOverride), so tenant ClusterRoles never collide", async () => {
    const values = (await rendered("free")).release("ingress-nginx").inputs.values as { fullnameOverride?: string };
    expect(values.fullnameOverride).toBe("ingress-nginx-acme");
    expect(ingressControllerFullname("acme")).toBe("ingress-nginx-acme");
    expect(ingressControllerServiceName("acme")).toBe("ingress-nginx-acme-controller");
  });

  it("keeps long slugs apart with a hash and never lets the chart cut a name past 63 characters", () => {
    const a = "northwind-traders-international-holdings-analytics-aa1";
    const b = "northwind-traders-international-holdings-analytics-bb2";
    expect(a).toHaveLength(54);
    expect(ingressControllerFullname(a)).not.toBe(ingressControllerFullname(b));
    for (const slug of [a, b]) {
      expect(ingressControllerFullname(slug).length).toBeLessThanOrEqual(48);
      expect(`${ingressControllerFullname(slug)}-defaultbackend`.length).toBeLessThanOrEqual(63);
      expect(ingressControllerFullname(slug)).toMatch(/^ingress-nginx-northwind-traders-interna-[0-9a-f]{8}$/);
    }
    // Up to 34 characters the plain name fits.
    expect(ingressControllerFullname("a".repeat(34))).toBe(`ingress-nginx-${"a".repeat(34)}`);
  });
});

describe("ingress-nginx chart settings", () => {
  it("takes the chart repository and version from the platform settings", async () => {
    const r = await render("professional", {
      lastPhase: 6,
      settings: { charts: { ingressNginxRepository: "https://mirror.example.com/ingress-nginx", ingressNginxVersion: "4.11.3" } },
    });
    const release = r.release("ingress-nginx");
    expect(release.inputs.repositoryOpts).toEqual({ repo: "https://mirror.example.com/ingress-nginx" });
    expect(release.inputs.version).toBe("4.11.3");
  });
});

describe("an IngressController built directly", () => {
  const ANSWERED_IP = "198.51.100.7";
  const serviceReads: string[] = [];
  let IngressController: typeof import("../../components/06-ingress-controller.ts").IngressController;
  const args = {
    slug: "acme",
    namespace: "matih-acme",
    chartRepository: "https://kubernetes.github.io/ingress-nginx",
    chartVersion: "4.12.1",
  };

  beforeAll(async () => {
    const base = cloudMocks({ slug: "acme" });
    await pulumi.runtime.setMocks({
      call: (a) => base.call(a),
      newResource(a) {
        if (a.type === SERVICE_TYPE && a.id) {
          serviceReads.push(a.id);
          return { id: a.id, state: { status: { loadBalancer: { ingress: [{ ip: ANSWERED_IP }] } } } };
        }
        return base.newResource(a);
      },
    }, "matih-tenants", "acme", false);
    ({ IngressController } = await import("../../components/06-ingress-controller.ts"));
  });

  it("refuses loadBalancerWaitSeconds of 601 with the exact message", () => {
    expect(() => new IngressController("too-long", { ...args, loadBalancerWaitSeconds: 601 }))
      .toThrow(new Error("IngressController: loadBalancerWaitSeconds must be a whole number from 1 to 600, got 601"));
  });

  it("accepts 600 seconds and waits that long for the release", async () => {
    const controller = new IngressController("at-limit", { ...args, loadBalancerWaitSeconds: 600 });
    expect(await unwrap(controller.release.timeout)).toBe(600);
    expect(await unwrap(controller.release.skipAwait)).toBe(false);
  });

  it("waits a shorter time when asked to", async () => {
    const controller = new IngressController("short-wait", { ...args, loadBalancerWaitSeconds: 120 });
    expect(await unwrap(controller.release.timeout)).toBe(120);
  });

  it("takes the load-balancer IP from a read of Service ingress-nginx-acme-controller (the chart's name for it) in the tenant namespace", async () => {
    const controller = new IngressController("reads-service", args);
    expect(await unwrap(controller.loadBalancerIp)).toBe(ANSWERED_IP);
    expect(await unwrap(controller.ingressClassName)).toBe("nginx-acme");
    expect(serviceReads).toContain("matih-acme/ingress-nginx-acme-controller");
    expect(serviceReads).not.toContain("matih-acme/ingress-nginx-controller");
  });
});
