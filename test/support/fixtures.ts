import * as pulumi from "@pulumi/pulumi";
import { renderUnderMocks, type RenderedResource, type RenderResult } from "../../stacks/mock-render.ts";
import { resolvePlatformSettings, type PlatformSettings, type PlatformSettingsOverrides } from "../../model/settings.ts";
import { validateTenantSpec, type TenantSpec } from "../../model/spec.ts";
import type { Tier } from "../../model/tiers.ts";
import type { TenantProgramOptions } from "../../stacks/tenant-program.ts";
import { acmeSpec } from "./acme.ts";


/** A render with lookup helpers. */
export interface Rendered extends RenderResult {
  /** Custom resources of a Pulumi type token. */
  ofType(type: string): RenderedResource[];
  /** Custom resources of a Kubernetes kind (core or custom resource). */
  ofKind(kind: string): RenderedResource[];
  /** The Kubernetes object of this kind and metadata.name; throws if absent. */
  k8s(kind: string, name: string): RenderedResource;
  /** The resource with this Pulumi name; throws if absent. */
  named(name: string): RenderedResource;
  /** Helm release by release name; throws if absent. */
  release(name: string): RenderedResource;
}

export function kindOf(r: RenderedResource): string | undefined {
  return typeof r.inputs.kind === "string" ? r.inputs.kind : undefined;
}

export function metadataOf(r: RenderedResource): { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> } {
  return (r.inputs.metadata ?? {}) as never;
}

const memo = new Map<string, Promise<Rendered>>();

/**
 * Renders acme in a tier. Renders are deterministic, so one per distinct
 * set of options is kept for the test file; callers must not mutate it.
 */
export function render(tier: Tier, options: TenantProgramOptions & { settings?: PlatformSettingsOverrides; spec?: Partial<TenantSpec> } = {}): Promise<Rendered> {
  const key = JSON.stringify([tier, options]);
  let cached = memo.get(key);
  if (!cached) {
    cached = renderUncached(tier, options);
    memo.set(key, cached);
  }
  return cached;
}

async function renderUncached(tier: Tier, options: TenantProgramOptions & { settings?: PlatformSettingsOverrides; spec?: Partial<TenantSpec> }): Promise<Rendered> {
  const settings = resolvePlatformSettings(options.settings ?? {});
  const spec = acmeSpec(tier, options.spec ?? {}, settings);
  const result = await renderUnderMocks(spec, settings, options.lastPhase === undefined ? {} : { lastPhase: options.lastPhase });
  const custom = result.resources.filter((r) => r.custom);
  const one = (list: RenderedResource[], what: string) => {
    if (list.length !== 1) throw new Error(`expected one ${what}, found ${list.length}`);
    return list[0]!;
  };
  return {
    ...result,
    ofType: (type) => custom.filter((r) => r.type === type),
    ofKind: (kind) => custom.filter((r) => kindOf(r) === kind),
    k8s: (kind, name) => one(custom.filter((r) => kindOf(r) === kind && metadataOf(r).name === name), `${kind} ${name}`),
    named: (name) => one(result.resources.filter((r) => r.name === name), `resource named ${name}`),
    release: (name) => one(custom.filter((r) => r.type === "kubernetes:helm.sh/v3:Release" && r.inputs.name === name), `release ${name}`),
  };
}

/** The value inside an Output, secret or not (mock runtime only). */
export function unwrap<T>(output: pulumi.Output<T> | pulumi.Input<T>): Promise<T> {
  return new Promise((resolve) => pulumi.output(output).apply((v) => { resolve(v as T); return v; }));
}

/** Every URN a resource waits for, directly or through its dependencies. */
export function transitiveDependencies(resources: readonly RenderedResource[], urn: string): Set<string> {
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  const seen = new Set<string>();
  const stack = [...(byUrn.get(urn)?.dependsOn ?? [])];
  while (stack.length) {
    const next = stack.pop()!;
    if (seen.has(next)) continue;
    seen.add(next);
    stack.push(...(byUrn.get(next)?.dependsOn ?? []));
  }
  return seen;
}
