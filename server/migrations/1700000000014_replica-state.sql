-- Up Migration

-- What a tenant's stack needs from the Pulumi CLI's work directory, kept
-- where every service process finds it: any process (on any host) may run
-- the next command on the stack, and its own data directory has neither.

-- The stack's secrets settings, as the CLI keeps them in the stack's settings
-- file (Pulumi.<stack>.yaml): the passphrase provider's salt, or a key vault's
-- URL and the stack's data key wrapped by it. No secret value: the passphrase
-- is never stored, and the wrapped key opens nothing without the key vault.
-- Written after each operation that reports them; restored into the work
-- directory before a command on the stack; removed when the stack is.
CREATE TABLE tenant_stack_settings (
    -- The stack's name: the tenant's slug.
    stack_name        text PRIMARY KEY,
    secrets_provider  text,
    encrypted_key     text,
    encryption_salt   text,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (secrets_provider IS NOT NULL OR encrypted_key IS NOT NULL OR encryption_salt IS NOT NULL)
);

-- The saved plan file's contents (JSON; the Pulumi engine's carries secret
-- values as ciphertext only), so that the process applying an approved change
-- writes the reviewed plan to its own data directory. The `plan` reference
-- holds its SHA-256, checked before the plan is used.
ALTER TABLE tenant_changes ADD COLUMN plan_content text;

-- Down Migration

ALTER TABLE tenant_changes DROP COLUMN plan_content;
DROP TABLE tenant_stack_settings;
