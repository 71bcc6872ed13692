/**
 * Issue 26 item 1: no secret value leaves the service. Canary values are
 * planted in a tenant's (simulated) cluster the way a hand edit would leave
 * them: a Secret's key, a `random` password's output, a Pulumi secret at an
 * ordinary-looking path (the role's password), a ConfigMap line echoing them
 * and the service's own Postgres admin password; and that password once more
 * in a change's reason. Then a drift check, a preview, a reviewed change
 * applied and a check back in sync; every channel is searched for the
 * canaries: API answers (drift, previews, changes, audit, events), the rows
 * (tenant_changes, drift_checks, provisioning_audit_logs, outbox), the mails
 * written and the service's log.
 */
import { readdir, readFile, rm, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import type { FastifyInstance } from "fastify";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolvePlatformSettings } from "../../model/settings.ts";
import { buildService } from "../../server/build.ts";
import { loadServiceConfig } from "../../server/config.ts";
import { probePostgres } from "../support/postgres.ts";
import { ADMIN_TOKEN, auth, freshDatabase, READ_TOKEN, settled, tenantRequest, waitForStatus } from "../support/service.ts";

const postgres = await probePostgres();

const CANARIES = {
  secretKey: "canary-secret-key-Hq83Lw",
  random: "canary-random-result-Tp27Vn",
  role: "canary-role-password-Kd61Xz",
  env: "canary-env-pg-admin-Rb94Qe",
};
const SETTINGS = resolvePlatformSettings();

/** Every file under `dir`, recursively, with its text. */
async function filesUnder(dir: string): Promise<{ file: string; text: string }[]> {
  const out: { file: string; text: string }[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) {
      const file = path.join(entry.parentPath, entry.name);
      out.push({ file, text: await readFile(file, "utf8").catch(() => "") });
    }
  }
  return out;
}

