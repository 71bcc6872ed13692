/**
 * The Pulumi engine's previews and drift checks show no secret value: not
 * one the engine left unmarked on a step's old side (a Secret changed in the
 * cluster), not a `random` password's output, not a value echoed in a
 * ConfigMap line, not a marked secret's plain counterpart at an ordinary path,
 * not the environment's secrets (issue 26 item 1, issue 27).
 */
import { rm } from "node:fs/promises";
import { DiffKind, type StepEventMetadata } from "@pulumi/pulumi/automation/index.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadEngineConfig } from "../../../automation/core/config.ts";
import { OperationGate } from "../../../automation/core/operation-gate.ts";
import type { PulumiJob } from "../../../automation/isolation/protocol.ts";
import { PulumiEngine } from "../../../automation/pulumi/engine.ts";
import { runPulumiWorkerJob } from "../../../automation/pulumi/operations.ts";
import { childUrn, componentUrn, EventLog } from "../fixtures/engine-events.ts";
import { FakeWorkspaceFactory, replay } from "../fixtures/fake-workspace.ts";
import { InProcessRunner } from "../helpers/in-process-runner.ts";
import { realRunSettings, tempDataDir, tenantSpec } from "../helpers/tenants.ts";

const PG_PASSWORD = "canary-env-pg-admin-4Hs8";
const ENV = { PULUMI_CONFIG_PASSPHRASE: "canary-passphrase-0Kw2", MATIH_PG_ADMIN_PASSWORD: PG_PASSWORD };
const SECRET_KEY = "canary-secret-key-Pq71";
const RANDOM_RESULT = "canary-random-result-Mn55";
const NOTE = "canary-data-note-Ty39";
const CANARIES = [PG_PASSWORD, SECRET_KEY, RANDOM_RESULT, NOTE];

const SECRET = { urn: childUrn(2, "kubernetes:core/v1:Secret", "database-credentials"), type: "kubernetes:core/v1:Secret" };
const RANDOM = { urn: childUrn(2, "random:index/randomPassword:RandomPassword", "database-role-password"), type: "random:index/randomPassword:RandomPassword" };
const CONFIG = { urn: childUrn(3, "kubernetes:core/v1:ConfigMap", "core-settings"), type: "kubernetes:core/v1:ConfigMap" };

const step = (inputs: Record<string, unknown>) => ({ inputs, outputs: inputs }) as unknown as StepEventMetadata["old"];
const update = (paths: string[]) => ({ diffs: paths, detailedDiff: Object.fromEntries(paths.map((p) => [p, { diffKind: DiffKind.update, inputDiff: true }])) });

/** A preview after someone changed the cluster by hand: each step's old inputs hold what they left there, in clear. */
function previewAfterHandEdits() {
  const log = new EventLog().prelude().stackAndProvider("same");
  log.pre(componentUrn(2), "matih:tenant:Database", "same", {}, true)
    .pre(SECRET.urn, SECRET.type, "update", { ...update(["stringData.POSTGRES_PASSWORD"]), old: step({ stringData: { POSTGRES_PASSWORD: SECRET_KEY } }), new: step({ stringData: { POSTGRES_PASSWORD: "[secret]" } }) }, true)
    .pre(RANDOM.urn, RANDOM.type, "update", { ...update(["result"]), old: step({ length: 40, result: RANDOM_RESULT }), new: step({ length: 40 }) }, true)
    .pre(CONFIG.urn, CONFIG.type, "update", {
      ...update(["data.note", 'data["app.properties"]']),
      old: step({ data: { note: NOTE, "app.properties": `password=${SECRET_KEY}\nadmin=${PG_PASSWORD}\nrole=${RANDOM_RESULT}\nnote=${NOTE}\nmode=rw` } }),
      new: step({ data: { note: "[secret]", "app.properties": "mode=ro" } }),
    }, true);
  return log.summary({ same: 2, update: 3 }).events;
}

