/**
 * Every name derived from the slug, at the longest slug allowed (54
 * characters), against the limit of the system that receives it: Kubernetes
 * names and label values (63), Helm release names (53), Grafana uids (40),
 * Azure server names (63), DNS labels (63), PostgreSQL identifiers (63). A
 * name over its limit is not always refused: Grafana's sidecar drops a
 * dashboard or data source with a long uid without an error, so each name is
 * pinned as a literal here and every name of the render is swept as well.
 */
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { SLUG_MAX_LENGTH } from "../../model/spec.ts";
import type { RenderedResource } from "../../stacks/mock-render.ts";
import { kindOf, metadataOf, render, type Rendered } from "../support/fixtures.ts";

const SLUG = "northwind-traders-international-holdings-analytics-aa1";
/** First 8 hex digits of sha256(SLUG), the suffix of every shortened name. */
const HASH = "23919674";

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
/** Kinds whose names must be DNS labels (namespaces, Services) or become label values (a Job's name is its pods' `job-name` label). */
const NAME_IS_63 = new Set(["Namespace", "Service", "Job"]);

const renders = { enterprise: render("enterprise", { spec: { slug: SLUG } }), professional: render("professional", { spec: { slug: SLUG } }) };

const grafanaConfigMaps = (r: Rendered) => r.ofKind("ConfigMap").filter((c) => metadataOf(c).labels?.grafana_dashboard || metadataOf(c).labels?.grafana_datasource);
const grafanaDocuments = (r: Rendered) => grafanaConfigMaps(r).flatMap((c) => Object.values(c.inputs.data as Record<string, string>).map((text) => parseYaml(text) as Record<string, any>));
const dataSources = (r: Rendered) => grafanaDocuments(r).flatMap((d) => (d.datasources ?? []) as { name: string; uid: string; jsonData?: { tracesToLogsV2?: { datasourceUid: string } } }[]);
const dashboard = (r: Rendered) => grafanaDocuments(r).find((d) => d.panels)!;

/** Every string map under a `labels`, `matchLabels` or `podLabels` key, wherever it sits in a resource's inputs (pod templates, Helm values). */
function labelMaps(value: unknown, out: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (Array.isArray(value)) value.forEach((v) => labelMaps(v, out));
  else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      if ((k === "labels" || k === "matchLabels" || k === "podLabels") && v && typeof v === "object" && !Array.isArray(v)) out.push(v as Record<string, unknown>);
      labelMaps(v, out);
    }
  }
  return out;
}

interface Row {
  readonly name: string;
  readonly system: string;
  readonly limit: number;
  readonly tier: keyof typeof renders;
  readonly read: (r: Rendered) => string;
  readonly expected: string;
}

const ROWS: Row[] = [
  { name: "namespace", system: "Kubernetes namespace name (DNS label)", limit: 63, tier: "professional", read: (r) => metadataOf(r.ofKind("Namespace")[0]!).name!, expected: `matih-${SLUG}` },
  { name: "slug label value", system: "Kubernetes label value", limit: 63, tier: "professional", read: (r) => metadataOf(r.ofKind("Namespace")[0]!).labels!["matih.ai/tenant-slug"]!, expected: SLUG },
  { name: "IngressClass (made by the chart)", system: "Kubernetes name", limit: 63, tier: "professional", read: (r) => (r.release("ingress-nginx").inputs.values as any).controller.ingressClassResource.name, expected: `nginx-${SLUG}` },
  { name: "ingress-nginx fullname (its ClusterRole, ServiceAccount, Services)", system: "ingress-nginx fullname, cut by the chart beyond 48", limit: 48, tier: "professional", read: (r) => (r.release("ingress-nginx").inputs.values as any).fullnameOverride, expected: `ingress-nginx-northwind-traders-interna-${HASH}` },
  { name: "ingress-nginx release", system: "Helm release name", limit: 53, tier: "professional", read: (r) => String(r.release("ingress-nginx").inputs.name), expected: "ingress-nginx" },
  { name: "longest matih release", system: "Helm release name", limit: 53, tier: "professional", read: (r) => String(r.release("data-quality-service").inputs.name), expected: "data-quality-service" },
  { name: "dashboard uid", system: "Grafana uid", limit: 40, tier: "professional", read: (r) => dashboard(r).uid, expected: `tenant-northwind-traders-intern-${HASH}` },
  { name: "Prometheus data source uid", system: "Grafana uid", limit: 40, tier: "professional", read: (r) => dataSources(r).find((d) => d.name.startsWith("Prometheus"))!.uid, expected: `prometheus-northwind-traders-in-${HASH}` },
  { name: "Loki data source uid", system: "Grafana uid", limit: 40, tier: "professional", read: (r) => dataSources(r).find((d) => d.name.startsWith("Loki"))!.uid, expected: `loki-northwind-traders-internat-${HASH}` },
  { name: "Tempo data source uid", system: "Grafana uid", limit: 40, tier: "professional", read: (r) => dataSources(r).find((d) => d.name.startsWith("Tempo"))!.uid, expected: `tempo-northwind-traders-interna-${HASH}` },
  { name: "dedicated server", system: "Azure PostgreSQL flexible server name", limit: 63, tier: "enterprise", read: (r) => String(r.ofType("azure-native:dbforpostgresql:Server")[0]!.inputs.serverName), expected: `matih-${SLUG}-pg` },
  { name: "tenant database", system: "PostgreSQL identifier", limit: 63, tier: "enterprise", read: (r) => String(r.ofType("azure-native:dbforpostgresql:Database")[0]!.inputs.databaseName), expected: "tenant_northwind_traders_international_holdings_analytics_aa1" },
  { name: "tenant role", system: "PostgreSQL identifier", limit: 63, tier: "professional", read: (r) => String(r.ofType("postgresql:index/role:Role")[0]!.inputs.name), expected: "tenant_northwind_traders_international_holdings_analytics_aa1" },
  { name: "zone's own label", system: "DNS label", limit: 63, tier: "professional", read: (r) => String(r.ofType("azure-native:dns:Zone")[0]!.inputs.zoneName).split(".")[0]!, expected: SLUG },
  { name: "NS delegation", system: "DNS label", limit: 63, tier: "professional", read: (r) => String(r.ofType("azure-native:dns:RecordSet").find((x) => x.inputs.recordType === "NS")!.inputs.relativeRecordSetName), expected: SLUG },
];

