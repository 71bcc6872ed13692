import { isTier, TIERS, type Tier } from "./tiers.ts";
import { AZURE_REGIONS } from "./regions.ts";

/** What a caller asks for: the body of `POST /api/v1/tenants`, and the input part of a spec. */
export interface TenantRequest {
  /** Short name: becomes the namespace `matih-{slug}`, the DNS label and the database schema. */
  readonly slug: string;
  readonly displayName: string;
  readonly tier: Tier;
  /** Azure region name, e.g. `eastus`. */
  readonly region: string;
  /** Receives the completion and failure mails. */
  readonly adminEmail: string;
}

/** The fields of a tenant request, in the order problems are listed. */
export const TENANT_REQUEST_FIELDS = ["slug", "displayName", "tier", "region", "adminEmail"] as const satisfies readonly (keyof TenantRequest)[];

/**
 * One tenant as it is provisioned: the request, plus who asked and when. It
 * is stored as requested and read back unchanged for every later operation.
 */
export interface TenantSpec extends TenantRequest {
  /** Tenant id (UUID) assigned when the tenant is requested. */
  readonly id: string;
  /** Who asked for the tenant (recorded in the `matih.ai/provisioned-by` annotation). */
  readonly requestedBy: string;
  /**
   * When the tenant was requested (ISO 8601), recorded in the
   * `matih.ai/provisioned-at` annotation. Taken from the request rather than the
   * clock so that re-running the program does not show a change.
   */
  readonly requestedAt: string;
}

export interface ValidationProblem {
  /** The input field the problem is about, e.g. `slug`. */
  readonly field: string;
  readonly message: string;
}

/** Thrown when a spec or settings fail validation; lists every problem at once. */
export class ValidationError extends Error {
  readonly problems: readonly ValidationProblem[];
  /** What was validated, e.g. "tenant spec" or "platform settings". */
  readonly subject: string;
  constructor(problems: readonly ValidationProblem[], subject = "tenant spec") {
    super(`invalid ${subject}: ${problems.map((p) => `${p.field}: ${p.message}`).join("; ")}`);
    this.name = "ValidationError";
    this.problems = problems;
    this.subject = subject;
  }
}

/**
 * Slugs that would collide with platform names, shared host names under the
 * base domain, or Kubernetes and PostgreSQL system names.
 */
export const RESERVED_SLUGS: ReadonlySet<string> = new Set([
  "admin", "api", "app", "apps", "auth", "bi", "billing", "blog", "cdn", "console", "control-plane",
  "dashboard", "default", "dev", "docs", "ftp", "grafana", "help", "internal", "kube", "kube-node-lease",
  "kube-public", "kube-system", "login", "loki", "mail", "matih", "monitoring", "mx", "ns", "ns1", "ns2",
  "observability", "platform", "postgres", "prometheus", "public", "root", "smtp", "staging", "status",
  "support", "system", "tempo", "tenant", "tenants", "test", "www",
]);

/** Namespace prefix; the namespace is `matih-{slug}`. */
export const NAMESPACE_PREFIX = "matih-";
/** Postgres identifiers are at most 63 bytes (NAMEDATALEN - 1). */
const PG_IDENTIFIER_MAX = 63;
/** Longest name derived from the slug: the enterprise server `matih-{slug}-pg` (Azure allows 63). */
export const SLUG_MAX_LENGTH = 63 - NAMESPACE_PREFIX.length - "-pg".length;
export const SLUG_MIN_LENGTH = 3;
export const DISPLAY_NAME_MAX_LENGTH = 200;
/** RFC 5321's limit on a forward path. */
export const EMAIL_MAX_LENGTH = 254;
export const REQUESTED_BY_MAX_LENGTH = 254;

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
/** Anything shaped like a UUID, whatever its version: the service looks such values up as tenant ids. */
const UUID_SHAPED = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/**
 * Line breaks, control characters, bidirectional overrides, unassigned and
 * private-use code points: a display name is one line of printable text, since
 * it is shown in mails and dashboards under the platform's name.
 */
const NOT_PRINTABLE = /[\p{Cc}\p{Zl}\p{Zp}\p{Cs}\p{Co}\p{Cn}\u202A-\u202E\u2066-\u2069]/u;
const NOT_ONE_LINE = "must be one line of printable text (no line breaks, control or direction-override characters)";
/**
 * Text that shows nothing: white space, code points that render as nothing
 * (zero-width spaces and joiners, Hangul fillers, soft hyphens, variation
 * selectors) and the blank Braille pattern, which fonts draw empty. A name of
 * only these would appear blank in a mail or the dashboard.
 */
