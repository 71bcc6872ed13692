import { describe, expect, it } from "vitest";
import { assertReadyForRealRun, realRunProblems, realRunWarnings } from "../../../automation/pulumi/preflight.ts";
import { runOperation } from "../../../automation/core/operation.ts";
import { OperationGate } from "../../../automation/core/operation-gate.ts";
import type { ProgressEvent } from "../../../automation/core/types.ts";
import { acmeSpec } from "../../support/acme.ts";
import { ConfigurationError } from "../../../automation/core/errors.ts";
import { resolvePlatformSettings } from "../../../model/settings.ts";
import { PINNED_IMAGES, realRunSettings } from "../helpers/tenants.ts";

/** Every image pinned but PgBouncer, which keeps its default tag. */
const { pgbouncer: _pgbouncer, ...PINNED_BUT_PGBOUNCER } = PINNED_IMAGES;

const ENV = { MATIH_PG_ADMIN_PASSWORD: "from-the-vault" };

describe("the real-run preflight", () => {
  it("accepts settings that name the cluster, the subscription, the API endpoint, the database network and a pinned PgBouncer", () => {
    expect(realRunProblems(realRunSettings(), ENV)).toEqual([]);
    expect(() => assertReadyForRealRun(realRunSettings(), ENV)).not.toThrow();
  });

  it("refuses a run without the API server's endpoint addresses and says how to read them", () => {
    const settings = resolvePlatformSettings({ ...realRunSettingsOverrides(), kubernetes: { context: "aks-matih-prod" } });
    const problems = realRunProblems(settings, ENV);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^settings\.kubernetes\.apiServerCidrs must list the API server's endpoint addresses/);
    expect(problems[0]).toContain("kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes");
  });

  it("refuses the render placeholders of private database access", () => {
    const settings = resolvePlatformSettings({ ...realRunSettingsOverrides(), azure: { subscriptionId: "11111111-2222-3333-4444-555555555555" } });
    expect(realRunProblems(settings, ENV)).toEqual([
      expect.stringMatching(/^settings\.azure\.databaseSubnetId is the render placeholder/),
      expect.stringMatching(/^settings\.azure\.databasePrivateDnsZoneId is the render placeholder/),
    ]);
  });

  it("accepts public database access with its addresses instead", () => {
    const settings = resolvePlatformSettings({
      ...realRunSettingsOverrides(),
      azure: { subscriptionId: "11111111-2222-3333-4444-555555555555", databaseAccess: "public", clusterEgressIps: ["20.10.0.4"], serviceHostIps: ["52.1.2.3"] },
    });
    expect(realRunProblems(settings, ENV)).toEqual([]);
  });

  it("refuses a PgBouncer image that is not pinned by digest, the default tag included", () => {
    const settings = resolvePlatformSettings({ ...realRunSettingsOverrides(), images: PINNED_BUT_PGBOUNCER });
    expect(settings.images.pgbouncer).toBe("bitnamilegacy/pgbouncer:1.24.1");
    const problems = realRunProblems(settings, ENV);
    expect(problems).toEqual([expect.stringMatching(/^settings\.images\.pgbouncer must be pinned by digest \(image@sha256:\.\.\.\), got "bitnamilegacy\/pgbouncer:1\.24\.1"/)]);
    expect(() => assertReadyForRealRun(settings, ENV)).toThrow(ConfigurationError);
  });

  it("asks for Azure settings only where the run reaches Azure, and for a pinned PgBouncer only where the tier has a pool", () => {
    // The defaults: the placeholder subscription and private-access subnet, PgBouncer by tag.
    const settings = resolvePlatformSettings({ kubernetes: { kubeconfig: "/etc/matih/kubeconfig", apiServerCidrs: ["20.1.2.3/32"] }, images: PINNED_BUT_PGBOUNCER });
    const subscription = expect.stringMatching(/^settings\.azure\.subscriptionId is the render placeholder/);
    const subnet = expect.stringMatching(/^settings\.azure\.databaseSubnetId is the render placeholder/);
    const zone = expect.stringMatching(/^settings\.azure\.databasePrivateDnsZoneId is the render placeholder/);
    const pgbouncer = expect.stringMatching(/^settings\.images\.pgbouncer must be pinned by digest/);
    // Free and professional up to phase 6 touch only the cluster and the shared PostgreSQL server.
    expect(realRunProblems(settings, ENV, { tier: "free", lastPhase: 6 })).toEqual([]);
    expect(realRunProblems(settings, ENV, { tier: "professional", lastPhase: 6 })).toEqual([pgbouncer]);
    // Phase 7 creates the tenant's DNS zone in the subscription.
    expect(realRunProblems(settings, ENV, { tier: "free", lastPhase: 7 })).toEqual([subscription]);
    // Enterprise creates its dedicated server in phase 2.
    expect(realRunProblems(settings, ENV, { tier: "enterprise", lastPhase: 2 })).toEqual([subscription, subnet, zone]);
    // Without a scope, everything.
    expect(realRunProblems(settings, ENV)).toEqual([subscription, subnet, zone, pgbouncer]);
  });
});

