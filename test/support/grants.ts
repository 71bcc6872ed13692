/**
 * Effective RBAC permissions of service accounts, computed offline from what
 * the cluster would hold: the Roles, ClusterRoles and their bindings of a
 * program render plus the objects the real Helm engine renders for its
 * releases. What the API server's authorizer would answer, for the rules
 * these objects hold:
 *
 * - A RoleBinding grants its role's rules in the binding's namespace (a
 *   ClusterRole referenced by a RoleBinding too); a ClusterRoleBinding grants
 *   them in every namespace and on cluster-scoped resources (scope `*`).
 * - Subjects: `ServiceAccount` (name, namespace); the User
 *   `system:serviceaccount:<ns>:<name>`; the Groups `system:serviceaccounts`,
 *   `system:serviceaccounts:<ns>` and `system:authenticated`.
 * - Running as another account: whoever may create pods, or anything that
 *   makes pods (Deployments, Jobs, ...), in a namespace may name any service
 *   account of that namespace in the pod, and so holds that account's
 *   permissions; likewise `impersonate` on serviceaccounts and `create` on
 *   `serviceaccounts/token`. Effective permissions follow this to a fixpoint.
 *
 * Not modelled: the grants every account gets from the cluster's default
 * ClusterRoles (discovery, self-subject reviews), aggregated ClusterRoles (a
 * binding to one is reported as unknown), and escalation through writing
 * RBAC objects (`bind`, `escalate`): none of the rendered rules grants those.
 * A binding whose role is in neither input is reported, never assumed empty.
 */
import { readFileSync } from "node:fs";
import type { RenderedResource } from "../../stacks/mock-render.ts";
import type { ManifestObject } from "./helm.ts";

export interface PolicyRule {
  readonly apiGroups?: readonly string[];
  readonly resources?: readonly string[];
  readonly verbs: readonly string[];
  readonly resourceNames?: readonly string[];
  readonly nonResourceURLs?: readonly string[];
}

interface Subject {
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
}

/** One Role, ClusterRole, RoleBinding or ClusterRoleBinding, wherever it came from. */
export interface RbacObject {
  readonly kind: "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding";
  readonly name: string;
  /** Namespace of a Role or RoleBinding. */
  readonly namespace?: string;
  readonly rules?: readonly PolicyRule[];
  readonly aggregationRule?: unknown;
  readonly roleRef?: { readonly kind: string; readonly name: string };
  readonly subjects?: readonly Subject[];
  /** A URN, or `helm:<namespace>/<release>`. */
  readonly source: string;
}

/** One rule an account holds, where: a namespace, or `*` for every namespace and cluster-scoped resources. */
export interface Grant {
  /** `namespace/name` of the account holding it directly. */
  readonly holder: string;
  readonly scope: string;
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
  readonly resourceNames: readonly string[];
  /** The binding that gives it, `Kind namespace/name`. */
  readonly via: string;
}

const RBAC_KINDS = new Set(["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"]);

/** RBAC objects of a render (created, not read) and of Helm-rendered releases (namespace defaulted to the release's). */
export function rbacObjects(resources: readonly RenderedResource[], charts: readonly { readonly namespace: string; readonly release: string; readonly objects: readonly ManifestObject[] }[] = []): RbacObject[] {
  const out: RbacObject[] = [];
  for (const r of resources) {
    if (!r.custom || r.read || !r.type.startsWith("kubernetes:rbac.authorization.k8s.io/")) continue;
    const kind = r.type.split(":").at(-1)!;
    if (!RBAC_KINDS.has(kind)) continue;
    const meta = r.inputs.metadata as { name: string; namespace?: string };
    out.push({ kind: kind as RbacObject["kind"], name: meta.name, ...(meta.namespace ? { namespace: meta.namespace } : {}), ...pick(r.inputs), source: r.urn });
  }
  for (const chart of charts) {
    for (const o of chart.objects) {
      if (!RBAC_KINDS.has(o.kind)) continue;
      const namespaced = o.kind === "Role" || o.kind === "RoleBinding";
      out.push({
        kind: o.kind as RbacObject["kind"],
        name: o.metadata.name,
        ...(namespaced ? { namespace: o.metadata.namespace ?? chart.namespace } : {}),
        ...pick(o as unknown as Record<string, unknown>),
        source: `helm:${chart.namespace}/${chart.release}`,
      });
    }
  }
  return out;
}

