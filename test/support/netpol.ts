/**
 * A NetworkPolicy evaluator with the semantics of networking.k8s.io/v1, to
 * check an isolation table offline: given the policies of every namespace,
 * is a connection between two endpoints allowed?
 *
 * Semantics implemented (https://kubernetes.io/docs/concepts/services-networking/network-policies/):
 * - A connection is allowed iff the source may send it (egress) AND the
 *   destination may receive it (ingress).
 * - A policy selects pods of its own namespace by `spec.podSelector`
 *   (`{}` or absent: every pod). A pod is isolated for ingress (egress) when at
 *   least one policy selecting it has Ingress (Egress) in its policyTypes; a
 *   pod no policy isolates accepts (sends) everything. External endpoints are
 *   never isolated: they have no policies.
 * - policyTypes, when absent or empty, default as the API server does: Ingress,
 *   plus Egress when `spec.egress` has at least one rule (`egress: []` alone
 *   does not make a policy an Egress policy).
 * - An isolated pod accepts (sends) a connection iff some rule of some policy
 *   selecting it for that direction matches it: policies are additive.
 * - A rule with no (or empty) `from`/`to` matches every peer; with no (or empty)
 *   `ports` matches every port and protocol.
 * - A peer with `podSelector` only: pods of the policy's namespace; with
 *   `namespaceSelector` only: every pod of matching namespaces; with both: pods
 *   matching the pod selector in namespaces matching the namespace selector;
 *   `ipBlock`: addresses in `cidr` and in none of `except`.
 * - Label selectors: matchLabels and matchExpressions (In, NotIn, Exists,
 *   DoesNotExist), ANDed; `{}` matches everything.
 * - Namespaces carry `kubernetes.io/metadata.name: <name>`, as the API server
 *   sets it on every namespace; it is added to `namespaceLabels`.
 * - Ports: `protocol` defaults to TCP; a numeric `port` with optional `endPort`
 *   is a range; no `port` means every port of the protocol.
 *
 * Simplifications:
 * - ipBlock is applied to any endpoint by its `ip`, pods included (Kubernetes
 *   leaves ipBlock on pod IPs to the implementation; most CNIs match cluster-
 *   external addresses only).
 * - Named ports (`port: "http"`) match only when the connection gives the
 *   destination's port name in `portName`; otherwise they match nothing.
 * - No node, host-network or loopback special cases; no Service/DNAT: the
 *   connection is between the final endpoints.
 */

/** A pod: where it runs, its labels and those of its namespace, its IP. */
export interface PodEndpoint {
  readonly kind: "pod";
  readonly namespace: string;
  readonly namespaceLabels: Readonly<Record<string, string>>;
  readonly podLabels: Readonly<Record<string, string>>;
  readonly ip: string;
}

/** An address outside the cluster (or any endpoint known only by its IP). */
export interface ExternalEndpoint {
  readonly kind: "external";
  readonly ip: string;
}

export type Endpoint = PodEndpoint | ExternalEndpoint;

export type Protocol = "TCP" | "UDP" | "SCTP";

export interface Connection {
  readonly from: Endpoint;
  readonly to: Endpoint;
  /** Destination port. */
  readonly port: number;
  /** Default TCP. */
  readonly protocol?: Protocol;
  /** Name of the destination's container port, to match named ports in rules. */
  readonly portName?: string;
}

export interface LabelSelectorRequirement {
  readonly key: string;
  readonly operator: "In" | "NotIn" | "Exists" | "DoesNotExist" | string;
  readonly values?: readonly string[];
}

export interface LabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: readonly LabelSelectorRequirement[];
}

export interface NetworkPolicyPeer {
  readonly podSelector?: LabelSelector | null;
  readonly namespaceSelector?: LabelSelector | null;
  readonly ipBlock?: { readonly cidr: string; readonly except?: readonly string[] } | null;
}

export interface NetworkPolicyPort {
  readonly protocol?: Protocol | string;
  readonly port?: number | string;
  readonly endPort?: number;
}

export interface NetworkPolicyIngressRule {
  readonly from?: readonly NetworkPolicyPeer[] | null;
  readonly ports?: readonly NetworkPolicyPort[] | null;
}

