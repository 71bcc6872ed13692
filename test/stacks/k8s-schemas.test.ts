import { describe, expect, it } from "vitest";
import { TIERS } from "../../model/tiers.ts";
import { render } from "../support/fixtures.ts";
import { validateRenderedResources } from "../support/k8s-schema.ts";

describe.each(TIERS)("every Kubernetes object rendered for a %s tenant", (tier) => {
  it("validates against its published schema, custom resources included", async () => {
    const r = await render(tier, { settings: { alerts: { slackWebhookSecret: { namespace: "matih-control-plane", name: "alert-webhooks", key: "slack" } } } });
    const kinds = validateRenderedResources(r.resources);
    expect(kinds).toEqual(expect.arrayContaining(["Namespace", "ResourceQuota", "NetworkPolicy", "Secret", "Job", "Ingress", "Certificate", "Prometheus", "PrometheusRule", "ServiceMonitor", "ScrapeConfig", "AlertmanagerConfig", "Deployment"].filter((k) => tier !== "enterprise" || k !== "ResourceQuota")));
  });
});