describe.skipIf(!postgres.available)("secret values through every output channel", () => {
  let app: FastifyInstance;
  let dataDir: string;
  let databaseUrl: string;
  const logLines: string[] = [];
  const cleanup: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    const db = await freshDatabase();
    databaseUrl = db.url;
    cleanup.push(() => db.drop());
    dataDir = await mkdtemp(path.join(tmpdir(), "matih-secrets-"));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      KAFKA_BROKERS: "",
      SMTP_URL: "",
      SMTP_HOST: "",
      MATIH_ENGINE: "render",
      MATIH_DATA_DIR: dataDir,
      MATIH_ADMIN_TOKEN: ADMIN_TOKEN,
      MATIH_READ_TOKENS: READ_TOKEN,
      MATIH_RETRY_DELAY_SECONDS: "0",
      MATIH_DRIFT_SCHEDULE: "off",
      MATIH_OPS_EMAIL: "ops@example.com",
      [SETTINGS.postgres.adminPasswordEnv]: CANARIES.env,
      LOG_LEVEL: "info",
    };
    const stream = new PassThrough();
    stream.on("data", (chunk) => logLines.push(...String(chunk).split("\n").filter(Boolean)));
    // The service's own logger settings (loggerOptions), as in production.
    app = await buildService({ config: loadServiceConfig(env), databaseUrl, settings: SETTINGS, env, logStream: stream, shutdownGraceMs: 5_000 });
    await app.ready();
    cleanup.push(() => app.close());
  });
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  const call = async (method: "GET" | "POST", url: string, payload?: object, token = ADMIN_TOKEN) => {
    const res = await app.inject({ method, url, headers: auth(token), ...(payload ? { payload } : {}) });
    expect(res.statusCode, `${method} ${url}: ${res.body.slice(0, 500)}`).toBeLessThan(300);
    return { body: res.body, json: res.json() };
  };

  async function sql(text: string, values: unknown[] = []): Promise<any[]> {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      return (await client.query(text, values)).rows;
    } finally {
      await client.end();
    }
  }

  it("shows none of them anywhere, while still telling which secret keys changed", async () => {
    const answers: string[] = [];
    const created = await call("POST", "/api/v1/tenants", { ...tenantRequest("vault"), lastPhase: 2 });
    const tenantId = created.json.tenant.id as string;
    expect((await waitForStatus(app, tenantId, settled)).status).toBe("ACTIVE");

    // What someone changed in the cluster by hand.
    const record = (await sql("SELECT state FROM render_states WHERE slug = 'vault'"))[0].state;
    const find = (type: string) => record.resources.find((r: any) => r.type === type && r.custom);
    const secret = find("kubernetes:core/v1:Secret");
    const random = find("random:index/randomPassword:RandomPassword");
    const role = find("postgresql:index/role:Role");
    const configMap = find("kubernetes:core/v1:ConfigMap");
    expect(role.inputs.password).toBe("[secret]"); // a Pulumi secret at an ordinary-looking path
    const script = Object.keys(configMap.inputs.data)[0] as string;
    const echoed = `-- password ${CANARIES.secretKey} role ${CANARIES.role} random ${CANARIES.random} admin ${CANARIES.env}`;
    for (const edit of [
      { resource: secret.urn, path: "stringData.POSTGRES_PASSWORD", value: CANARIES.secretKey },
      { resource: random.urn, path: "result", value: CANARIES.random },
      { resource: role.urn, path: "password", value: CANARIES.role },
      { resource: configMap.urn, path: `data[${JSON.stringify(script)}]`, value: echoed },
    ]) await call("POST", `/api/v1/tenants/${tenantId}/simulated-drift`, { kind: "edit", ...edit });

    // Drift: the check's answer and the history, read with a read token.
    const check = await call("POST", `/api/v1/tenants/${tenantId}/drift-check`);
    answers.push(check.body);
    const secretDrift = check.json.drifted.find((d: any) => d.urn === secret.urn);
    expect(secretDrift.differences).toEqual([{ path: "stringData.POSTGRES_PASSWORD", recorded: "[secret]", actual: "[secret]" }]);
    expect(check.json.drifted.find((d: any) => d.urn === configMap.urn).differences[0].actual).toBe("-- password [secret] role [secret] random [secret] admin [secret]");
    answers.push((await call("GET", `/api/v1/tenants/${tenantId}/drift`, undefined, READ_TOKEN)).body);
    answers.push((await call("GET", "/api/v1/drift", undefined, READ_TOKEN)).body);

    // A preview, and a change through review whose reason carries the admin password.
    const preview = await call("POST", `/api/v1/tenants/${tenantId}/preview`, { lastPhase: 2 });
    answers.push(preview.body);
    // This answer lists paths only; values are in the change's review below.
    const previewed = preview.json.phases.flatMap((p: any) => p.changes).find((c: any) => c.urn === secret.urn);
    expect(previewed.changedPaths).toEqual(["stringData.POSTGRES_PASSWORD"]);
    const requested = await call("POST", `/api/v1/tenants/${tenantId}/changes`, { lastPhase: 2, reason: `rotate ${CANARIES.env} back` });
    answers.push(requested.body);
    const changeId = requested.json.change?.id ?? requested.json.id;
    let change: any;
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 150))) {
      change = (await call("GET", `/api/v1/tenants/${tenantId}/changes/${changeId}`, undefined, READ_TOKEN)).json;
      if (change.status !== "PREVIEWING") break;
    }
    expect(change.status).toBe("PENDING_REVIEW");
    answers.push(JSON.stringify(change));
    const reviewed = (urn: string) => change.preview.changes.find((c: any) => c.urn === urn)?.diffs;
    expect(reviewed(secret.urn)).toEqual([{ path: "stringData.POSTGRES_PASSWORD", old: "[secret]", new: "[secret]" }]);
    expect(reviewed(role.urn)).toEqual([{ path: "password", old: "[secret]", new: "[secret]" }]);
    expect(reviewed(random.urn)).toEqual([{ path: "result", old: "[secret]" }]);
    expect(reviewed(configMap.urn)[0].old).toBe("-- password [secret] role [secret] random [secret] admin [secret]");
    expect(change.requested.reason).toBe("rotate [secret] back");
    answers.push((await call("GET", `/api/v1/tenants/${tenantId}/changes`, undefined, READ_TOKEN)).body);

    // Applied, then checked again: the drift is resolved (events and mails both ways).
    await call("POST", `/api/v1/tenants/${tenantId}/changes/${changeId}/approve`, { allowDestructive: true });
    expect((await waitForStatus(app, tenantId, (s) => s.run?.kind === "update" && settled(s))).status).toBe("ACTIVE");
    const again = await call("POST", `/api/v1/tenants/${tenantId}/drift-check`);
    expect(again.json.drifted).toEqual([]);
    answers.push((await call("GET", `/api/v1/tenants/${tenantId}/audit?limit=1000`, undefined, READ_TOKEN)).body);
    answers.push((await call("GET", "/api/v1/events?after=0&limit=100", undefined, READ_TOKEN)).body);

    // Every mail the relay wrote: drift detected and resolved, update completed.
    let mails: { file: string; text: string }[] = [];
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
      mails = (await filesUnder(dataDir)).filter((f) => f.file.endsWith(".eml"));
      if (mails.length >= 4) break; // provisioning completed, drift detected, update completed, drift resolved
    }
    const mailText = mails.map((m) => m.text).join("\n");
    expect(mailText).toContain("Drift detected");
    expect(mailText).toContain("rotate [secret] back");

    // Something logging a secret by mistake: the log masks what the service knows.
    app.log.warn({ detail: { password: CANARIES.env } }, `connecting with ${CANARIES.env}`);
    await new Promise((r) => setTimeout(r, 50));
    expect(logLines.some((l) => l.includes("connecting with [secret]"))).toBe(true);

    const rows = {
      tenant_changes: await sql("SELECT * FROM tenant_changes"),
      drift_checks: await sql("SELECT * FROM drift_checks"),
      provisioning_audit_logs: await sql("SELECT * FROM provisioning_audit_logs"),
      outbox: await sql("SELECT * FROM outbox"),
    };
    expect(rows.outbox.map((r) => r.type)).toEqual(expect.arrayContaining(["tenant.drift_detected", "drift-detected", "tenant.updated", "update-completed", "tenant.drift_resolved"]));
    const channels: Record<string, string> = {
      "API answers": answers.join("\n"),
      ...Object.fromEntries(Object.entries(rows).map(([table, r]) => [`${table} rows`, JSON.stringify(r)])),
      mails: mailText,
      log: logLines.join("\n"),
    };
    for (const [channel, text] of Object.entries(channels)) {
      for (const [what, canary] of Object.entries(CANARIES)) expect(text, `${channel} hold the ${what} canary`).not.toContain(canary);
    }
  }, 180_000);
});