export interface NetworkPolicyEgressRule {
  readonly to?: readonly NetworkPolicyPeer[] | null;
  readonly ports?: readonly NetworkPolicyPort[] | null;
}

/** A networking.k8s.io/v1 NetworkPolicy (as written or as rendered). */
export interface NetworkPolicy {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata: { readonly name?: string; readonly namespace?: string; readonly [key: string]: unknown };
  readonly spec: {
    readonly podSelector?: LabelSelector | null;
    readonly policyTypes?: readonly ("Ingress" | "Egress" | string)[] | null;
    readonly ingress?: readonly NetworkPolicyIngressRule[] | null;
    readonly egress?: readonly NetworkPolicyEgressRule[] | null;
  };
}

/** The label the API server puts on every namespace, with its name. */
export const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

// ---------------------------------------------------------------- selectors

/** Kubernetes label-selector semantics; `{}` matches everything. */
export function selectorMatches(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (!Object.hasOwn(labels, key) || labels[key] !== value) return false;
  }
  for (const req of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, req.key);
    const values = req.values ?? [];
    switch (req.operator) {
      case "In":
        if (values.length === 0) throw new Error(`matchExpressions: operator In on "${req.key}" needs values`);
        if (!has || !values.includes(labels[req.key] as string)) return false;
        break;
      case "NotIn":
        if (values.length === 0) throw new Error(`matchExpressions: operator NotIn on "${req.key}" needs values`);
        if (has && values.includes(labels[req.key] as string)) return false;
        break;
      case "Exists":
        if (values.length > 0) throw new Error(`matchExpressions: operator Exists on "${req.key}" takes no values`);
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (values.length > 0) throw new Error(`matchExpressions: operator DoesNotExist on "${req.key}" takes no values`);
        if (has) return false;
        break;
      default:
        throw new Error(`matchExpressions: unknown operator "${req.operator}" on "${req.key}"`);
    }
  }
  return true;
}

// ---------------------------------------------------------------- addresses

interface ParsedIp {
  readonly family: 4 | 6;
  readonly value: bigint;
}

function parseIPv4(text: string): bigint | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  let value = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
    value = (value << 8n) | BigInt(Number(p));
  }
  return value;
}

function parseIPv6(text: string): bigint | null {
  let head = text;
  let tailV4: bigint | null = null;
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) {
    tailV4 = parseIPv4(text.slice(lastColon + 1));
    if (tailV4 === null) return null;
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split("::");
  if (halves.length > 2) return null;
  const groups = (s: string): string[] => (s === "" ? [] : s.split(":"));
  const left = groups(halves[0] as string);
  const right = halves.length === 2 ? groups(halves[1] as string) : [];
  const missing = 8 - left.length - right.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...left, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...right];
  let value = 0n;
  for (const g of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    value = (value << 16n) | BigInt(parseInt(g, 16));
  }
  if (tailV4 !== null) value = (value & ~0xffffffffn) | tailV4;
  return value;
}

/** Parses an IPv4 or IPv6 address; throws on anything else. */
export function parseIp(text: string): ParsedIp {
  const v4 = parseIPv4(text);
  if (v4 !== null) return { family: 4, value: v4 };
  const v6 = text.includes(":") ? parseIPv6(text) : null;
  if (v6 !== null) return { family: 6, value: v6 };
  throw new Error(`not an IP address: "${text}"`);
}

/** True when `ip` is inside `cidr` (same family only); throws on a malformed CIDR. */
export function cidrContains(cidr: string, ip: string): boolean {
  const m = /^(.+)\/(\d{1,3})$/.exec(cidr);
  if (!m) throw new Error(`not a CIDR: "${cidr}"`);
  const net = parseIp(m[1] as string);
  const bits = net.family === 4 ? 32 : 128;
  const prefix = Number(m[2]);
  if (prefix > bits) throw new Error(`not a CIDR: "${cidr}" (prefix longer than ${bits} bits)`);
  const addr = parseIp(ip);
  if (addr.family !== net.family) return false;
  const shift = BigInt(bits - prefix);
  return (addr.value >> shift) === (net.value >> shift);
}

