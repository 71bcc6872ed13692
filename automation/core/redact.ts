/**
 * The one place that decides what is secret and masks it: in engine text
 * (a passphrase or admin password echoed in a provider's error message), in
 * previews and drift checks (both engines), and in what the service stores,
 * sends and logs (changes, drift history, audit rows, outbox events and mails,
 * log lines). Pulumi already masks values it knows are secret; this catches
 * the ones it cannot know about or that lost their marking.
 */
import { readFileSync } from "node:fs";
import type { PlatformSettings } from "../../model/settings.ts";

import { SECRET_PLACEHOLDER } from "../../model/constants.ts";
import { pathIsWithin } from "./property-paths.ts";

/** Environment variables whose values are always secret: the engine's and the providers', and the service's own. */
export const SECRET_ENV_VARS = [
  "PULUMI_CONFIG_PASSPHRASE",
  "PULUMI_ACCESS_TOKEN",
  "ARM_CLIENT_SECRET",
  "AZURE_CLIENT_SECRET",
  "ARM_CLIENT_CERTIFICATE_PASSWORD",
  "PGPASSWORD",
  // The service's: bearer tokens (comma-separated lists), database URLs, mail and Kafka passwords.
  "MATIH_ADMIN_TOKEN",
  "MATIH_READ_TOKENS",
  "DATABASE_URL",
  "MATIH_MIGRATION_DATABASE_URL",
  // Backups: the login that dumps tenant schemas, and the backup container's SAS token.
  "MATIH_TENANT_DATABASE_URL",
  "MATIH_BACKUP_AZURE_SAS_TOKEN",
  "SMTP_URL",
  "SMTP_PASSWORD",
  "KAFKA_SASL_PASSWORD",
  // The platform settings' default name for the shared Postgres admin password.
  "MATIH_PG_ADMIN_PASSWORD",
] as const;

/** A value and the secrets inside it: each entry of a comma-separated token list, and a URL's password. */
function secretsIn(value: string): string[] {
  const out = [value];
  if (value.includes(",")) out.push(...value.split(",").map((v) => v.trim()));
  // Every value `new URL` reads, not only those that look like one to a pattern: it also reads a URL after leading
  // spaces or control characters (an env file's `DATABASE_URL= postgresql://…`) and `https:user:pw@host`.
  let password = "";
  try {
    password = new URL(value).password;
  } catch {
    // Not a URL: the whole value is still redacted.
  }
  if (password) {
    out.push(password);
    try {
      out.push(decodeURIComponent(password));
    } catch {
      // Bad percent-encoding (`pw%zz`): the password as written is still redacted.
    }
  }
  return out;
}

/**
 * The secret values present in this environment: the variables above, the
 * Postgres admin password the settings name (or `extraNames`), and the
 * passphrase file's content.
 */
export function secretValues(env: NodeJS.ProcessEnv, extra?: PlatformSettings | readonly string[]): string[] {
  const names: string[] = [...SECRET_ENV_VARS];
  if (Array.isArray(extra)) names.push(...extra);
  else if (extra) names.push((extra as PlatformSettings).postgres.adminPasswordEnv);
  const values = names.map((n) => env[n]).filter((v): v is string => typeof v === "string").flatMap(secretsIn);
  if (env.PULUMI_CONFIG_PASSPHRASE_FILE) {
    try {
      values.push(readFileSync(env.PULUMI_CONFIG_PASSPHRASE_FILE, "utf8").trim());
    } catch {
      // Unreadable here means unreadable for the CLI too; it will say so.
    }
  }
  // Very short values would redact ordinary words; nobody uses a 3-character secret in production.
  return [...new Set(values.filter((v) => v.length >= 4))];
}

export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) out = out.split(secret).join(SECRET_PLACEHOLDER);
  return out;
}