const INVISIBLE_ONLY = /^[\p{White_Space}\p{Default_Ignorable_Code_Point}\u2800]*$/u;

/**
 * Why `text` is not one line of printable, visible text, or null when it is:
 * the rule for display names, and for any free text an admin writes that
 * reaches a mail, an event or the dashboard (a change's reason).
 */
export function printableLineProblem(text: string): string | null {
  if (NOT_PRINTABLE.test(text)) return NOT_ONE_LINE;
  if (INVISIBLE_ONLY.test(text)) return "must hold visible text, not only blank or invisible characters";
  return null;
}
// Deliberately simple: one @, no spaces, a dot in the domain. Deliverability is the mailer's job.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** `matih-{slug}` */
export function namespaceName(slug: string): string {
  return `${NAMESPACE_PREFIX}${slug}`;
}

/** The Postgres schema and role name for a slug: `tenant_{slug}` with hyphens as underscores. */
export function postgresIdentifier(slug: string): string {
  return `tenant_${slug.replaceAll("-", "_")}`;
}

/** Problems with a slug alone, each naming the `slug` field. */
export function slugProblems(slug: unknown, baseDomain: string): ValidationProblem[] {
  const field = "slug";
  if (typeof slug !== "string" || slug.length === 0) return [{ field, message: "is required" }];
  const problems: ValidationProblem[] = [];
  if (slug.length < SLUG_MIN_LENGTH || slug.length > SLUG_MAX_LENGTH) {
    problems.push({ field, message: `must be ${SLUG_MIN_LENGTH} to ${SLUG_MAX_LENGTH} characters (namespace "${namespaceName("")}…" is limited to 63), got ${slug.length}` });
  }
  if (!DNS_LABEL.test(slug)) {
    problems.push({ field, message: "must be lowercase letters, digits and hyphens, starting and ending with a letter or digit (a DNS label and Kubernetes name)" });
  } else if (slug.includes("--")) {
    problems.push({ field, message: "must not contain consecutive hyphens (reserved for internationalised DNS labels)" });
  }
  if (/^[0-9]/.test(slug)) {
    problems.push({ field, message: "must start with a letter (it becomes a PostgreSQL identifier)" });
  }
  if (UUID_SHAPED.test(slug)) {
    // A tenant is addressed by id or slug in one path segment; a UUID-shaped slug could name another tenant's id.
    problems.push({ field, message: "must not look like a UUID (tenants are looked up by id or slug in the same place)" });
  }
  if (RESERVED_SLUGS.has(slug) || slug.startsWith("kube-") || slug.startsWith("matih")) {
    problems.push({ field, message: `"${slug}" is reserved` });
  }
  if (new TextEncoder().encode(postgresIdentifier(slug)).length > PG_IDENTIFIER_MAX) {
    problems.push({ field, message: `maps to PostgreSQL identifier "${postgresIdentifier(slug)}", longer than ${PG_IDENTIFIER_MAX} bytes` });
  }
  // The longest host name the program creates is `*.{slug}.{baseDomain}` and `bi.{slug}.{baseDomain}`.
  if (`api.${slug}.${baseDomain}`.length > 253) {
    problems.push({ field, message: `makes host names under "${baseDomain}" longer than 253 characters` });
  }
  return problems;
}

function isRecord(input: unknown): input is Record<string, unknown> {
  return typeof input === "object" && input !== null && !Array.isArray(input);
}

/** Problems with one text field: absent, not a string, blank or too long. */
/**
 * Length as people (and the API's JSON Schema validator) count it: code
 * points, so an emoji is one character, not two UTF-16 units.
 */