describe(`every derived name at the longest slug (${SLUG.length} characters)`, () => {
  it("the slug under test is the longest allowed", () => {
    expect(SLUG.length).toBe(54);
    expect(SLUG_MAX_LENGTH).toBe(54);
  });

  it.each(ROWS)("$name: $system, at most $limit", async (row) => {
    const value = row.read(await renders[row.tier]);
    expect(value).toBe(row.expected);
    expect(value.length).toBeLessThanOrEqual(row.limit);
  });

  it("Grafana: every uid within 40, and every reference to a data source names one that exists", async () => {
    for (const r of [await renders.professional, await renders.enterprise]) {
      const uids = dataSources(r).map((d) => d.uid);
      expect(uids).toHaveLength(3);
      for (const uid of [...uids, dashboard(r).uid]) expect(uid.length, uid).toBeLessThanOrEqual(40);
      const referenced = [
        ...(dashboard(r).panels as { datasource: { uid: string }; targets: { datasource: { uid: string } }[] }[]).flatMap((p) => [p.datasource.uid, ...p.targets.map((t) => t.datasource.uid)]),
        ...dataSources(r).flatMap((d) => (d.jsonData?.tracesToLogsV2 ? [d.jsonData.tracesToLogsV2.datasourceUid] : [])),
      ];
      for (const uid of referenced) expect(uids, uid).toContain(uid);
    }
  });

  it("Kubernetes: every label value of every object (pod templates and Helm values included) is a valid value of at most 63", async () => {
    for (const r of [await renders.professional, await renders.enterprise]) {
      const values = r.resources.filter((x) => x.custom).flatMap((x) => labelMaps(x.inputs).flatMap((m) => Object.values(m)));
      expect(values.length).toBeGreaterThan(100);
      for (const v of values.filter((v): v is string => typeof v === "string")) {
        expect(v.length, v).toBeLessThanOrEqual(63);
        expect(v, v).toMatch(LABEL_VALUE);
      }
    }
  });

  it("Kubernetes: namespaces, Services and Jobs named within 63, everything else within 253", async () => {
    for (const r of [await renders.professional, await renders.enterprise]) {
      const named = r.resources.filter((x) => x.custom && kindOf(x) && metadataOf(x).name) as RenderedResource[];
      for (const x of named) {
        const name = metadataOf(x).name!;
        expect(name.length, `${kindOf(x)} ${name}`).toBeLessThanOrEqual(NAME_IS_63.has(kindOf(x)!) ? 63 : 253);
      }
    }
  });

  it("Helm: every release name within 53", async () => {
    for (const r of [await renders.professional, await renders.enterprise]) {
      const names = r.ofType("kubernetes:helm.sh/v3:Release").map((x) => String(x.inputs.name));
      expect(names).toHaveLength(10);
      for (const n of names) expect(n.length, n).toBeLessThanOrEqual(53);
    }
  });

  it("DNS: every label of every host name within 63", async () => {
    const r = await renders.professional;
    const hosts = [
      ...(r.ofKind("Certificate")[0]!.inputs.spec as { dnsNames: string[] }).dnsNames,
      ...(r.ofKind("Ingress")[0]!.inputs.spec as { rules: { host: string }[] }).rules.map((x) => x.host),
    ];
    expect(hosts).toContain(`bi.${SLUG}.matih.ai`);
    for (const label of hosts.flatMap((h) => h.split("."))) expect(label.length, label).toBeLessThanOrEqual(63);
  });
});

describe("shortened names", () => {
  it("leave a name that fits as it was: acme's uids are the plain ones", async () => {
    const { grafanaUid, nameWithin } = await import("../../components/common.ts");
    expect(["tenant", "prometheus", "loki", "tempo"].map((k) => grafanaUid(k as never, "acme"))).toEqual(["tenant-acme", "prometheus-acme", "loki-acme", "tempo-acme"]);
    expect(nameWithin(40, "prometheus-", "a".repeat(29))).toBe(`prometheus-${"a".repeat(29)}`);
  });

  it("differ for two long slugs that share their start, and drop a hyphen left at the cut", async () => {
    const { grafanaUid, nameWithin } = await import("../../components/common.ts");
    const other = "northwind-traders-international-holdings-analytics-bb2";
    expect(grafanaUid("tenant", other)).not.toBe(grafanaUid("tenant", SLUG));
    expect(grafanaUid("tenant", other)).toMatch(/^tenant-northwind-traders-intern-[0-9a-f]{8}$/);
    // The slug's first 21 - 2 - 8 - 1 = 10 characters are "northwind-": the hash follows one hyphen, not two.
    expect(nameWithin(21, "x-", "northwind-traders-international")).toMatch(/^x-northwind-[0-9a-f]{8}$/);
  });
});
