/**
 * Keeps secret values out of events, logs and errors. Pulumi already masks
 * values it knows are secret; this catches the ones it cannot know about, such
 * as a passphrase or admin password echoed in a provider's error message.
 */
import { readFileSync } from "node:fs";
import type { PlatformSettings } from "../../model/settings.ts";

import { SECRET_PLACEHOLDER } from "../../model/constants.ts";

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
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    try {
      const password = new URL(value).password;
      if (password) out.push(password, decodeURIComponent(password));
    } catch {
      // Not a URL after all: the whole value is still redacted.
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
