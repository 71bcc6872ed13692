/**
 * One cluster and one Azure subscription holding many tenants: what a fleet of
 * renders (plus what the real Helm engine makes of their releases) would create
 * side by side. Each tenant's objects are recorded under the identity the
 * provider keys them by; two tenants claiming one identity is a collision a
 * real cluster or Azure would refuse (or, worse, let one tenant overwrite).
 */
import type { RenderedResource, RenderResult } from "../../stacks/mock-render.ts";
import { namespaceName } from "../../model/spec.ts";
import { isClusterScoped, type ManifestObject } from "./helm.ts";

export type IdentityKind = "cluster-scoped object" | "namespaced object" | "Azure resource" | "DNS record" | "Helm release" | "PostgreSQL role" | "shared ConfigMap key";

export interface Claim {
  readonly tenant: string;
  readonly kind: IdentityKind;
  readonly identity: string;
  /** Where it came from: a URN, or `helm:<namespace>/<release>`. */
  readonly source: string;
}

/** A shared namespace a tenant may write to, and how: one key per tenant in the named ConfigMaps, and whole objects named after it. */
export interface SharedContract {
  readonly namespace: string;
  readonly configMaps: readonly string[];
  /** The key a tenant may own in those ConfigMaps must mention this (its slug or namespace). */
  readonly keyOwnedBy: (slug: string, key: string) => boolean;
  /** Objects of its own a tenant may create there (kind and name). Default: none. */
  readonly objectOwnedBy?: (slug: string, kind: string, name: string) => boolean;
}

const isK8s = (r: RenderedResource) => r.type.startsWith("kubernetes:") && !r.type.startsWith("kubernetes:helm.sh/") && r.type !== "pulumi:providers:kubernetes";

function k8sKindOf(r: RenderedResource): string {
  // A patch carries the patched kind in its inputs; what it owns is a part of the object, not the object.
  if (r.type.endsWith("Patch")) return r.type.split(":").at(-1)!;
  if (typeof r.inputs.kind === "string") return r.inputs.kind;
  // kubernetes:core/v1:ConfigMapPatch -> ConfigMapPatch
  return r.type.split(":").at(-1)!;
}

export class ClusterModel {
  readonly claims: Claim[] = [];
  /** Namespaced objects outside their tenant's namespace that no contract allows. */
  readonly strays: string[] = [];
  private readonly tenants = new Set<string>();

  private readonly contracts: readonly SharedContract[];

  constructor(contracts: readonly SharedContract[]) {
    this.contracts = contracts;
  }

  /** Adds one tenant's render; `charts` are the objects Helm renders for its releases, by `namespace/release`. */
  addTenant(render: RenderResult, charts: ReadonlyMap<string, readonly ManifestObject[]> = new Map()): void {
    const slug = render.tenant.slug;
    if (this.tenants.has(slug)) throw new Error(`tenant ${slug} added twice`);
    this.tenants.add(slug);
    const home = namespaceName(slug);
    const claim = (kind: IdentityKind, identity: string, source: string) => this.claims.push({ tenant: slug, kind, identity, source });
    const byUrn = new Map(render.resources.map((r) => [r.urn, r]));

    const k8sObject = (kind: string, apiVersion: string, name: string, namespace: string | undefined, source: string, data?: Record<string, unknown>) => {
      if (isClusterScoped(kind)) {
        claim("cluster-scoped object", `${kind}/${name}`, source);
        return;
      }
      const ns = namespace ?? home;
      if (ns !== home) {
        const contract = this.contracts.find((c) => c.namespace === ns);
        if (kind === "ConfigMapPatch" && contract && contract.configMaps.includes(name)) {
          for (const key of Object.keys(data ?? {})) {
            if (!contract.keyOwnedBy(slug, key)) this.strays.push(`${slug}: ${source} writes key "${key}" of ${ns}/${name}, which its contract does not give it`);
            claim("shared ConfigMap key", `${ns}/${name}#${key}`, source);
          }
          return;
        }
        if (!contract?.objectOwnedBy?.(slug, kind, name)) this.strays.push(`${slug}: ${kind} ${ns}/${name} (${source}) is outside namespace ${home} and no shared contract covers it`);
      }
      claim("namespaced object", `${apiVersion.split("/")[0]}/${kind}/${ns}/${name}`, source);
    };

    for (const r of render.resources) {
      if (!r.custom || r.read) continue;
      if (r.type === "kubernetes:helm.sh/v3:Release") {
        const ns = String(r.inputs.namespace);
        const name = String(r.inputs.name);
        if (ns !== home) this.strays.push(`${slug}: Helm release ${ns}/${name} is outside namespace ${home}`);
        claim("Helm release", `${ns}/${name}`, r.urn);
        for (const o of charts.get(`${ns}/${name}`) ?? []) {
          k8sObject(o.kind, o.apiVersion, o.metadata.name, isClusterScoped(o.kind) ? undefined : o.metadata.namespace ?? ns, `helm:${ns}/${name}`);
        }
        continue;
      }
      if (isK8s(r)) {
        const meta = (r.inputs.metadata ?? {}) as { name?: string; namespace?: string };
        if (!meta.name) throw new Error(`${r.urn} has no metadata.name: the provider would invent one`);
        const kind = k8sKindOf(r);
        k8sObject(kind, String(r.inputs.apiVersion ?? r.type.split(":")[1]), meta.name, meta.namespace, r.urn, r.inputs.data as Record<string, unknown> | undefined);
        continue;
      }
      if (r.type.startsWith("azure-native:")) {
        for (const [kind, identity] of azureIdentities(r)) claim(kind, identity, r.urn);
        continue;
      }
      if (r.type === "postgresql:index/role:Role") {
        const provider = r.provider ? byUrn.get(r.provider) : undefined;
        const host = String(provider?.inputs.host ?? "?");
        claim("PostgreSQL role", `${host}/${String(r.inputs.name)}`, r.urn);
      }
    }
  }