describe("the real-run preflight's warnings", () => {
  const NO_SLACK = "settings.alerts.slackWebhookSecret is not set: critical alerts go by e-mail only (to platform-alerts@matih.ai), none to Slack #matih-alerts";

  it("warns, without refusing, when critical alerts would reach no Slack, for runs that reach phase 9", () => {
    expect(realRunWarnings(realRunSettings())).toEqual([NO_SLACK]);
    expect(realRunWarnings(realRunSettings(), { tier: "free", lastPhase: 9 })).toEqual([NO_SLACK]);
    expect(assertReadyForRealRun(realRunSettings(), ENV)).toEqual([NO_SLACK]);
  });

  it("has nothing to say with a webhook Secret, or for a run that stops before phase 9", () => {
    const withSlack = resolvePlatformSettings({ ...realRunSettingsOverrides(), alerts: { slackWebhookSecret: { namespace: "matih-monitoring", name: "slack-webhook", key: "url" } } });
    expect(realRunWarnings(withSlack)).toEqual([]);
    expect(realRunWarnings(realRunSettings(), { tier: "free", lastPhase: 8 })).toEqual([]);
  });

  it("reaches the operation's events as a warning, and the operation goes ahead", async () => {
    const events: ProgressEvent[] = [];
    const settings = realRunSettings();
    let worked = false;
    await runOperation({
      engine: "pulumi", operation: "provision", gate: new OperationGate({ maxConcurrent: 1 }), timeoutMs: 10_000, emptyExtras: {},
      request: { spec: acmeSpec("free", {}, settings), settings, onEvent: (e) => events.push(e) },
      precheck: (_spec, s) => assertReadyForRealRun(s, ENV, { tier: "free", lastPhase: 10 }),
      work: async () => {
        worked = true;
        return { status: "succeeded", changeSummary: {}, phases: [], error: null, extras: {} } as never;
      },
    });
    expect(worked).toBe(true);
    expect(events.filter((e) => e.type === "diagnostic").map((e) => [(e as { severity: string }).severity, (e as { message: string }).message])).toEqual([["warning", NO_SLACK]]);
  });
});

/** realRunSettings() as overrides, so one part at a time can be taken away. */
function realRunSettingsOverrides(): Record<string, unknown> {
  const s = realRunSettings();
  return {
    kubernetes: { context: s.kubernetes.context, apiServerCidrs: [...s.kubernetes.apiServerCidrs] },
    azure: { subscriptionId: s.azure.subscriptionId, databaseSubnetId: s.azure.databaseSubnetId, databasePrivateDnsZoneId: s.azure.databasePrivateDnsZoneId },
    images: { ...s.images },
  };
}

describe("the real-run preflight and the cluster's network policy engine (issue 21, item 7)", () => {
  const withEngine = (kubernetes: Record<string, unknown>) => {
    const o = realRunSettingsOverrides();
    return resolvePlatformSettings({ ...o, kubernetes: { ...(o.kubernetes as object), ...kubernetes } });
  };

  it("defaults to Azure NPM and accepts Calico", () => {
    expect(realRunSettings().kubernetes.networkPolicyEngine).toBe("azure-npm");
    expect(realRunProblems(withEngine({ networkPolicyEngine: "calico" }), ENV)).toEqual([]);
  });

  it("refuses Cilium with the exact reason and what to do, since it does not match ipBlock rules for the API server by default", () => {
    const settings = withEngine({ networkPolicyEngine: "cilium" });
    expect(realRunProblems(settings, ENV)).toEqual([
      'settings.kubernetes.networkPolicyEngine is "cilium", which by default does not match the ipBlock egress rules to kubernetes.apiServerCidrs ' +
        "(it gives the API server the kube-apiserver identity), so the ingress controller and Prometheus could not reach the API server; " +
        'run Cilium 1.15 or newer with policy-cidr-match-mode "nodes" (Helm value policyCIDRMatchMode: nodes) and set kubernetes.ciliumPolicyCidrMatchMode to "nodes", ' +
        'or use "azure-npm" or "calico"',
    ]);
    expect(() => assertReadyForRealRun(settings, ENV, { tier: "free", lastPhase: 4 })).toThrow(ConfigurationError);
  });

  it("accepts Cilium once it matches CIDR rules against nodes and the API server (policy-cidr-match-mode nodes)", () => {
    expect(realRunProblems(withEngine({ networkPolicyEngine: "cilium", ciliumPolicyCidrMatchMode: "nodes" }), ENV)).toEqual([]);
  });

  it("refuses an engine it does not know, and a match mode other than nodes, when the settings are read", () => {
    expect(() => withEngine({ networkPolicyEngine: "weave" })).toThrow(/kubernetes\.networkPolicyEngine: must be one of "azure-npm", "calico", "cilium"/);
    expect(() => withEngine({ networkPolicyEngine: "cilium", ciliumPolicyCidrMatchMode: "all" })).toThrow(/kubernetes\.ciliumPolicyCidrMatchMode: must be "nodes"/);
  });
});

