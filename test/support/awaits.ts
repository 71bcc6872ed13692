/**
 * What the providers wait on, and whether it can ever arrive. Pulumi's
 * Kubernetes provider does not finish an Ingress until each backend Service
 * exists with endpoints, a Service until its selector has ready pods, a Job
 * until it completes, a Certificate with `pulumi.com/waitFor` until cert-manager
 * marks it Ready; Helm (`skipAwait: false`) waits for the release's pods.
 * Under the mock runtime all of these return at once. This check reads a
 * render (and the objects the real Helm engine makes of its releases) and
 * lists every await whose target the render does not provide.
 */
import type { RenderedResource, RenderResult } from "../../stacks/mock-render.ts";
import type { ManifestObject } from "./helm.ts";

/** Services and ports a chart provides, as the platform settings declare them. */
export type ChartServiceContract = Readonly<Record<string, readonly { readonly service: string; readonly port: number }[]>>;

export interface AwaitContext {
  /** What each matih chart is declared to provide. */
  readonly chartServices: ChartServiceContract;
  /** Issuers the platform runs (cluster-wide). */
  readonly clusterIssuers: readonly string[];
  /** Objects the real Helm engine rendered, by `namespace/release`. */
  readonly charts?: ReadonlyMap<string, readonly ManifestObject[]>;
  /** Secrets and ServiceAccounts the platform provides outside the tenant's render, as `namespace/name`. */
  readonly platformObjects?: readonly string[];
}

interface K8sObj {
  kind: string;
  namespace: string;
  name: string;
  phase: number;
  body: Record<string, any>;
  source: string;
}

const WORKLOADS = new Set(["Deployment", "StatefulSet", "DaemonSet", "Job"]);

