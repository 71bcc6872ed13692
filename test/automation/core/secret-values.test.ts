/**
 * The environment's secrets and masking them in engine text (automation/core/redact.ts):
 * which values count, and how text is masked. Written against the survivors of
 * the redaction-drift mutation group (docs/testing.md).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { plainText, redactSecrets, secretValues } from "../../../automation/core/redact.ts";
import { resolvePlatformSettings } from "../../../model/settings.ts";

/** The names that must stay secret, spelled out: a name dropped from the module's list must fail here. */
const MUST_BE_SECRET = [
  "PULUMI_CONFIG_PASSPHRASE",
  "PULUMI_ACCESS_TOKEN",
  "ARM_CLIENT_SECRET",
  "AZURE_CLIENT_SECRET",
  "ARM_CLIENT_CERTIFICATE_PASSWORD",
  "PGPASSWORD",
  "MATIH_ADMIN_TOKEN",
  "MATIH_READ_TOKENS",
  "DATABASE_URL",
  "MATIH_MIGRATION_DATABASE_URL",
  "SMTP_URL",
  "SMTP_PASSWORD",
  "KAFKA_SASL_PASSWORD",
  "MATIH_PG_ADMIN_PASSWORD",
];

describe("secretValues", () => {
  it.each(MUST_BE_SECRET)("counts %s as secret", (name) => {
    expect(secretValues({ [name]: `value-of-${name}` })).toContain(`value-of-${name}`);
  });

  it("ignores other variables, and values shorter than four characters", () => {
    expect(secretValues({ HOME: "/home/someone", PGPASSWORD: "abc" })).toEqual([]);
    expect(secretValues({ PGPASSWORD: "abcd" })).toEqual(["abcd"]);
  });

  it("adds each entry of a comma-separated list, trimmed, and the whole list", () => {
    expect(secretValues({ MATIH_READ_TOKENS: "token-one-aaaa, token-two-bbbb" }).sort()).toEqual(["token-one-aaaa", "token-one-aaaa, token-two-bbbb", "token-two-bbbb"].sort());
  });

  it("adds a URL's password, as written and decoded, and only a URL's", () => {
    const values = secretValues({ DATABASE_URL: "postgresql://app:p%40ss-word@db:5432/matih" });
    expect(values).toEqual(["postgresql://app:p%40ss-word@db:5432/matih", "p%40ss-word", "p@ss-word"]);
    expect(secretValues({ DATABASE_URL: "postgresql://app@db:5432/matih" })).toEqual(["postgresql://app@db:5432/matih"]);
    // Not a URL: the colon and slashes do not start at a scheme.
    expect(secretValues({ SMTP_PASSWORD: "1x://user:inner-pw@host" })).toEqual(["1x://user:inner-pw@host"]);
    // What `new URL` reads as a URL with a password, the password counts: after leading spaces (an env file's
    // `DATABASE_URL= postgresql://…`) or a control character, and a special scheme without slashes.
    expect(secretValues({ DATABASE_URL: " postgresql://app:lead-space-pw@db:5432/matih" })).toEqual([" postgresql://app:lead-space-pw@db:5432/matih", "lead-space-pw"]);
    expect(secretValues({ DATABASE_URL: "\u0001postgresql://app:ctl-char-pw@db/matih" })).toEqual(["\u0001postgresql://app:ctl-char-pw@db/matih", "ctl-char-pw"]);
    expect(secretValues({ SMTP_URL: "https:user:no-slash-pw@mail" })).toEqual(["https:user:no-slash-pw@mail", "no-slash-pw"]);
    // A value with a scheme but no password in it (a token with a colon): the whole value only.
    expect(secretValues({ MATIH_ADMIN_TOKEN: "token:abcd@efgh" })).toEqual(["token:abcd@efgh"]);
    // A password whose percent-encoding does not decode: as written (decoding it threw, and took the password with it).
    expect(secretValues({ DATABASE_URL: "postgresql://app:pw%zz-long@db:5432/matih" })).toEqual(["postgresql://app:pw%zz-long@db:5432/matih", "pw%zz-long"]);
    // A scheme but not a valid URL: the whole value only.
    expect(secretValues({ SMTP_URL: "smtp://user:pw-pw@[bad" })).toEqual(["smtp://user:pw-pw@[bad"]);
  });

  it("adds the variables the caller names, or the one the settings name for the admin password", () => {
    expect(secretValues({ MY_TOKEN: "my-token-value" }, ["MY_TOKEN"])).toEqual(["my-token-value"]);
    // A name of the settings' own, not the default one (which is on the list anyway).
    const defaults = resolvePlatformSettings();
    const settings = { ...defaults, postgres: { ...defaults.postgres, adminPasswordEnv: "OTHER_PG_ADMIN_PW" } };
    expect(secretValues({ OTHER_PG_ADMIN_PW: "admin-pw-value" }, settings)).toEqual(["admin-pw-value"]);
    expect(secretValues({ OTHER_PG_ADMIN_PW: "admin-pw-value" })).toEqual([]);
  });

  it("adds the passphrase file's content, trimmed, and goes on without it when unreadable", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "secret-values-"));
    const file = path.join(dir, "passphrase");
    writeFileSync(file, "file-passphrase-1234\n");
    expect(secretValues({ PULUMI_CONFIG_PASSPHRASE_FILE: file })).toEqual(["file-passphrase-1234"]);
    expect(secretValues({ PULUMI_CONFIG_PASSPHRASE_FILE: path.join(dir, "missing") })).toEqual([]);
  });

  it("lists each value once", () => {
    expect(secretValues({ PGPASSWORD: "same-value", SMTP_PASSWORD: "same-value" })).toEqual(["same-value"]);
  });
});

describe("redactSecrets", () => {
  it("masks every occurrence, the longest secret first, so that one containing another is masked whole", () => {
    expect(redactSecrets("a pw-12-long and pw-12-long, then pw-12", ["pw-12", "pw-12-long"])).toBe("a [secret] and [secret], then [secret]");
    expect(redactSecrets("pw=pw-12-long", ["pw-12", "pw-12-long"])).toBe("pw=[secret]");
    expect(redactSecrets("nothing here", ["pw-12"])).toBe("nothing here");
  });
});

describe("plainText", () => {
  it("removes Pulumi's colour directives and ANSI escapes, and trims", () => {
    expect(plainText("  <{%fg 1%}>error<{%reset%}>: \u001b[31mboom\u001b[0m \u001b[1;31mx\u001b[m  ")).toBe("error: boom x");
    expect(plainText("<{%%}>keep 100% of it")).toBe("keep 100% of it");
  });
});