// ---------------------------------------------------------------- policies

function policyNamespace(policy: NetworkPolicy): string {
  const ns = policy.metadata?.namespace;
  if (typeof ns !== "string" || ns === "") {
    throw new Error(`NetworkPolicy "${policy.metadata?.name ?? "?"}" has no metadata.namespace: the evaluator needs to know which pods it selects`);
  }
  return ns;
}

function policyLabel(policy: NetworkPolicy): string {
  return `${policy.metadata?.namespace ?? "?"}/${policy.metadata?.name ?? "?"}`;
}

/** policyTypes as the API server defaults them. */
export function effectivePolicyTypes(policy: NetworkPolicy): { ingress: boolean; egress: boolean } {
  const types = policy.spec.policyTypes;
  if (types && types.length > 0) {
    for (const t of types) if (t !== "Ingress" && t !== "Egress") throw new Error(`NetworkPolicy ${policyLabel(policy)}: unknown policyType "${t}"`);
    return { ingress: types.includes("Ingress"), egress: types.includes("Egress") };
  }
  return { ingress: true, egress: (policy.spec.egress?.length ?? 0) > 0 };
}

function namespaceLabelsOf(pod: PodEndpoint): Record<string, string> {
  return { ...pod.namespaceLabels, [NAMESPACE_NAME_LABEL]: pod.namespace };
}

/** True when the policy applies to the pod (same namespace, podSelector matches). */
export function policySelectsPod(policy: NetworkPolicy, pod: PodEndpoint): boolean {
  return policyNamespace(policy) === pod.namespace && selectorMatches(policy.spec.podSelector ?? {}, pod.podLabels);
}

function peerMatches(peer: NetworkPolicyPeer, policyNs: string, endpoint: Endpoint, where: string): boolean {
  const hasPod = peer.podSelector != null;
  const hasNs = peer.namespaceSelector != null;
  const hasIp = peer.ipBlock != null;
  if (!hasPod && !hasNs && !hasIp) throw new Error(`${where}: a peer must set podSelector, namespaceSelector or ipBlock`);
  if (hasIp && (hasPod || hasNs)) throw new Error(`${where}: ipBlock cannot be combined with a selector in the same peer`);
  if (hasIp) {
    const block = peer.ipBlock as { cidr: string; except?: readonly string[] };
    return cidrContains(block.cidr, endpoint.ip) && !(block.except ?? []).some((e) => cidrContains(e, endpoint.ip));
  }
  if (endpoint.kind !== "pod") return false;
  if (hasNs) {
    if (!selectorMatches(peer.namespaceSelector as LabelSelector, namespaceLabelsOf(endpoint))) return false;
  } else if (endpoint.namespace !== policyNs) {
    return false;
  }
  return !hasPod || selectorMatches(peer.podSelector as LabelSelector, endpoint.podLabels);
}

function portMatches(rulePort: NetworkPolicyPort, conn: Connection, where: string): boolean {
  const protocol = rulePort.protocol ?? "TCP";
  if (protocol !== (conn.protocol ?? "TCP")) return false;
  const port = rulePort.port;
  if (port === undefined || port === null) {
    if (rulePort.endPort !== undefined) throw new Error(`${where}: endPort needs a numeric port`);
    return true;
  }
  if (typeof port === "string") {
    if (rulePort.endPort !== undefined) throw new Error(`${where}: endPort needs a numeric port, got "${port}"`);
    if (/^\d+$/.test(port)) throw new Error(`${where}: port "${port}" is a string of digits; use a number`);
    return conn.portName !== undefined && conn.portName === port;
  }
  const end = rulePort.endPort ?? port;
  if (end < port) throw new Error(`${where}: endPort ${end} is below port ${port}`);
  return conn.port >= port && conn.port <= end;
}

function ruleMatches(
  peers: readonly NetworkPolicyPeer[] | null | undefined,
  ports: readonly NetworkPolicyPort[] | null | undefined,
  policyNs: string,
  peer: Endpoint,
  conn: Connection,
  where: string,
): boolean {
  const peerOk = !peers || peers.length === 0 || peers.some((p, i) => peerMatches(p, policyNs, peer, `${where} peer ${i}`));
  if (!peerOk) return false;
  return !ports || ports.length === 0 || ports.some((p, i) => portMatches(p, conn, `${where} port ${i}`));
}

