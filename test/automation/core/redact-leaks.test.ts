/**
 * Every place a secret can hide in a preview, a drift check or any value the
 * service stores, sends or logs (automation/core/redact.ts), each with its
 * canary as a literal: a secret in clear on one side of a diff, nested in
 * objects and arrays, base64 in a Kubernetes Secret's `data`, inside a wire
 * marker, echoed by a ConfigMap line elsewhere; and the rules that keep
 * ordinary text readable (the length floor, what is not base64). Written
 * against the survivors of the redaction-drift mutation group
 * (docs/testing.md). Each test computes what it asserts (perTest coverage).
 */
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
  type DriftWithDifferences,
} from "../../../automation/core/redact.ts";

const SECRET = "kubernetes:core/v1:Secret";
const CONFIG_MAP = "kubernetes:core/v1:ConfigMap";

/** A value as Pulumi marks a secret on the wire. */
const wire = (value: unknown) => ({ [PULUMI_SIG_KEY]: PULUMI_SECRET_SIG, value });

type Diff = { path: string; old?: unknown; new?: unknown };
type Change = { type: string; diffs?: Diff[] };

/**
 * What a ConfigMap line elsewhere in the same preview shows once redacted:
 * a secret the changes reveal must be masked there too.
 */
function echoed(changes: Change[], line: string, known: string[] = []): unknown {
  const redacted = redactResourceChanges([...changes, { type: CONFIG_MAP, diffs: [{ path: 'data["echo.properties"]', old: "", new: line }] }], known);
  return redacted.at(-1)!.diffs![0]!.new;
}