/** Removes Pulumi's colour directives (`<{%reset%}>`) and ANSI escapes from engine text. */
export function plainText(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/<\{%[^%]*%\}>/g, "").replace(/\u001b\[[0-9;]*m/g, "").trim();
}

/*
 * Secret values in structured results: previews, changes, drift checks, and
 * anything the service stores, sends or logs. A value is secret because of
 * what it is, never because of its property's name:
 *
 * - it carries Pulumi's secret marker: the wire form {[sig]: secretSig, value}
 *   or the "[secret]" the engine and the render put in its place; where one
 *   side of a diff carries the marker, the other side's value at that place is
 *   the secret in clear (a hand edit, a refresh that lost the marking);
 * - it sits under a property that holds secrets by its resource's type
 *   (SECRET_PROPERTIES): every key of a Kubernetes Secret, the outputs of a
 *   `random` password;
 * - it equals, or contains, a secret value already known: the service's own
 *   (secretValues) and every value the first two rules found in the same
 *   result, wherever it appears (a ConfigMap line that echoes a password).
 *
 * Keys and property paths are names, not secrets, and stay readable.
 */

/** Pulumi's marker for a secret on the wire: `@pulumi/pulumi`'s `runtime.specialSigKey` and `runtime.specialSecretSig`. */
export const PULUMI_SIG_KEY = "4dabf18193072939515e22adb298388d";
export const PULUMI_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** Properties whose values are secret by their resource's type, whatever the engine marked. */
export const SECRET_PROPERTIES: Readonly<Record<string, readonly string[]>> = {
  "kubernetes:core/v1:Secret": ["data", "stringData"],
  "random:index/randomPassword:RandomPassword": ["result", "bcryptHash"],
};

/** Shorter values would redact ordinary words and numbers wherever they appear. */
const MIN_SECRET_LENGTH = 4;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Whether the value is a secret as Pulumi marks one: its wire form, or the "[secret]" put in its place. */
function isSecretMarker(value: unknown): boolean {
  return value === SECRET_PLACEHOLDER || (isPlainObject(value) && value[PULUMI_SIG_KEY] === PULUMI_SECRET_SIG);
}

/** Whether the value is, or holds anywhere inside it, a marked secret. */
function holdsMarker(value: unknown): boolean {
  if (isSecretMarker(value)) return true;
  if (Array.isArray(value)) return value.some(holdsMarker);
  if (isPlainObject(value)) return Object.values(value).some(holdsMarker);
  return false;
}

/** Whether the property at `path` of a resource of `type` holds secrets (or lies above properties that do). */
function isSecretProperty(type: string, path: string): boolean {
  return (SECRET_PROPERTIES[type] ?? []).some((secret) => path === "" || pathIsWithin(path, secret) || pathIsWithin(secret, path));
}

/** The text a Kubernetes Secret's `data` value stands for, when it is base64 of printable text. */
function base64Text(value: string): string | null {
  if (value.length < 8 || value.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return null;
  const text = Buffer.from(value, "base64").toString("utf8");
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u0008\u000e-\u001f\ufffd]/.test(text) ? null : text;
}

/** Adds every string inside a secret value (and what a base64 one encodes) to `into`. */
function learnAll(value: unknown, into: Set<string>): void {
  if (typeof value === "string") {
    if (value.length >= MIN_SECRET_LENGTH && value !== SECRET_PLACEHOLDER) into.add(value);
    const decoded = base64Text(value);
    if (decoded !== null && decoded.length >= MIN_SECRET_LENGTH) into.add(decoded);
  } else if (isPlainObject(value) && value[PULUMI_SIG_KEY] === PULUMI_SECRET_SIG) learnAll(value.value, into);
  else if (Array.isArray(value)) for (const v of value) learnAll(v, into);
  else if (isPlainObject(value)) for (const v of Object.values(value)) learnAll(v, into);
}