export interface DirectionVerdict {
  /** True when at least one policy selects the pod for this direction. */
  readonly isolated: boolean;
  readonly allowed: boolean;
  /** `namespace/name` of the policies with a rule matching the connection. */
  readonly allowedBy: readonly string[];
  /** `namespace/name` of the policies selecting the pod for this direction. */
  readonly selectedBy: readonly string[];
}

export interface Verdict {
  readonly allowed: boolean;
  readonly egress: DirectionVerdict;
  readonly ingress: DirectionVerdict;
}

const OPEN: DirectionVerdict = { isolated: false, allowed: true, allowedBy: [], selectedBy: [] };

function direction(policies: readonly NetworkPolicy[], pod: PodEndpoint, dir: "ingress" | "egress", peer: Endpoint, conn: Connection): DirectionVerdict {
  const selectedBy: string[] = [];
  const allowedBy: string[] = [];
  for (const policy of policies) {
    if (!effectivePolicyTypes(policy)[dir] || !policySelectsPod(policy, pod)) continue;
    const label = policyLabel(policy);
    selectedBy.push(label);
    const ns = policyNamespace(policy);
    const matched = dir === "ingress"
      ? (policy.spec.ingress ?? []).some((r, i) => ruleMatches(r.from, r.ports, ns, peer, conn, `NetworkPolicy ${label} ingress[${i}]`))
      : (policy.spec.egress ?? []).some((r, i) => ruleMatches(r.to, r.ports, ns, peer, conn, `NetworkPolicy ${label} egress[${i}]`));
    if (matched) allowedBy.push(label);
  }
  if (selectedBy.length === 0) return OPEN;
  return { isolated: true, allowed: allowedBy.length > 0, allowedBy, selectedBy };
}

function checkEndpoint(e: Endpoint, role: string): void {
  parseIp(e.ip); // throws on a malformed address
  if (e.kind === "pod" && (typeof e.namespace !== "string" || e.namespace === "")) throw new Error(`${role}: a pod endpoint needs its namespace`);
}

/** Why a connection is allowed or not, direction by direction. */
export function evaluateConnection(policies: readonly NetworkPolicy[], conn: Connection): Verdict {
  checkEndpoint(conn.from, "from");
  checkEndpoint(conn.to, "to");
  if (!Number.isInteger(conn.port) || conn.port < 1 || conn.port > 65535) throw new Error(`port must be 1-65535, got ${conn.port}`);
  for (const p of policies) policyNamespace(p);
  const egress = conn.from.kind === "pod" ? direction(policies, conn.from, "egress", conn.to, conn) : OPEN;
  const ingress = conn.to.kind === "pod" ? direction(policies, conn.to, "ingress", conn.from, conn) : OPEN;
  return { allowed: egress.allowed && ingress.allowed, egress, ingress };
}

/** True iff the policies let `conn.from` open `conn.to:port`. */
export function isAllowed(policies: readonly NetworkPolicy[], conn: Connection): boolean {
  return evaluateConnection(policies, conn).allowed;
}

// ---------------------------------------------------------------- rendered

export const NETWORK_POLICY_TYPE = "kubernetes:networking.k8s.io/v1:NetworkPolicy";

/**
 * The NetworkPolicies among rendered resources (`stacks/mock-render.ts`), their
 * inputs as sent. Throws when one lacks metadata.namespace or spec, since it
 * could not be evaluated.
 */
export function networkPoliciesFromResources(resources: readonly { readonly type: string; readonly inputs: Record<string, unknown>; readonly name?: string }[]): NetworkPolicy[] {
  return resources
    .filter((r) => r.type === NETWORK_POLICY_TYPE)
    .map((r) => {
      const policy = r.inputs as unknown as NetworkPolicy;
      if (!policy.spec || typeof policy.spec !== "object") throw new Error(`NetworkPolicy resource "${r.name ?? "?"}" has no spec`);
      policyNamespace(policy);
      return policy;
    });
}