export function characters(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

function textProblem(value: unknown, maxLength: number, required = "is required"): string | null {
  if (value === undefined || value === null) return required;
  if (typeof value !== "string") return `must be a string, got ${Array.isArray(value) ? "an array" : typeof value}`;
  if (value.trim().length === 0) return required;
  if (characters(value) > maxLength) return `must be at most ${maxLength} characters`;
  // PostgreSQL text cannot hold U+0000.
  if (value.includes("\u0000")) return "must not contain NUL characters (\\u0000)";
  return null;
}

interface SpecOptions {
  baseDomain: string;
  allowedRegions?: readonly string[];
}

/** Every problem with the request fields of `s`, in field order. */
function requestFieldProblems(s: Record<string, unknown>, options: SpecOptions): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  const regions = options.allowedRegions ?? AZURE_REGIONS;
  problems.push(...slugProblems(s.slug, options.baseDomain));
  // NUL is one of the control characters a display name may not hold: one message says why for all of them.
  const displayName = typeof s.displayName === "string" && NOT_PRINTABLE.test(s.displayName)
    ? NOT_ONE_LINE
    : textProblem(s.displayName, DISPLAY_NAME_MAX_LENGTH) ?? printableLineProblem(s.displayName as string);
  if (displayName) problems.push({ field: "displayName", message: displayName });
  if (!isTier(s.tier)) problems.push({ field: "tier", message: `must be one of ${TIERS.join(", ")}` });
  if (typeof s.region !== "string" || !regions.includes(s.region)) {
    problems.push({ field: "region", message: `must be a supported Azure region (for example ${regions.slice(0, 3).join(", ")}), got ${JSON.stringify(s.region ?? null)}` });
  }
  if (typeof s.adminEmail === "string" && s.adminEmail.includes("\u0000")) {
    problems.push({ field: "adminEmail", message: "must not contain NUL characters (\\u0000)" });
  } else if (typeof s.adminEmail !== "string" || !EMAIL.test(s.adminEmail) || characters(s.adminEmail) > EMAIL_MAX_LENGTH) {
    problems.push({ field: "adminEmail", message: "must be an e-mail address" });
  }
  return problems;
}

/**
 * Every problem with a tenant request (the API body), in readable words and
 * all at once: unknown fields, missing or mistyped ones, and each field's rule.
 */
export function tenantRequestProblems(input: unknown, options: SpecOptions): ValidationProblem[] {
  if (!isRecord(input)) return [{ field: "(body)", message: "must be a JSON object with the fields " + TENANT_REQUEST_FIELDS.join(", ") }];
  const known = new Set<string>(TENANT_REQUEST_FIELDS);
  const unknown = Object.keys(input).filter((k) => !known.has(k)).map((field) => ({ field, message: "is not a known field" }));
  return [...requestFieldProblems(input, options), ...unknown];
}

/** Checks a tenant request and returns it typed and trimmed, or throws a ValidationError listing every problem. */
export function validateTenantRequest(input: unknown, options: SpecOptions): TenantRequest {
  const problems = tenantRequestProblems(input, options);
  if (problems.length > 0) throw new ValidationError(problems, "tenant request");
  const s = input as Record<string, unknown>;
  return { slug: s.slug as string, displayName: (s.displayName as string).trim(), tier: s.tier as Tier, region: s.region as string, adminEmail: s.adminEmail as string };
}

/** `requestedAt` as stored in a spec: ISO 8601 in UTC, without milliseconds when there are none. */
export function specTimestamp(at: Date): string {
  return at.toISOString().replace(/\.000Z$/, "Z");
}

/** The spec of an accepted request (validated by validateTenantRequest): who asked, and when. */
export function tenantSpecFor(request: TenantRequest, origin: { id: string; requestedBy: string; requestedAt: Date }): TenantSpec {
  return { ...request, id: origin.id.toLowerCase(), requestedBy: origin.requestedBy, requestedAt: specTimestamp(origin.requestedAt) };
}

/**
 * Checks a candidate tenant spec and returns it typed, or throws a
 * ValidationError naming every field at fault. Nothing is created for a spec
 * that fails here: the engine validates before it runs the program.
 */
export function validateTenantSpec(input: unknown, options: SpecOptions): TenantSpec {
  if (!isRecord(input)) throw new ValidationError([{ field: "(spec)", message: "must be an object" }]);
  const s = input;
  const problems: ValidationProblem[] = [];
  if (typeof s.id !== "string" || !UUID.test(s.id)) problems.push({ field: "id", message: "must be a UUID" });
  problems.push(...requestFieldProblems(s, options));
  if (textProblem(s.requestedBy, REQUESTED_BY_MAX_LENGTH)) {
    problems.push({ field: "requestedBy", message: "is required (who asked for the tenant)" });
  }
  if (typeof s.requestedAt !== "string" || Number.isNaN(Date.parse(s.requestedAt))) {
    problems.push({ field: "requestedAt", message: "must be an ISO 8601 timestamp" });
  }
  if (problems.length > 0) throw new ValidationError(problems);
  return {
    id: (s.id as string).toLowerCase(),
    slug: s.slug as string,
    displayName: (s.displayName as string).trim(),
    tier: s.tier as Tier,
    region: s.region as string,
    adminEmail: s.adminEmail as string,
    requestedBy: s.requestedBy as string,
    requestedAt: specTimestamp(new Date(s.requestedAt as string)),
  };
}
