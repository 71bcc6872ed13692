/** The one redaction module: what counts as secret, and masking it in previews, drift and any other value. */
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import {
  PULUMI_SECRET_SIG,
  PULUMI_SIG_KEY,
  SecretRedactor,
  knownSecrets,
  redactDriftedResources,
  redactResourceChanges,
  redactValue,
  rememberSecrets,
} from "../../../automation/core/redact.ts";

const SECRET_KEY_CANARY = "canary-secret-key-7Qe2";
const RANDOM_CANARY = "canary-random-result-Vb91";
const NOTE_CANARY = "canary-data-note-Lp44";
const ENV_CANARY = "canary-env-admin-pw-Zx03";

const urn = (type: string, name: string) => `urn:pulumi:acme::matih-tenants::${type}::${name}`;
const change = (type: string, name: string, diffs: { path: string; old?: unknown; new?: unknown }[]) => ({ urn: urn(type, name), type, diffs });

describe("what is secret", () => {
  it("uses Pulumi's own secret marker", () => {
    expect(PULUMI_SIG_KEY).toBe(pulumi.runtime.specialSigKey);
    expect(PULUMI_SECRET_SIG).toBe(pulumi.runtime.specialSecretSig);
  });
});

describe("redactResourceChanges", () => {
  const changes = [
    // Drift changed the Secret in the cluster: the old side holds the value in clear (issue 26).
    change("kubernetes:core/v1:Secret", "database-credentials", [
      { path: "stringData.POSTGRES_PASSWORD", old: SECRET_KEY_CANARY, new: "[secret]" },
      { path: "stringData.DATABASE_URL", old: `postgres://app:${SECRET_KEY_CANARY}@pg:5432/acme`, new: "[secret]" },
      // A key added by hand: secret too, as every key of a Secret is.
      { path: "data.EXTRA", old: Buffer.from("canary-b64-decoded-Rt5").toString("base64") },
    ]),
    change("random:index/randomPassword:RandomPassword", "database-role-password", [
      { path: "result", old: RANDOM_CANARY },
      { path: "length", old: 32, new: 40 },
    ]),
    // A secret at an ordinary-looking path: only Pulumi's marker on the other side says so.
    change("kubernetes:core/v1:ConfigMap", "settings", [
      { path: "data.note", old: NOTE_CANARY, new: "[secret]" },
      { path: "data.wire", old: "in-clear-wire-canary", new: { [PULUMI_SIG_KEY]: PULUMI_SECRET_SIG, value: "wire-marked-canary" } },
      // Lines that echo secrets found elsewhere in the preview, or known to the service.
      { path: 'data["app.properties"]', old: `db.password=${SECRET_KEY_CANARY}\nrole=${RANDOM_CANARY}\nnote=${NOTE_CANARY}\nadmin=${ENV_CANARY}\nold=canary-b64-decoded-Rt5\n`, new: "db.password=\nrole=\n" },
      { path: "data.mode", old: "ro", new: "rw" },
    ]),
  ];
  const redacted = redactResourceChanges(changes, [ENV_CANARY]);
  const text = JSON.stringify(redacted);

  it("shows no secret value, on either side, anywhere", () => {
    for (const canary of [SECRET_KEY_CANARY, RANDOM_CANARY, NOTE_CANARY, ENV_CANARY, "canary-b64-decoded-Rt5", "in-clear-wire-canary", "wire-marked-canary", Buffer.from("canary-b64-decoded-Rt5").toString("base64")]) {
      expect(text, canary).not.toContain(canary);
    }
  });

  it("shows a secret property as [secret] on each side it has, keeps paths, keys and other values", () => {
    expect(redacted[0]!.diffs).toEqual([
      { path: "stringData.POSTGRES_PASSWORD", old: "[secret]", new: "[secret]" },
      { path: "stringData.DATABASE_URL", old: "[secret]", new: "[secret]" },
      { path: "data.EXTRA", old: "[secret]" },
    ]);
    expect(redacted[1]!.diffs).toEqual([{ path: "result", old: "[secret]" }, { path: "length", old: 32, new: 40 }]);
    expect(redacted[2]!.diffs).toEqual([
      { path: "data.note", old: "[secret]", new: "[secret]" },
      { path: "data.wire", old: "[secret]", new: "[secret]" },
      { path: 'data["app.properties"]', old: "db.password=[secret]\nrole=[secret]\nnote=[secret]\nadmin=[secret]\nold=[secret]\n", new: "db.password=\nrole=\n" },
      { path: "data.mode", old: "ro", new: "rw" },
    ]);
    expect(redacted.map((c) => c.urn)).toEqual(changes.map((c) => c.urn));
  });

  it("changes nothing without secrets, and masks the same again (idempotent)", () => {
    const plain = [change("kubernetes:core/v1:ResourceQuota", "quota", [{ path: "spec.hard.pods", old: "20", new: "50" }])];
    expect(redactResourceChanges(plain)).toEqual(plain);
    expect(redactResourceChanges(redacted, [ENV_CANARY])).toEqual(redacted);
  });
});