/** A refresh that finds the same hand edits, recorded values (old) against actual ones (new). */
function refreshAfterHandEdits() {
  const log = new EventLog().prelude();
  const refreshed = (r: { urn: string; type: string }, recorded: Record<string, unknown>, actual: Record<string, unknown>) => {
    const state = (outputs: Record<string, unknown>) => ({ type: r.type, urn: r.urn, id: r.urn, parent: componentUrn(2), custom: true, inputs: {}, outputs }) as unknown as StepEventMetadata["old"];
    log.pre(r.urn, r.type, "refresh").outputs(r.urn, r.type, "refresh", { old: state(recorded), new: state(actual) });
  };
  refreshed(SECRET, { stringData: { POSTGRES_PASSWORD: "[secret]" } }, { stringData: { POSTGRES_PASSWORD: SECRET_KEY } });
  refreshed(RANDOM, { length: 40, result: "[secret]" }, { length: 40, result: RANDOM_RESULT });
  refreshed(CONFIG, { data: { note: "[secret]", line: "mode=ro" } }, { data: { note: NOTE, line: `password=${SECRET_KEY} admin=${PG_PASSWORD} mode=rw` } });
  return log.summary({ same: 0, update: 3 }).events;
}

let dataDir: string;
beforeEach(async () => {
  dataDir = await tempDataDir();
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

async function startEngine(factory: FakeWorkspaceFactory) {
  const config = loadEngineConfig({ ...ENV, MATIH_DATA_DIR: dataDir }, { lockWaitMs: 0 });
  const runner = new InProcessRunner((job, context) => runPulumiWorkerJob(job as PulumiJob, { ...context, factory, env: ENV, lockPollMs: 2, takeoverMarginMs: 50 }));
  return PulumiEngine.start({ config, runner, gate: new OperationGate({ maxConcurrent: 1 }), env: ENV, logger: { info() {}, warn() {}, error() {} }, detectCli: async () => ({ ok: true as const, path: "/usr/local/bin/pulumi", version: "v3.190.0" }) });
}

describe("secret values in the Pulumi engine's previews and drift checks", () => {
  it("are masked in a preview's diffs, with which secret keys change still shown", async () => {
    const factory = new FakeWorkspaceFactory();
    factory.existing("acme").script("preview", replay(previewAfterHandEdits()));
    const engine = await startEngine(factory);
    const preview = await engine.preview({ spec: tenantSpec(), settings: realRunSettings() });
    expect(preview.status).toBe("succeeded");
    const text = JSON.stringify(preview);
    for (const canary of CANARIES) expect(text, canary).not.toContain(canary);
    const diffs = (urn: string) => preview.changes.find((c) => c.urn === urn)?.diffs;
    expect(diffs(SECRET.urn)).toEqual([{ path: "stringData.POSTGRES_PASSWORD", old: "[secret]", new: "[secret]" }]);
    expect(diffs(RANDOM.urn)).toEqual([{ path: "result", old: "[secret]" }]);
    expect(diffs(CONFIG.urn)).toEqual([
      { path: "data.note", old: "[secret]", new: "[secret]" },
      { path: 'data["app.properties"]', old: "password=[secret]\nadmin=[secret]\nrole=[secret]\nnote=[secret]\nmode=rw", new: "mode=ro" },
    ]);
    await engine.close();
  });

  it("are masked in a drift check's differences, a recorded secret at an ordinary path with a plain actual value included", async () => {
    const factory = new FakeWorkspaceFactory();
    factory.existing("acme").script("previewRefresh", replay(refreshAfterHandEdits()));
    const engine = await startEngine(factory);
    const drift = await engine.driftCheck({ spec: tenantSpec(), settings: realRunSettings() });
    expect(drift.status).toBe("succeeded");
    const text = JSON.stringify(drift);
    for (const canary of CANARIES) expect(text, canary).not.toContain(canary);
    const differences = (urn: string) => drift.drifted.find((d) => d.urn === urn)?.differences;
    expect(differences(SECRET.urn)).toEqual([{ path: "stringData.POSTGRES_PASSWORD", recorded: "[secret]", actual: "[secret]" }]);
    expect(differences(RANDOM.urn)).toEqual([{ path: "result", recorded: "[secret]", actual: "[secret]" }]);
    expect(differences(CONFIG.urn)).toEqual([
      { path: "data.line", recorded: "mode=ro", actual: "password=[secret] admin=[secret] mode=rw" },
      { path: "data.note", recorded: "[secret]", actual: "[secret]" },
    ]);
    await engine.close();
  });
});
