/**
 * Validates Kubernetes objects against their published OpenAPI schemas, as
 * shipped by `kubernetes-models` (built-in kinds), `@kubernetes-models/cert-manager`
 * and `@kubernetes-models/prometheus-operator` (CRDs).
 *
 * The model class is found generically from `apiVersion` + `kind`: every class
 * exported by those packages that carries a static `apiVersion` and `kind` is a
 * top-level kind (sub-structures such as `v1/Container` carry neither), so any
 * kind in the packages works and anything else throws "no published schema
 * known for ...".
 *
 * Unknown fields. The generated validators do NOT reject unknown fields: the
 * published schemas carry no `additionalProperties: false`, so
 * `spec.podSelectr` or `metadata.nme` would pass them. The API server (and
 * `kubectl --validate=strict`) refuses such fields, so this module adds the
 * check: the validator is run over a proxy that records which properties it
 * reads. The compiled validators read every property their schema declares
 * (present or not) and, for maps (`additionalProperties: {...}`), every key. So
 * for each object the validator looked into, a key it never read is a field the
 * schema does not know. Objects the validator never looked into are free-form
 * in the schema (`x-kubernetes-preserve-unknown-fields`, RawExtension, JSON)
 * and accept anything.
 *
 * One gap in the packages: their generator strips properties named
 * `description` and `x-kubernetes-*` from the schemas it compiles (PriorityClass
 * `description`, AlertmanagerConfig OpsGenie `description`, CRD
 * `openAPIV3Schema.description` and `x-kubernetes-preserve-unknown-fields`...).
 * Those names are therefore accepted anywhere, unchecked (see UNCHECKED_FIELD).
 */
import * as kubernetesModels from "kubernetes-models";
import * as certManagerModels from "@kubernetes-models/cert-manager";
import * as prometheusOperatorModels from "@kubernetes-models/prometheus-operator";

/** The shape every Kubernetes object has; the rest is checked by the schema. */
export interface KubernetesObject {
  apiVersion?: unknown;
  kind?: unknown;
  metadata?: { name?: unknown; namespace?: unknown; [key: string]: unknown } | null;
  [key: string]: unknown;
}

/** A resource as returned by `stacks/mock-render.ts` (only the fields used here). */
export interface RenderedResourceLike {
  readonly type: string;
  readonly inputs: Record<string, unknown>;
  readonly name?: string;
  readonly urn?: string;
  /** False for component resources; they are not Kubernetes objects. */
  readonly custom?: boolean;
  /** True for resources the program reads (`.get`) rather than declares. */
  readonly read?: boolean;
}

/** The value `stacks/mock-render.ts` prints in place of every secret. */
const SECRET_PLACEHOLDER = "[secret]";
/** base64 of "[secret]": stands for a secret value in a Secret's `data`. */
const SECRET_PLACEHOLDER_BASE64 = Buffer.from(SECRET_PLACEHOLDER).toString("base64");

/** Thrown when an object does not satisfy its schema, or has no known schema. */
export class KubernetesSchemaError extends Error {
  readonly apiVersion: string;
  readonly kind: string;
  readonly objectName: string | undefined;
  readonly problems: readonly string[];

  constructor(message: string, obj: KubernetesObject, problems: readonly string[]) {
    super(message);
    this.name = "KubernetesSchemaError";
    this.apiVersion = String(obj.apiVersion);
    this.kind = String(obj.kind);
    this.objectName = typeof obj.metadata?.name === "string" ? obj.metadata.name : undefined;
    this.problems = problems;
  }
}

interface ValidateFailure {
  instancePath?: string;
  message?: string;
  keyword?: string;
  params?: Record<string, unknown>;
}

interface ModelClass {
  readonly apiVersion: string;
  readonly kind: string;
  readonly prototype: { validate(): void };
}

function isModelClass(value: unknown): value is ModelClass {
  if (typeof value !== "function") return false;
  const c = value as unknown as Record<string, unknown>;
  return typeof c.apiVersion === "string" && typeof c.kind === "string"
    && typeof (c.prototype as Record<string, unknown> | undefined)?.validate === "function";
}

function registryKey(apiVersion: string, kind: string): string {
  return `${apiVersion} ${kind}`;
}