describe("a secret one change reveals is masked wherever else it appears", () => {
  it("takes both sides of a Secret's key, with no marker anywhere", () => {
    const changes = [{ type: SECRET, diffs: [{ path: "stringData.PASSWORD", old: "clear-old-pw-111", new: "clear-new-pw-222" }] }];
    expect(echoed(changes, "a=clear-old-pw-111\nb=clear-new-pw-222\n")).toBe("a=[secret]\nb=[secret]\n");
    expect(redactResourceChanges(changes)[0]!.diffs).toStrictEqual([{ path: "stringData.PASSWORD", old: "[secret]", new: "[secret]" }]);
  });

  it("takes the clear side opposite a marker, whichever side carries it", () => {
    const markedOld = [{ type: CONFIG_MAP, diffs: [{ path: "data.note", old: "[secret]", new: "clear-after-333" }] }];
    const markedNew = [{ type: CONFIG_MAP, diffs: [{ path: "data.note", old: "clear-before-444", new: "[secret]" }] }];
    expect(echoed(markedOld, "note=clear-after-333")).toBe("note=[secret]");
    expect(echoed(markedNew, "note=clear-before-444")).toBe("note=[secret]");
    expect(redactResourceChanges(markedOld)[0]!.diffs).toStrictEqual([{ path: "data.note", old: "[secret]", new: "[secret]" }]);
  });

  it("decodes a Secret's base64 data, padded with none, one or two '=', and masks the text it encodes", () => {
    const changes = [
      {
        type: SECRET,
        diffs: [
          { path: "data.A", old: "aHVudGVy" }, // "hunter": 8 characters, no padding
          { path: "data.B", old: "d3h5eg==" }, // "wxyz": the length floor, two '='
          { path: "data.C", new: "czNjcmV0LXRleHQ=" }, // "s3cret-text", one '='
        ],
      },
    ];
    expect(echoed(changes, "one=hunter two=wxyz three=s3cret-text")).toBe("one=[secret] two=[secret] three=[secret]");
    expect(echoed(changes, "raw=aHVudGVy")).toBe("raw=[secret]");
  });

  it("decodes only what is base64 of text: not unpadded, not with other characters around it", () => {
    const changes = [
      {
        type: SECRET,
        diffs: [
          { path: "data.A", old: "b3JkaW5hcnktd29yZHM" }, // "ordinary-words" with its '=' cut: 19 characters
          { path: "data.B", old: "!!!!cGxhaW4td29yZHMh" }, // "plain-words!" after characters base64 has not
          { path: "data.C", old: "cGxhaW4td29yZHMh!!!!" },
        ],
      },
    ];
    // Buffer.from would decode each of them to the words; none is a Secret's data, so the words stay readable.
    expect(echoed(changes, "ordinary-words, plain-words!")).toBe("ordinary-words, plain-words!");
    expect(echoed(changes, "b3JkaW5hcnktd29yZHM !!!!cGxhaW4td29yZHMh")).toBe("[secret] [secret]");
  });

  it("learns values of four characters or more, not shorter ones (ordinary words)", () => {
    const changes = [{ type: SECRET, diffs: [{ path: "stringData.PIN", old: "ab1", new: "k9Zq" }] }];
    expect(echoed(changes, "mode ab1, pin k9Zq")).toBe("mode ab1, pin [secret]");
    // Base64 of four bytes that are two characters ("éé"): the decoded text is below the floor, the value itself is not.
    const accents = [{ type: SECRET, diffs: [{ path: "data.ACCENTS", old: "w6nDqQ==" }] }];
    expect(echoed(accents, "café éé w6nDqQ==")).toBe("café éé [secret]");
  });

  it("takes every string inside a secret object or a marked array", () => {
    const changes = [
      // The whole `data` of a Secret added: every key's value.
      { type: SECRET, diffs: [{ path: "data", new: { A: "obj-clear-val-1", B: "obj-clear-val-2" } }] },
      // A secret output that is a list, marked on the wire.
      { type: CONFIG_MAP, diffs: [{ path: "data.list", new: wire(["arr-secret-val-1", "arr-secret-val-2"]) }] },
    ];
    expect(echoed(changes, "obj-clear-val-1 obj-clear-val-2 arr-secret-val-1 arr-secret-val-2")).toBe("[secret] [secret] [secret] [secret]");
  });

  it("takes the clear value at the place of a marker inside arrays and objects", () => {
    const changes = [
      { type: CONFIG_MAP, diffs: [{ path: "data.args", old: ["arr-clear-aaa", "same"], new: ["[secret]", "same"] }] },
      { type: CONFIG_MAP, diffs: [{ path: "data.conn", old: { user: "app", pw: "obj-clear-pw-1" }, new: { user: "app", pw: "[secret]" } }] },
    ];
    expect(echoed(changes, "arr-clear-aaa obj-clear-pw-1 app same")).toBe("[secret] [secret] app same");
  });

  it("takes the value of a wire marker alone, nested in objects and arrays, with nothing on the other side", () => {
    const changes = [
      { type: CONFIG_MAP, diffs: [{ path: "data.lone", new: wire("lone-wire-canary-1") }] },
      { type: CONFIG_MAP, diffs: [{ path: "data.deep", new: { nested: { list: [wire("deep-wire-canary-2")] } } }] },
      { type: CONFIG_MAP, diffs: [{ path: "data.top", old: [{ x: wire("array-wire-canary-3") }] }] },
      // A marked side against a side of another shape: nothing to pair, the marked values are still taken.
      { type: CONFIG_MAP, diffs: [{ path: "data.shape", old: "was-a-string", new: [wire("shape-wire-canary-4")] }] },
    ];
    expect(echoed(changes, "lone-wire-canary-1 deep-wire-canary-2 array-wire-canary-3 shape-wire-canary-4")).toBe("[secret] [secret] [secret] [secret]");
  });

  it("takes Pulumi's marker as a marker: its signature is no secret", () => {
    const changes = [{ type: CONFIG_MAP, diffs: [{ path: "data.lone", new: wire("lone-wire-canary-5") }] }];
    expect(echoed(changes, `sig ${PULUMI_SECRET_SIG} of lone-wire-canary-5`)).toBe(`sig ${PULUMI_SECRET_SIG} of [secret]`);
    expect(echoed([{ type: SECRET, diffs: [{ path: "data.lone", new: wire("lone-wire-canary-6") }] }], `sig ${PULUMI_SECRET_SIG}`)).toBe(`sig ${PULUMI_SECRET_SIG}`);
  });
});