  /** Identities claimed by more than one tenant, each with its claimants. */
  collisions(): { kind: IdentityKind; identity: string; tenants: string[]; sources: string[] }[] {
    const groups = new Map<string, Claim[]>();
    for (const c of this.claims) {
      const key = `${c.kind}\u0000${c.identity}`;
      groups.set(key, [...(groups.get(key) ?? []), c]);
    }
    return [...groups.values()]
      .filter((g) => new Set(g.map((c) => c.tenant)).size > 1)
      .map((g) => ({ kind: g[0]!.kind, identity: g[0]!.identity, tenants: [...new Set(g.map((c) => c.tenant))], sources: g.map((c) => c.source) }));
  }

  claimsOf(kind: IdentityKind): Claim[] {
    return this.claims.filter((c) => c.kind === kind);
  }
}

/**
 * The identities Azure keys a resource by. Flexible servers are also a global
 * DNS name (`{name}.postgres.database.azure.com`), so their name is unique
 * across all of Azure, not only within the resource group. DNS record sets are
 * also DNS records: `{relative}.{zone}` of a type.
 */
function azureIdentities(r: RenderedResource): [IdentityKind, string][] {
  const i = r.inputs as Record<string, unknown>;
  const rg = String(i.resourceGroupName ?? "?");
  switch (r.type) {
    case "azure-native:dbforpostgresql:Server":
      return [["Azure resource", `postgres-server/${String(i.serverName)}`]];
    case "azure-native:dbforpostgresql:Database":
      return [["Azure resource", `${rg}/postgres-server/${String(i.serverName)}/database/${String(i.databaseName)}`]];
    case "azure-native:dbforpostgresql:FirewallRule":
      return [["Azure resource", `${rg}/postgres-server/${String(i.serverName)}/firewall/${String(i.firewallRuleName)}`]];
    case "azure-native:dns:Zone":
      return [["Azure resource", `dns-zone/${String(i.zoneName)}`]];
    case "azure-native:dns:RecordSet": {
      const fqdn = i.relativeRecordSetName === "@" ? String(i.zoneName) : `${String(i.relativeRecordSetName)}.${String(i.zoneName)}`;
      return [["Azure resource", `${rg}/dns-zone/${String(i.zoneName)}/${String(i.recordType)}/${String(i.relativeRecordSetName)}`], ["DNS record", `${fqdn} ${String(i.recordType)}`]];
    }
    default: {
      const names = Object.entries(i).filter(([k]) => k.endsWith("Name")).map(([k, v]) => `${k}=${String(v)}`).sort();
      return [["Azure resource", `${r.type}/${names.join(",")}`]];
    }
  }
}
