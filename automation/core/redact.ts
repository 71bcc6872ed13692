/**
 * Keeps secret values out of events, logs and errors. Pulumi already masks
 * values it knows are secret; this catches the ones it cannot know about, such
 * as a passphrase or admin password echoed in a provider's error message.
 */
import { readFileSync } from "node:fs";
import type { PlatformSettings } from "../../model/settings.ts";

import { SECRET_PLACEHOLDER } from "../../model/constants.ts";

/** Environment variables whose values are always secret. */
export const SECRET_ENV_VARS = [
  "PULUMI_CONFIG_PASSPHRASE",
  "PULUMI_ACCESS_TOKEN",
  "ARM_CLIENT_SECRET",
  "AZURE_CLIENT_SECRET",
  "ARM_CLIENT_CERTIFICATE_PASSWORD",
  "PGPASSWORD",
] as const;

/** The secret values present in this environment, including the Postgres admin password the settings name. */
export function secretValues(env: NodeJS.ProcessEnv, settings?: PlatformSettings): string[] {
  const names: string[] = [...SECRET_ENV_VARS];
  if (settings) names.push(settings.postgres.adminPasswordEnv);
  const values = names.map((n) => env[n]);
  if (env.PULUMI_CONFIG_PASSPHRASE_FILE) {
    try {
      values.push(readFileSync(env.PULUMI_CONFIG_PASSPHRASE_FILE, "utf8").trim());
    } catch {
      // Unreadable here means unreadable for the CLI too; it will say so.
    }
  }
  // Very short values would redact ordinary words; nobody uses a 3-character secret in production.
  return values.filter((v): v is string => typeof v === "string" && v.length >= 4);
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