function pick(o: Record<string, unknown>): Pick<RbacObject, "rules" | "roleRef" | "subjects" | "aggregationRule"> {
  return {
    ...(o.rules ? { rules: o.rules as PolicyRule[] } : {}),
    ...(o.roleRef ? { roleRef: o.roleRef as { kind: string; name: string } } : {}),
    ...(o.subjects ? { subjects: o.subjects as Subject[] } : {}),
    ...(o.aggregationRule ? { aggregationRule: o.aggregationRule } : {}),
  };
}

function subjectIncludes(s: Subject, bindingNamespace: string | undefined, account: string): boolean {
  const [ns, name] = account.split("/") as [string, string];
  switch (s.kind) {
    case "ServiceAccount":
      // A RoleBinding's ServiceAccount subject without a namespace means the binding's.
      return s.name === name && (s.namespace ?? bindingNamespace) === ns;
    case "User":
      return s.name === `system:serviceaccount:${ns}:${name}`;
    case "Group":
      return s.name === "system:serviceaccounts" || s.name === `system:serviceaccounts:${ns}` || s.name === "system:authenticated";
    default:
      return false;
  }
}

export interface DirectGrants {
  readonly grants: Grant[];
  /** Bindings whose role the inputs do not hold (or an aggregated ClusterRole): their rules are unknown. */
  readonly unknown: string[];
}

/** The rules each of `accounts` (`namespace/name`) holds through the bindings, without running as anyone else. */
export function directGrants(objects: readonly RbacObject[], accounts: readonly string[]): DirectGrants {
  const grants: Grant[] = [];
  const unknown: string[] = [];
  const role = (kind: string, name: string, namespace: string | undefined) => {
    const found = objects.filter((o) => o.kind === kind && o.name === name && (kind === "ClusterRole" || o.namespace === namespace));
    // Two sources declaring one role: the cluster holds only one of them (Helm or the provider refuses the other).
    return found.length === 1 ? found[0] : undefined;
  };
  for (const b of objects.filter((o) => o.kind === "RoleBinding" || o.kind === "ClusterRoleBinding")) {
    const holders = accounts.filter((a) => (b.subjects ?? []).some((s) => subjectIncludes(s, b.namespace, a)));
    if (holders.length === 0) continue;
    const via = `${b.kind} ${b.namespace ? `${b.namespace}/` : ""}${b.name}`;
    const ref = b.roleRef!;
    const target = role(ref.kind, ref.name, b.namespace);
    if (!target || target.aggregationRule) {
      unknown.push(`${via} (${b.source}) binds ${ref.kind} ${ref.name}, whose rules are not known here (absent, declared twice, or aggregated)`);
      continue;
    }
    const scope = b.kind === "ClusterRoleBinding" ? "*" : b.namespace!;
    for (const holder of holders) {
      for (const rule of target.rules ?? []) {
        // Non-resource URLs are granted only cluster-wide and read nothing of a namespace.
        if (!rule.resources || rule.resources.length === 0) continue;
        grants.push({ holder, scope, apiGroups: rule.apiGroups ?? [], resources: rule.resources, verbs: rule.verbs, resourceNames: rule.resourceNames ?? [], via });
      }
    }
  }
  return { grants, unknown };
}

/** Resources that make pods, by API group: creating one runs a pod as any account of its namespace. */
const POD_MAKERS: readonly [string, string][] = [
  ["", "pods"], ["", "replicationcontrollers"], ["apps", "deployments"], ["apps", "replicasets"], ["apps", "statefulsets"],
  ["apps", "daemonsets"], ["batch", "jobs"], ["batch", "cronjobs"],
];

const has = (list: readonly string[], value: string) => list.includes(value) || list.includes("*");

/** Whether the grant allows `verb` on `group/resource` in `namespace` (for any name, unless `anyName` is false). */
export function allows(g: Grant, group: string, resource: string, verb: string, namespace: string, anyName = true): boolean {
  return (g.scope === "*" || g.scope === namespace) && has(g.apiGroups, group) && has(g.resources, resource) && has(g.verbs, verb)
    && (!anyName || g.resourceNames.length === 0);
}

/**
 * The question `kubectl auth can-i <verb> <resource> --as=<account>` asks,
 * answered from direct grants: may `account` (`namespace/name`) do `verb` on
 * `group/resource`, for any name, in `namespace`, or cluster-wide when
 * `namespace` is null (which only a ClusterRoleBinding grants).
 */