function buildRegistry(): Map<string, ModelClass> {
  const registry = new Map<string, ModelClass>();
  const seen = new Set<unknown>();
  const walk = (namespace: unknown): void => {
    if (namespace === null || typeof namespace !== "object" || seen.has(namespace)) return;
    seen.add(namespace);
    for (const value of Object.values(namespace)) {
      if (isModelClass(value)) registry.set(registryKey(value.apiVersion, value.kind), value);
      else walk(value);
    }
  };
  walk(kubernetesModels);
  walk(certManagerModels);
  walk(prometheusOperatorModels);
  return registry;
}

const registry = buildRegistry();

/** True when the packages publish a schema for this apiVersion and kind. */
export function hasPublishedSchema(apiVersion: string, kind: string): boolean {
  return registry.has(registryKey(apiVersion, kind));
}

/** Every `apiVersion kind` pair with a published schema, sorted. */
export function knownKinds(): string[] {
  return [...registry.keys()].sort();
}

function describe(obj: KubernetesObject): string {
  const name = typeof obj.metadata?.name === "string" ? `"${obj.metadata.name}"` : "(no metadata.name)";
  const ns = typeof obj.metadata?.namespace === "string" ? `, namespace "${obj.metadata.namespace}"` : "";
  return `${String(obj.kind)} ${name} (${String(obj.apiVersion)}${ns})`;
}