/** Where `marked` carries a marker, the value at the same place in `other` is the secret in clear. */
function learnOpposite(marked: unknown, other: unknown, into: Set<string>): void {
  if (isSecretMarker(marked)) {
    learnAll(other, into);
    if (isPlainObject(marked)) learnAll(marked, into); // a wire marker carries its own value
    return;
  }
  if (Array.isArray(marked) && Array.isArray(other)) marked.forEach((m, i) => learnOpposite(m, other[i], into));
  else if (isPlainObject(marked) && isPlainObject(other)) for (const [k, m] of Object.entries(marked)) learnOpposite(m, other[k], into);
  else learnMarked(marked, into);
}

/** The values inside wire markers, which carry their secret with them. */
function learnMarked(value: unknown, into: Set<string>): void {
  if (isPlainObject(value) && value[PULUMI_SIG_KEY] === PULUMI_SECRET_SIG) learnAll(value.value, into);
  else if (Array.isArray(value)) for (const v of value) learnMarked(v, into);
  else if (isPlainObject(value)) for (const v of Object.values(value)) learnMarked(v, into);
}

/**
 * Masks known secret values inside any JSON-like value: each string that
 * contains one has it replaced by "[secret]", a wire marker becomes
 * "[secret]"; keys are kept. Objects other than plain ones and arrays (a
 * request, a stream) are left alone, except an Error, whose message and stack
 * are masked. Returns the value itself when there was nothing to mask.
 */
export class SecretRedactor {
  private readonly secrets: readonly string[];

  constructor(secrets: Iterable<string>) {
    // Longest first, so that a secret containing another is masked whole.
    this.secrets = [...new Set([...secrets].filter((s) => s.length >= MIN_SECRET_LENGTH && s !== SECRET_PLACEHOLDER))].sort((a, b) => b.length - a.length);
  }

  text(text: string): string {
    let out = text;
    for (const secret of this.secrets) if (out.includes(secret)) out = out.split(secret).join(SECRET_PLACEHOLDER);
    return out;
  }

  value<T>(value: T): T {
    return this.walk(value, new WeakSet()) as T;
  }

  private walk(value: unknown, seen: WeakSet<object>): unknown {
    if (typeof value === "string") return this.text(value);
    if (value === null || typeof value !== "object") return value;
    if (seen.has(value)) return value;
    seen.add(value);
    if (isSecretMarker(value)) return SECRET_PLACEHOLDER;
    if (Array.isArray(value)) {
      const out = value.map((v) => this.walk(v, seen));
      return out.some((v, i) => v !== value[i]) ? out : value;
    }
    if (value instanceof Error) {
      const message = this.text(value.message);
      const stack = value.stack === undefined ? undefined : this.text(value.stack);
      if (message === value.message && stack === value.stack) return value;
      const copy = Object.assign(Object.create(Object.getPrototypeOf(value) as object) as Error, value);
      Object.defineProperty(copy, "message", { value: message, enumerable: false, writable: true, configurable: true });
      Object.defineProperty(copy, "stack", { value: stack, enumerable: false, writable: true, configurable: true });
      return copy;
    }
    if (!isPlainObject(value)) return value;
    let changed = false;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = this.walk(v, seen);
      if (out[k] !== v) changed = true;
    }
    return changed ? out : value;
  }
}

/** One changed property with its value on each side; a side that is absent stays absent. */
interface SidedValue {
  readonly path: string;
  readonly sides: readonly [unknown, unknown];
}

/**
 * The secret values a set of changed properties reveals (the second rule
 * above), and for each property whether it is secret as a whole.
 */
function secretsOf(resources: readonly { type: string; values: readonly SidedValue[] }[], known: Iterable<string>): { secrets: Set<string>; secret: (type: string, value: SidedValue) => boolean } {
  const secrets = new Set(known);
  const secret = (type: string, { path, sides: [a, b] }: SidedValue) => isSecretProperty(type, path) || holdsMarker(a) || holdsMarker(b);
  for (const { type, values } of resources) {
    for (const value of values) {
      const [a, b] = value.sides;
      if (isSecretProperty(type, value.path)) {
        learnAll(a, secrets);
        learnAll(b, secrets);
      } else {
        learnOpposite(a, b, secrets);
        learnOpposite(b, a, secrets);
      }
    }
  }
  return { secrets, secret };
}