function matches(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** Every await of the render whose target is missing, as sentences. Empty means every wait can end. */
export function unsatisfiedAwaits(render: RenderResult, ctx: AwaitContext): string[] {
  const problems: string[] = [];
  const objects: K8sObj[] = [];
  const releases: { namespace: string; name: string; chart: string; phase: number; values: Record<string, any>; urn: string }[] = [];
  const phaseOf = (r: RenderedResource) => r.phase?.number ?? 0;

  for (const r of render.resources) {
    if (!r.custom || r.read) continue;
    if (r.type === "kubernetes:helm.sh/v3:Release") {
      const namespace = String(r.inputs.namespace);
      const name = String(r.inputs.name);
      releases.push({ namespace, name, chart: String(r.inputs.chart), phase: phaseOf(r), values: (r.inputs.values ?? {}) as Record<string, any>, urn: r.urn });
      for (const o of ctx.charts?.get(`${namespace}/${name}`) ?? []) {
        objects.push({ kind: o.kind, namespace: o.metadata.namespace ?? namespace, name: o.metadata.name, phase: phaseOf(r), body: o as Record<string, any>, source: `helm:${namespace}/${name}` });
      }
      continue;
    }
    if (!r.type.startsWith("kubernetes:") || typeof r.inputs.kind !== "string") continue;
    const meta = (r.inputs.metadata ?? {}) as { name?: string; namespace?: string };
    objects.push({ kind: r.inputs.kind, namespace: String(meta.namespace ?? ""), name: String(meta.name), phase: phaseOf(r), body: r.inputs as Record<string, any>, source: r.urn });
  }
  const platform = new Set(ctx.platformObjects ?? []);
  const find = (kind: string, namespace: string, name: string, beforePhase: number) =>
    objects.find((o) => o.kind === kind && o.namespace === namespace && o.name === name && o.phase <= beforePhase);

  // Pod templates of every workload, with where they come from.
  const pods = objects.filter((o) => WORKLOADS.has(o.kind)).map((o) => ({
    owner: o,
    labels: (o.kind === "Job" ? o.body.spec?.template?.metadata?.labels : o.body.spec?.template?.metadata?.labels) as Record<string, string> | undefined,
    spec: o.body.spec?.template?.spec as Record<string, any> | undefined,
  }));

  // Ingress backends: a Service in the namespace by an earlier phase, or one a release of an earlier phase is declared to provide.
  for (const ingress of objects.filter((o) => o.kind === "Ingress")) {
    const rules = (ingress.body.spec?.rules ?? []) as { host?: string; http?: { paths?: { path?: string; backend?: { service?: { name: string; port: { number?: number; name?: string } } } }[] } }[];
    for (const rule of rules) {
      for (const path of rule.http?.paths ?? []) {
        const svc = path.backend?.service;
        if (!svc) continue;
        const port = svc.port.number;
        const rendered = objects.find((o) => o.kind === "Service" && o.namespace === ingress.namespace && o.name === svc.name && o.phase < ingress.phase);
        const renderedOk = rendered && ((rendered.body.spec?.ports ?? []) as { port: number }[]).some((p) => p.port === port);
        const declared = releases.some((rel) => rel.namespace === ingress.namespace && rel.phase < ingress.phase && (ctx.chartServices[rel.chart] ?? []).some((s) => s.service === svc.name && s.port === port));
        if (!renderedOk && !declared) {
          problems.push(`Ingress ${ingress.namespace}/${ingress.name} routes ${rule.host ?? "*"}${path.path ?? ""} to Service ${svc.name}:${port}, which no earlier phase creates or declares`);
        }
      }
    }
  }

  // Services: their selector must pick the pods of a workload the render (or a chart) declares.
  for (const service of objects.filter((o) => o.kind === "Service")) {
    const selector = service.body.spec?.selector as Record<string, string> | undefined;
    if (service.body.spec?.type === "ExternalName") continue;
    const backing = pods.filter((p) => p.owner.kind !== "Job" && p.owner.namespace === service.namespace && matches(selector, p.labels));
    if (backing.length === 0) problems.push(`Service ${service.namespace}/${service.name} selects ${JSON.stringify(selector ?? {})}, which no declared workload's pods carry`);
  }

  // Pods: an image, something to run (Jobs), and every Secret, ConfigMap and ServiceAccount they mount.
  for (const { owner, spec } of pods) {
    if (!spec) {
      problems.push(`${owner.kind} ${owner.namespace}/${owner.name} has no pod template`);
      continue;
    }
    const containers = [...(spec.initContainers ?? []), ...(spec.containers ?? [])] as Record<string, any>[];
    if (containers.length === 0) problems.push(`${owner.kind} ${owner.namespace}/${owner.name} has no containers`);
    for (const c of containers) {
      if (typeof c.image !== "string" || c.image.length === 0) problems.push(`${owner.kind} ${owner.namespace}/${owner.name} container ${c.name} has no image`);
      if (owner.kind === "Job" && !((c.command?.length ?? 0) > 0 || (c.args?.length ?? 0) > 0)) {
        problems.push(`Job ${owner.namespace}/${owner.name} container ${c.name} names no command or args`);
      }
      for (const e of (c.env ?? []) as { valueFrom?: { secretKeyRef?: { name: string }; configMapKeyRef?: { name: string } } }[]) {
        const s = e.valueFrom?.secretKeyRef?.name;
        if (s && !find("Secret", owner.namespace, s, owner.phase) && !platform.has(`${owner.namespace}/${s}`)) problems.push(`${owner.kind} ${owner.namespace}/${owner.name} reads Secret ${s}, which is not declared by then`);
        const m = e.valueFrom?.configMapKeyRef?.name;
        if (m && !find("ConfigMap", owner.namespace, m, owner.phase)) problems.push(`${owner.kind} ${owner.namespace}/${owner.name} reads ConfigMap ${m}, which is not declared by then`);
      }
    }
    for (const v of (spec.volumes ?? []) as { configMap?: { name: string }; secret?: { secretName: string } }[]) {
      if (v.configMap && !find("ConfigMap", owner.namespace, v.configMap.name, owner.phase)) problems.push(`${owner.kind} ${owner.namespace}/${owner.name} mounts ConfigMap ${v.configMap.name}, which is not declared by then`);
      if (v.secret && !find("Secret", owner.namespace, v.secret.secretName, owner.phase) && !platform.has(`${owner.namespace}/${v.secret.secretName}`)) problems.push(`${owner.kind} ${owner.namespace}/${owner.name} mounts Secret ${v.secret.secretName}, which is not declared by then`);
    }
    const sa = spec.serviceAccountName as string | undefined;
    if (sa && sa !== "default" && !find("ServiceAccount", owner.namespace, sa, owner.phase)) problems.push(`${owner.kind} ${owner.namespace}/${owner.name} runs as ServiceAccount ${sa}, which is not declared by then`);
  }

  // Releases of matih charts: Helm waits for their pods, which need the ServiceAccount and Secret they name.
  for (const rel of releases) {
    const sa = rel.values.serviceAccount;
    if (sa && sa.create === false && sa.name && !find("ServiceAccount", rel.namespace, sa.name, rel.phase)) problems.push(`release ${rel.namespace}/${rel.name} runs as ServiceAccount ${sa.name}, which is not declared by then`);
    for (const e of (rel.values.env ?? []) as { valueFrom?: { secretKeyRef?: { name: string } } }[]) {
      const s = e.valueFrom?.secretKeyRef?.name;
      if (s && !find("Secret", rel.namespace, s, rel.phase)) problems.push(`release ${rel.namespace}/${rel.name} reads Secret ${s}, which is not declared by then`);
    }
  }

  // Certificates: awaited until Ready, which only an issuer the platform runs can make them.
  for (const cert of objects.filter((o) => o.kind === "Certificate")) {
    const ref = cert.body.spec?.issuerRef as { name?: string; kind?: string } | undefined;
    if (!ref?.name) problems.push(`Certificate ${cert.namespace}/${cert.name} names no issuer`);
    else if (ref.kind === "ClusterIssuer" && !ctx.clusterIssuers.includes(ref.name)) problems.push(`Certificate ${cert.namespace}/${cert.name} asks ClusterIssuer ${ref.name}, which the platform does not declare`);
    else if (ref.kind !== "ClusterIssuer" && !find("Issuer", cert.namespace, ref.name, cert.phase)) problems.push(`Certificate ${cert.namespace}/${cert.name} asks Issuer ${ref.name}, which is not declared`);
  }
  return problems;
}