/** "/spec/containers/0/image" -> "spec.containers[0].image". */
function dottedPath(pointer: string): string {
  if (pointer === "") return "(root)";
  let out = "";
  for (const raw of pointer.split("/").slice(1)) {
    const seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(seg)) out += out === "" ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

function formatFailure(f: ValidateFailure): string {
  let msg = f.message ?? f.keyword ?? "is invalid";
  if (f.keyword === "enum" && Array.isArray(f.params?.allowedValues)) msg += ` ${JSON.stringify(f.params.allowedValues)}`;
  return `${dottedPath(f.instancePath ?? "")}: ${msg}`;
}

/**
 * Stand-ins for values `stacks/mock-render.ts` replaced by "[secret]", so that a
 * rendered Secret validates: a whole `data`/`stringData` map that is secret (the
 * Pulumi SDK marks both secret) becomes an empty map; a single secret value in
 * `data` (base64 in the schema) becomes valid base64. `stringData` values are
 * plain strings, so "[secret]" already satisfies them.
 */
function substituteSecretPlaceholders(obj: Record<string, unknown>): void {
  if (obj.apiVersion !== "v1" || obj.kind !== "Secret") return;
  for (const field of ["data", "stringData"]) {
    if (obj[field] === SECRET_PLACEHOLDER) obj[field] = {};
  }
  const data = obj.data;
  if (data !== null && typeof data === "object" && !Array.isArray(data)) {
    const map = data as Record<string, unknown>;
    for (const [k, v] of Object.entries(map)) if (v === SECRET_PLACEHOLDER) map[k] = SECRET_PLACEHOLDER_BASE64;
  }
}

/** Field names the packages' schemas lost (see the header): accepted, unchecked. */
const UNCHECKED_FIELD = /^(description|x-kubernetes-.+)$/;

interface ReadLog {
  readonly reads: WeakMap<object, Set<string>>;
  readonly proxies: WeakMap<object, object>;
}

/** Wraps `value` so that every property the validator reads is recorded. */
function tracked(value: unknown, log: ReadLog): unknown {
  if (value === null || typeof value !== "object") return value;
  const existing = log.proxies.get(value);
  if (existing) return existing;
  const proxy = new Proxy(value, {
    get(target, key, receiver) {
      // Inherited names (hasOwnProperty, constructor...) say nothing about the schema.
      if (typeof key === "string" && (Object.hasOwn(target, key) || !(key in Object.prototype))) {
        let set = log.reads.get(target);
        if (!set) log.reads.set(target, (set = new Set()));
        set.add(key);
      }
      return tracked(Reflect.get(target, key, receiver), log);
    },
  });
  log.proxies.set(value, proxy);
  return proxy;
}

function unknownFields(value: unknown, pointer: string, log: ReadLog, out: string[]): void {
  if (value === null || typeof value !== "object") return;
  if (Array.isArray(value)) {
    value.forEach((item, i) => unknownFields(item, `${pointer}/${i}`, log, out));
    return;
  }
  const reads = log.reads.get(value);
  // Never looked into: free-form in the schema, anything goes below.
  if (!reads || reads.size === 0) return;
  for (const [key, child] of Object.entries(value)) {
    const childPointer = `${pointer}/${key.replace(/~/g, "~0").replace(/\//g, "~1")}`;
    if (UNCHECKED_FIELD.test(key)) continue;
    if (!reads.has(key)) out.push(`${dottedPath(childPointer)}: unknown field "${key}" (not in the schema)`);
    else unknownFields(child, childPointer, log, out);
  }
}

function noSchemaError(obj: KubernetesObject): KubernetesSchemaError {
  const msg = `no published schema known for apiVersion "${String(obj.apiVersion)}", kind "${String(obj.kind)}": ${describe(obj)}`;
  return new KubernetesSchemaError(msg, obj, [msg]);
}

function lookup(obj: KubernetesObject): ModelClass {
  if (typeof obj.apiVersion !== "string" || typeof obj.kind !== "string") {
    const msg = `${describe(obj)}: apiVersion and kind must be strings, so no published schema can be found`;
    throw new KubernetesSchemaError(msg, obj, [msg]);
  }
  const model = registry.get(registryKey(obj.apiVersion, obj.kind));
  if (!model) throw noSchemaError(obj);
  return model;
}

/**
 * Every way `obj` fails its published schema, one line each ("spec.replicas:
 * must be integer", "spec.podSelectr: unknown field ..."); empty when valid.
 * Throws when no schema is known for its apiVersion/kind.
 */
export function schemaProblems(obj: KubernetesObject): string[] {
  const model = lookup(obj);
  // JSON copy: drops `undefined` as the models do, and leaves `obj` untouched.
  const data = JSON.parse(JSON.stringify(obj)) as Record<string, unknown>;
  substituteSecretPlaceholders(data);
  const log: ReadLog = { reads: new WeakMap(), proxies: new WeakMap() };
  const problems: string[] = [];
  try {
    // The models' `validate()` runs the schema's compiled validator on `this`.
    model.prototype.validate.call(tracked(data, log));
  } catch (err) {
    const failures = (err as { errors?: unknown }).errors;
    if (Array.isArray(failures) && failures.length > 0) problems.push(...(failures as ValidateFailure[]).map(formatFailure));
    else problems.push(`(root): ${err instanceof Error ? err.message : String(err)}`);
  }
  unknownFields(data, "", log, problems);
  return [...new Set(problems)];
}

/**
 * Throws a KubernetesSchemaError naming the kind, metadata.name and every
 * validation message when `obj` does not satisfy its published schema
 * (including unknown fields), or when no schema is known for its
 * apiVersion/kind.
 */
export function validateKubernetesObject(obj: KubernetesObject): void {
  const problems = schemaProblems(obj);
  if (problems.length > 0) {
    throw new KubernetesSchemaError(
      `${describe(obj)} does not satisfy its published schema:\n${problems.map((p) => `  - ${p}`).join("\n")}`,
      obj,
      problems,
    );
  }
}

/** The generic token Pulumi's SDK has used for custom resources. */
const GENERIC_CUSTOM_RESOURCE_TYPE = "kubernetes:apiextensions.k8s.io:CustomResource";
const HELM_RELEASE_TYPE = "kubernetes:helm.sh/v3:Release";

/**
 * Cluster-scoped kinds, for which a patch needs no metadata.namespace. Only the
 * well-known ones: a patch of any other kind must name its namespace.
 */
const CLUSTER_SCOPED_KINDS = new Set([
  "Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding", "StorageClass",
  "CustomResourceDefinition", "PriorityClass", "IngressClass", "RuntimeClass", "CSIDriver", "CSINode",
  "VolumeAttachment", "APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
  "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "CertificateSigningRequest",
  "FlowSchema", "PriorityLevelConfiguration", "ClusterIssuer",
]);

/**
 * `kubernetes:<group>/<version>:<Kind>` -> apiVersion and kind; the core group is
 * spelled `core` in tokens and absent from apiVersion. Null for tokens that do
 * not name a Kubernetes object.
 */
export function parsePulumiKubernetesType(type: string): { apiVersion: string; kind: string } | null {
  const m = /^kubernetes:([^:]+)\/([^:/]+):([^:]+)$/.exec(type);
  if (!m) return null;
  const [, group, version, kind] = m as unknown as [string, string, string, string];
  return { apiVersion: group === "core" ? version : `${group}/${version}`, kind };
}

function resourceLabel(r: RenderedResourceLike): string {
  return `${r.type} "${r.name ?? r.urn ?? "?"}"`;
}

/**
 * Checks one rendered resource; returns the kind it checked, or null when the
 * resource is not a Kubernetes object (skipped). Throws on any problem.
 */
function validateRendered(r: RenderedResourceLike): string | null {
  if (!r.type.startsWith("kubernetes:")) return null; // providers are `pulumi:providers:kubernetes`
  if (r.type === HELM_RELEASE_TYPE) return null; // chart values are not Kubernetes objects
  if (r.custom === false) return null; // components (e.g. helm.sh/v4:Chart, yaml/v2:ConfigGroup) only group children
  if (r.read === true) return null; // `.get()` reads an existing object: nothing is sent to validate
  const inputs = r.inputs as KubernetesObject;
  if (r.type === GENERIC_CUSTOM_RESOURCE_TYPE) {
    validateKubernetesObject(inputs);
    return String(inputs.kind);
  }
  const token = parsePulumiKubernetesType(r.type);
  if (!token) throw new Error(`${resourceLabel(r)}: not a kubernetes:<group>/<version>:<Kind> type token, no schema known`);
  const isPatch = token.kind.endsWith("Patch") && inputs.kind === token.kind.slice(0, -"Patch".length);
  const expectedKind = isPatch ? token.kind.slice(0, -"Patch".length) : token.kind;
  const obj: KubernetesObject = { ...inputs, apiVersion: inputs.apiVersion ?? token.apiVersion, kind: inputs.kind ?? expectedKind };
  if (obj.apiVersion !== token.apiVersion || obj.kind !== expectedKind) {
    throw new Error(`${resourceLabel(r)}: inputs say apiVersion "${String(obj.apiVersion)}", kind "${String(obj.kind)}", but the type token says "${token.apiVersion}", "${expectedKind}"`);
  }
  if (isPatch) {
    // Lenient on purpose: a Pulumi *Patch resource (server-side apply) carries
    // only the fields it sets, so the full schema (its required fields) does not
    // apply. Only check that the kind is known and that the patch names its target.
    lookup(obj);
    const name = obj.metadata?.name;
    const namespace = obj.metadata?.namespace;
    const missing: string[] = [];
    if (typeof name !== "string" || name === "") missing.push("metadata.name");
    if (!CLUSTER_SCOPED_KINDS.has(expectedKind) && (typeof namespace !== "string" || namespace === "")) missing.push("metadata.namespace");
    if (missing.length > 0) throw new Error(`${resourceLabel(r)}: a patch must name its target, missing ${missing.join(" and ")}`);
    return expectedKind;
  }
  validateKubernetesObject(obj);
  return expectedKind;
}

/**
 * Validates every rendered Kubernetes object: resources whose type starts with
 * `kubernetes:`, except Helm releases, component resources and read
 * resources (see validateRendered). `kubernetes:apiextensions.k8s.io:CustomResource`
 * is validated by its inputs' apiVersion/kind; `...Patch` types leniently.
 * Throws one error listing every failing resource; returns the distinct kinds
 * checked, in first-seen order.
 */
export function validateRenderedResources(resources: readonly RenderedResourceLike[]): string[] {
  const kinds: string[] = [];
  const failures: string[] = [];
  for (const r of resources) {
    try {
      const kind = validateRendered(r);
      if (kind !== null && !kinds.includes(kind)) kinds.push(kind);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      failures.push(msg.startsWith(r.type) ? msg : `${resourceLabel(r)}: ${msg}`);
    }
  }
  if (failures.length > 0) {
    throw new Error(`${failures.length} rendered resource(s) fail schema validation:\n${failures.join("\n")}`);
  }
  return kinds;
}