describe("the real-run preflight and image pins (issue 21, item 8)", () => {
  // Every image at its default, a tag: what a run deploys is refused, phase by phase, and nothing else.
  const tags = resolvePlatformSettings({ ...realRunSettingsOverrides(), images: { registry: "matih.azurecr.io" } });
  const inspect = (image: string) => `a tag can be moved or withdrawn by its publisher; read the digest with \`docker buildx imagetools inspect ${image}\``;
  const flyway = `settings.images.flyway must be pinned by digest (image@sha256:...), got "flyway/flyway:11-alpine": ${inspect("flyway/flyway:11-alpine")}`;
  const psql = `settings.images.postgresClient must be pinned by digest (image@sha256:...), got "postgres:16-alpine": ${inspect("postgres:16-alpine")}`;
  const pgbouncer = `settings.images.pgbouncer must be pinned by digest (image@sha256:...), got "bitnamilegacy/pgbouncer:1.24.1": ${inspect("bitnamilegacy/pgbouncer:1.24.1")}`;
  const core = "query-engine, ai-service, catalog-service";
  const data = "pipeline-service, semantic-layer, bi-service, data-quality-service, ml-service, render-service";
  const services = (list: string) => `settings.images.defaultTag must be pinned by digest (tag@sha256:..., the tag of ${list}), got "latest": ${inspect("matih.azurecr.io/query-engine:latest")}`;
  const otel = `settings.images.otelCollector must be pinned by digest (image@sha256:...), got "otel/opentelemetry-collector-contrib:0.120.0": ${inspect("otel/opentelemetry-collector-contrib:0.120.0")}`;
  const telemetrygen = `settings.images.telemetrygen must be pinned by digest (image@sha256:...), got "ghcr.io/open-telemetry/opentelemetry-collector-contrib/telemetrygen:v0.120.0": ${inspect("ghcr.io/open-telemetry/opentelemetry-collector-contrib/telemetrygen:v0.120.0")}`;
  const curl = `settings.images.curl must be pinned by digest (image@sha256:...), got "curlimages/curl:8.12.1": ${inspect("curlimages/curl:8.12.1")}`;

  it("refuses each image a run deploys by tag, with its setting and how to read the digest, phase by phase", () => {
    expect(realRunProblems(tags, ENV, { tier: "free", lastPhase: 1 })).toEqual([]);
    expect(realRunProblems(tags, ENV, { tier: "free", lastPhase: 2 })).toEqual([flyway, psql]);
    expect(realRunProblems(tags, ENV, { tier: "professional", lastPhase: 2 })).toEqual([flyway, psql, pgbouncer]);
    expect(realRunProblems(tags, ENV, { tier: "free", lastPhase: 3 })).toEqual([flyway, psql, services(core)]);
    expect(realRunProblems(tags, ENV, { tier: "free", lastPhase: 5 })).toEqual([flyway, psql, services(`${core}, ${data}`)]);
    expect(realRunProblems(tags, ENV, { tier: "enterprise", lastPhase: 10 })).toEqual([flyway, psql, services(`${core}, ${data}`), otel, telemetrygen, curl]);
    expect(realRunProblems(tags, ENV)).toEqual([flyway, psql, pgbouncer, services(`${core}, ${data}`), otel, telemetrygen, curl]);
  });

  it("names a service's own tag where it has one, and accepts tags pinned by digest", () => {
    const pinned = `2.1.0@sha256:${"a".repeat(64)}`;
    const settings = resolvePlatformSettings({ ...realRunSettingsOverrides(), images: { ...PINNED_IMAGES, tags: { "ai-service": "2.1.0", "bi-service": pinned } } });
    expect(realRunProblems(settings, ENV)).toEqual([
      `settings.images.tags.ai-service must be pinned by digest (tag@sha256:..., the tag of ai-service), got "2.1.0": ${inspect("matih.azurecr.io/ai-service:2.1.0")}`,
    ]);
  });

  it("refuses a digest that is not a sha256 of 64 hex digits", () => {
    const settings = resolvePlatformSettings({ ...realRunSettingsOverrides(), images: { ...PINNED_IMAGES, curl: "curlimages/curl:8.12.1@sha256:abc" } });
    expect(realRunProblems(settings, ENV)).toEqual([`settings.images.curl must be pinned by digest (image@sha256:...), got "curlimages/curl:8.12.1@sha256:abc": ${inspect("curlimages/curl:8.12.1@sha256:abc")}`]);
  });
});