export function mayDirectly(grants: readonly Grant[], account: string, group: string, resource: string, verb: string, namespace: string | null): boolean {
  return grants.some((g) => g.holder === account && allows(g, group, resource, verb, namespace ?? "*"));
}

/** Whether the grant lets its holder run pods as other accounts of `namespace`. */
function runsAsOthers(g: Grant, namespace: string): boolean {
  return POD_MAKERS.some(([group, resource]) => allows(g, group, resource, "create", namespace))
    || allows(g, "", "serviceaccounts", "impersonate", namespace)
    || allows(g, "", "serviceaccounts/token", "create", namespace);
}

export interface EffectiveGrant extends Grant {
  /** Accounts run as to get it, from the account itself to the holder; empty when held directly. */
  readonly through: readonly string[];
}

/**
 * Every rule `account` holds, directly or by running pods as other accounts
 * of a namespace it may create pods in (`accounts` lists the accounts that
 * exist), each with the chain of accounts it goes through.
 */
export function effectiveGrants(direct: readonly Grant[], accounts: readonly string[], account: string): EffectiveGrant[] {
  const reached = new Map<string, string[]>([[account, []]]);
  const queue = [account];
  while (queue.length > 0) {
    const current = queue.shift()!;
    for (const g of direct.filter((x) => x.holder === current)) {
      for (const other of accounts) {
        const ns = other.split("/")[0]!;
        if (!reached.has(other) && runsAsOthers(g, ns)) {
          reached.set(other, [...reached.get(current)!, other]);
          queue.push(other);
        }
      }
    }
  }
  return [...reached].flatMap(([holder, through]) => direct.filter((g) => g.holder === holder).map((g) => ({ ...g, through })));
}

/** Whether a grant reaches beyond the holder's own namespace: cluster-wide, or in another namespace. */
export function isOutside(g: Grant, ownNamespace: string): boolean {
  return g.scope !== ownNamespace;
}

/** One documented exception: what an account (by name in the tenant namespace) may hold outside it. */
export interface AllowedOutside {
  /** Name of the holding account in the tenant namespace. */
  readonly account: string;
  /** A namespace, or `*` for cluster-wide. */
  readonly scope: string;
  readonly apiGroup: string;
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
}

/**
 * The documented exceptions: the table under "Grants outside the tenant
 * namespace" in docs/real-run.md, one row per account, place and API group
 * (`{slug}` in an account name stands for the tenant's slug).
 */
export function documentedExceptions(): AllowedOutside[] {
  const doc = readFileSync(new URL("../../docs/real-run.md", import.meta.url), "utf8");
  const section = doc.split("### Grants outside the tenant namespace")[1]?.split(/\n#{2,3} /)[0] ?? "";
  const code = (cell: string) => [...cell.matchAll(/`([^`]*)`/g)].map((m) => m[1]!);
  return section.split("\n").filter((l) => /^\| `/.test(l)).map((line) => {
    const [account, where, group, resources, verbs] = line.split("|").slice(1, 6).map((c) => c.trim());
    return {
      account: code(account!)[0]!.replace("<slug>", "{slug}"),
      scope: where === "cluster-wide" ? "*" : code(where!)[0]!,
      apiGroup: group === "core" ? "" : code(group!)[0]!,
      resources: code(resources!),
      verbs: code(verbs!),
    };
  });
}

/** Whether an outside grant is within one documented exception (no wildcard is ever within one). */
export function isAllowedOutside(g: Grant, allowed: readonly AllowedOutside[]): boolean {
  const holderName = g.holder.split("/")[1]!;
  return allowed.some((a) => a.account === holderName && a.scope === g.scope
    && g.apiGroups.length > 0 && g.apiGroups.every((x) => x === a.apiGroup)
    && g.resources.length > 0 && g.resources.every((x) => a.resources.includes(x))
    && g.verbs.length > 0 && g.verbs.every((x) => a.verbs.includes(x)));
}

/** `holder scope group/resource verbs (via ...)`, for readable failures. */
export function describeGrant(g: Grant): string {
  const names = g.resourceNames.length > 0 ? ` [${g.resourceNames.join(",")}]` : "";
  return `${g.holder} in ${g.scope}: ${g.apiGroups.map((x) => x || "core").join(",")}/${g.resources.join(",")}${names} ${g.verbs.join(",")} (${g.via})`;
}
