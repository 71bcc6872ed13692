/**
 * Each tenant stack's secrets settings (tenant_stack_settings), kept for
 * every service process: the Pulumi CLI keeps them in the stack's settings
 * file in one host's work directory, and a process on another host would
 * otherwise make new ones (a new passphrase salt, or the passphrase provider
 * in place of a key vault). The run executor passes them with each operation
 * and records what the operation reports. No secret value is stored.
 */
import type { StackSecretsSettings } from "../../automation/index.ts";
import type { Queryable } from "./pool.ts";

/** The recorded settings of the stack named `stackName` (the tenant's slug), or null. */
export async function findStackSettings(db: Queryable, stackName: string): Promise<StackSecretsSettings | null> {
  const { rows } = await db.query(
    `SELECT secrets_provider AS "secretsProvider", encrypted_key AS "encryptedKey", encryption_salt AS "encryptionSalt" FROM tenant_stack_settings WHERE stack_name = $1`,
    [stackName],
  );
  const row = rows[0] as Record<string, string | null> | undefined;
  if (!row) return null;
  return Object.fromEntries(Object.entries(row).filter(([, v]) => typeof v === "string" && v !== "")) as StackSecretsSettings;
}

/**
 * Records what an operation reported, when it says something and differs
 * from the record (settings only change when a stack is created). Returns
 * whether the record changed.
 */
export async function recordStackSettings(db: Queryable, stackName: string, settings: StackSecretsSettings): Promise<boolean> {
  const values = [settings.secretsProvider || null, settings.encryptedKey || null, settings.encryptionSalt || null];
  if (values.every((v) => v === null)) return false;
  const { rowCount } = await db.query(
    `INSERT INTO tenant_stack_settings AS s (stack_name, secrets_provider, encrypted_key, encryption_salt, updated_at)
     VALUES ($1, $2, $3, $4, now())
     ON CONFLICT (stack_name) DO UPDATE SET secrets_provider = EXCLUDED.secrets_provider, encrypted_key = EXCLUDED.encrypted_key,
       encryption_salt = EXCLUDED.encryption_salt, updated_at = now()
     WHERE (s.secrets_provider, s.encrypted_key, s.encryption_salt) IS DISTINCT FROM (EXCLUDED.secrets_provider, EXCLUDED.encrypted_key, EXCLUDED.encryption_salt)`,
    [stackName, ...values],
  );
  return (rowCount ?? 0) > 0;
}

/** The stack is gone (torn down): its settings with it. */
export async function deleteStackSettings(db: Queryable, stackName: string): Promise<void> {
  await db.query(`DELETE FROM tenant_stack_settings WHERE stack_name = $1`, [stackName]);
}