describe("redactDriftedResources", () => {
  it("masks by the same rules, with null for a side that has no value", () => {
    const drifted = redactDriftedResources([
      { urn: urn("kubernetes:core/v1:Secret", "creds"), type: "kubernetes:core/v1:Secret", differences: [{ path: "stringData.POSTGRES_PASSWORD", recorded: "[secret]", actual: SECRET_KEY_CANARY }] },
      { urn: urn("kubernetes:core/v1:ConfigMap", "cm"), type: "kubernetes:core/v1:ConfigMap", differences: [{ path: "data.line", recorded: null, actual: `password=${SECRET_KEY_CANARY}` }] },
      { urn: urn("azure-native:dns:Zone", "zone"), type: "azure-native:dns:Zone", differences: undefined },
    ]);
    expect(JSON.stringify(drifted)).not.toContain(SECRET_KEY_CANARY);
    expect(drifted[0]!.differences).toEqual([{ path: "stringData.POSTGRES_PASSWORD", recorded: "[secret]", actual: "[secret]" }]);
    expect(drifted[1]!.differences).toEqual([{ path: "data.line", recorded: null, actual: "password=[secret]" }]);
    expect(drifted[2]!.differences).toBeUndefined();
  });
});

describe("redactValue and SecretRedactor", () => {
  it("masks the process's known secrets in strings, nested values and errors, keeps keys, and leaves other objects alone", () => {
    rememberSecrets([ENV_CANARY, "abc"]);
    expect(knownSecrets()).toContain(ENV_CANARY);
    expect(knownSecrets()).not.toContain("abc"); // too short to mask safely wherever it appears
    const stream = { write: () => undefined, text: ENV_CANARY };
    class Handle {
      value = ENV_CANARY;
    }
    const handle = new Handle();
    const cyclic: Record<string, unknown> = { message: `login with ${ENV_CANARY}` };
    cyclic.self = cyclic;
    const value = redactValue({ list: [`pw=${ENV_CANARY}`, 3, null], plain: "nothing here", handle, cyclic, err: new Error(`refused ${ENV_CANARY}`) });
    expect(value.list).toEqual(["pw=[secret]", 3, null]);
    expect(value.plain).toBe("nothing here");
    expect(value.handle).toBe(handle); // not a plain object: a request, a stream
    expect((value.cyclic as Record<string, unknown>).message).toBe("login with [secret]");
    expect(value.err).toBeInstanceOf(Error);
    expect(value.err.message).toBe("refused [secret]");
    expect(value.err.stack).not.toContain(ENV_CANARY);
    const untouched = { a: ["b"], stream };
    expect(new SecretRedactor([]).value(untouched)).toBe(untouched);
    expect(new SecretRedactor(["canary-long-one", "canary-long"]).text("x canary-long-one y canary-long z")).toBe("x [secret] y [secret] z");
  });
});