describe("a property is masked whole where either side holds a marker, however deep", () => {
  it("masks a value that is no text (a number, an object, an array) opposite a marker", () => {
    const [redacted] = redactResourceChanges([
      {
        type: CONFIG_MAP,
        diffs: [
          { path: "data.port", old: 5432, new: "[secret]" },
          { path: "data.conn", old: { host: "db", port: 5432 }, new: { host: "db", port: "[secret]" } },
          { path: "data.ports", old: [5432, 6432], new: ["[secret]", 6432] },
          { path: "data.wired", old: { host: "db", port: 5432 }, new: { host: "db", port: wire(5433) } },
        ],
      },
    ]);
    expect(redacted!.diffs).toStrictEqual([
      { path: "data.port", old: "[secret]", new: "[secret]" },
      { path: "data.conn", old: "[secret]", new: "[secret]" },
      { path: "data.ports", old: "[secret]", new: "[secret]" },
      { path: "data.wired", old: "[secret]", new: "[secret]" },
    ]);
  });

  it("masks a whole Secret at the root path, and no other type's root", () => {
    const drifted = redactDriftedResources([
      { type: SECRET, differences: [{ path: "", recorded: null, actual: { data: { A: "root-secret-val-1" } } }] },
      { type: CONFIG_MAP, differences: [{ path: "", recorded: null, actual: { data: { mode: "rw" } } }] },
    ]);
    expect(drifted.map((d) => d.differences)).toStrictEqual([
      [{ path: "", recorded: null, actual: "[secret]" }],
      [{ path: "", recorded: null, actual: { data: { mode: "rw" } } }],
    ]);
  });
});

describe("the sides of a change", () => {
  it("keeps a side that is absent absent, and one given as undefined undefined", () => {
    const [secret, plain] = redactResourceChanges([
      {
        type: SECRET,
        diffs: [
          { path: "data.ADDED", new: "YWRkZWQtc2VjcmV0" },
          { path: "data.REMOVED", old: "cmVtb3ZlZC1zZWNyZXQ=" },
          { path: "data.UNDEFINED", old: undefined, new: "dW5kZWZpbmVkLW9sZA==" },
          { path: "data.GONE", old: "Z29uZS1zZWNyZXQ=", new: undefined },
        ],
      },
      { type: CONFIG_MAP, diffs: [{ path: "data.added", new: "plain" }, { path: "data.removed", old: "plain" }] },
    ]);
    expect(secret!.diffs).toStrictEqual([
      { path: "data.ADDED", new: "[secret]" },
      { path: "data.REMOVED", old: "[secret]" },
      { path: "data.UNDEFINED", old: undefined, new: "[secret]" },
      { path: "data.GONE", old: "[secret]", new: undefined },
    ]);
    expect(plain!.diffs).toStrictEqual([{ path: "data.added", new: "plain" }, { path: "data.removed", old: "plain" }]);
  });

  it("returns a change without diffs as it is, beside others", () => {
    const bare = { type: SECRET, urn: "urn:pulumi:acme::matih-tenants::kubernetes:core/v1:Secret::creds" };
    const other = { type: SECRET, diffs: [{ path: "stringData.PW", old: "bare-beside-pw-1" }] };
    const redacted = redactResourceChanges([bare, other] as Change[]);
    expect(redacted[0]).toBe(bare);
    expect(redacted[1]).toStrictEqual({ type: SECRET, diffs: [{ path: "stringData.PW", old: "[secret]" }] });
  });

  it("gives null for a drift side without a value (null or undefined), never [secret] or undefined", () => {
    const bare: DriftWithDifferences = { type: SECRET };
    const drifted = redactDriftedResources<DriftWithDifferences>([
      bare,
      {
        type: SECRET,
        differences: [
          { path: "stringData.NEW", recorded: null, actual: "drift-new-secret-1" },
          { path: "stringData.OLD", recorded: "drift-old-secret-2", actual: undefined },
        ],
      },
      { type: CONFIG_MAP, differences: [{ path: "data.mode", recorded: undefined, actual: "rw" }] },
    ]);
    expect(drifted[0]).toBe(bare);
    expect(drifted[1]!.differences).toStrictEqual([
      { path: "stringData.NEW", recorded: null, actual: "[secret]" },
      { path: "stringData.OLD", recorded: "[secret]", actual: null },
    ]);
    expect(drifted[2]!.differences).toStrictEqual([{ path: "data.mode", recorded: null, actual: "rw" }]);
  });
});