/** A change of a preview as far as redaction goes: its type and its properties' values before and after. */
export interface ChangeWithDiffs {
  readonly type: string;
  readonly diffs?: readonly { readonly path: string; readonly old?: unknown; readonly new?: unknown }[] | undefined;
}

/**
 * A preview's changes with every secret value shown as "[secret]": a secret
 * property on both sides (so a reviewer sees that a secret key changes, not
 * to what), and known secrets, and those the changes reveal, wherever they
 * appear. `known`: the secrets of the environment (secretValues).
 */
export function redactResourceChanges<C extends ChangeWithDiffs>(changes: readonly C[], known: Iterable<string> = []): C[] {
  const sided = changes.map((c) => ({ type: c.type, values: (c.diffs ?? []).map((d) => ({ path: d.path, sides: [d.old, d.new] as const })) }));
  const { secrets, secret } = secretsOf(sided, known);
  const redactor = new SecretRedactor(secrets);
  const mask = (v: unknown, whole: boolean) => (whole ? SECRET_PLACEHOLDER : redactor.value(v));
  return changes.map((c, i) => {
    if (!c.diffs) return c;
    const diffs = c.diffs.map((d, j) => {
      const whole = secret(c.type, sided[i]!.values[j]!);
      return { ...d, ...("old" in d && d.old !== undefined ? { old: mask(d.old, whole) } : {}), ...("new" in d && d.new !== undefined ? { new: mask(d.new, whole) } : {}) };
    });
    return { ...c, diffs };
  });
}

/** A drifted resource as far as redaction goes: its type and each property's recorded and actual value (null: none). */
export interface DriftWithDifferences {
  readonly type: string;
  readonly differences?: readonly { readonly path: string; readonly recorded: unknown; readonly actual: unknown }[] | undefined;
}

/** A drift check's resources with every secret value shown as "[secret]", by the same rules as redactResourceChanges. */
export function redactDriftedResources<D extends DriftWithDifferences>(drifted: readonly D[], known: Iterable<string> = []): D[] {
  const sided = drifted.map((d) => ({ type: d.type, values: (d.differences ?? []).map((p) => ({ path: p.path, sides: [p.recorded, p.actual] as const })) }));
  const { secrets, secret } = secretsOf(sided, known);
  const redactor = new SecretRedactor(secrets);
  const mask = (v: unknown, whole: boolean) => (v === null || v === undefined ? null : whole ? SECRET_PLACEHOLDER : redactor.value(v));
  return drifted.map((d, i) => {
    if (!d.differences) return d;
    const differences = d.differences.map((p, j) => {
      const whole = secret(d.type, sided[i]!.values[j]!);
      return { ...p, recorded: mask(p.recorded, whole), actual: mask(p.actual, whole) };
    });
    return { ...d, differences };
  });
}

/**
 * The secret values this process knows of, masked by `redactValue` in
 * whatever it stores, sends or logs: the service registers its environment's
 * (secretValues) at start. Values only; never written anywhere.
 */
const knownSecretValues = new Set<string>();
let knownRedactor = new SecretRedactor([]);

export function rememberSecrets(values: Iterable<string>): void {
  for (const value of values) if (value.length >= MIN_SECRET_LENGTH && value !== SECRET_PLACEHOLDER) knownSecretValues.add(value);
  knownRedactor = new SecretRedactor(knownSecretValues);
}

export function knownSecrets(): readonly string[] {
  return [...knownSecretValues];
}

/** The value with every secret this process knows of (and any wire marker) masked; see SecretRedactor. */
export function redactValue<T>(value: T): T {
  return knownRedactor.value(value);
}