describe("SecretRedactor", () => {
  it("ignores secrets shorter than four characters, masks those of four", () => {
    expect(new SecretRedactor(["ab", "xyz", "k9Zq"]).text("ab xyz k9Zq")).toBe("ab xyz [secret]");
  });

  it("masks the longest secret first, in whatever order they are given", () => {
    expect(new SecretRedactor(["pw-12", "pw-12-long"]).text("pw-12-long and pw-12")).toBe("[secret] and [secret]");
    expect(new SecretRedactor(["pw-12-long", "pw-12"]).text("pw-12-long and pw-12")).toBe("[secret] and [secret]");
  });

  it("turns a wire marker into [secret] wherever it is, with no secret known", () => {
    const redactor = new SecretRedactor([]);
    expect(redactor.value({ a: wire("wire-value-canary"), b: [wire(5)], c: "kept" })).toStrictEqual({ a: "[secret]", b: ["[secret]"], c: "kept" });
  });

  it("masks inside an object without a prototype", () => {
    const bare = Object.create(null) as Record<string, unknown>;
    bare.pw = "login null-proto-secret-1";
    const masked = new SecretRedactor(["null-proto-secret-1"]).value(bare);
    expect(masked).not.toBe(bare);
    expect({ ...masked }).toStrictEqual({ pw: "login [secret]" });
  });

  describe("an Error", () => {
    const redactor = new SecretRedactor(["error-secret-canary"]);

    it("is returned itself when neither its message nor its stack holds a secret", () => {
      const err = new Error("nothing to hide");
      expect(redactor.value(err)).toBe(err);
    });

    it("is copied with its message masked where it has no stack", () => {
      const err = new Error("refused error-secret-canary");
      delete err.stack;
      const masked = redactor.value(err);
      expect(masked).not.toBe(err);
      expect(masked.message).toBe("refused [secret]");
      expect(masked.stack).toBeUndefined();
    });

    it("is copied with its message masked where its stack does not repeat it", () => {
      const err = new Error("refused error-secret-canary");
      err.stack = "Error: see the message\n    at somewhere";
      const masked = redactor.value(err);
      expect(masked.message).toBe("refused [secret]");
      expect(masked.stack).toBe("Error: see the message\n    at somewhere");
    });

    it("is copied with its stack masked where only the stack holds the secret", () => {
      const err = new Error("plain message");
      err.stack = "Error: plain message\n    at error-secret-canary (file.ts:1:1)";
      const masked = redactor.value(err);
      expect(masked).not.toBe(err);
      expect(masked.message).toBe("plain message");
      expect(masked.stack).toBe("Error: plain message\n    at [secret] (file.ts:1:1)");
    });

    it("keeps the shape of an Error: message and stack writable, configurable, not enumerated; its own fields", () => {
      const err = Object.assign(new TypeError("refused error-secret-canary"), { code: "E_REFUSED" });
      const masked = redactor.value(err);
      expect(masked).toBeInstanceOf(TypeError);
      for (const key of ["message", "stack"] as const) {
        // As Node defines an Error's message (its stack may be an accessor there; the copy's is a plain value).
        expect(Object.getOwnPropertyDescriptor(masked, key), key).toStrictEqual({ value: masked[key], writable: true, enumerable: false, configurable: true });
      }
      expect(Object.keys(masked)).toStrictEqual(["code"]);
      expect(JSON.stringify(masked)).toBe('{"code":"E_REFUSED"}');
      expect(masked.stack).not.toContain("error-secret-canary");
    });
  });
});

describe("rememberSecrets", () => {
  it("keeps values of four characters or more, never the placeholder, and masks them in anything redactValue gets", () => {
    rememberSecrets(["wxyz", "[secret]", "abc"]);
    expect(knownSecrets()).toContain("wxyz");
    expect(knownSecrets()).not.toContain("[secret]");
    expect(knownSecrets()).not.toContain("abc");
    expect(redactValue({ line: "wxyz abc [secret]" })).toStrictEqual({ line: "[secret] abc [secret]" });
  });
});
