/**
 * GET /api/v1/audit/verify and `npm run audit:verify`: the audit log's hash
 * chain checked through the service and from the command line, before and
 * after a superuser changed a row behind the triggers' back.
 */
import { spawn } from "node:child_process";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { ROOT } from "../support/entry-point.ts";
import { probePostgres } from "../support/postgres.ts";
import { auth, READ_TOKEN, settled, tenantRequest, useService, waitForStatus } from "../support/service.ts";

const pgProbe = await probePostgres();

function verifyCommand(databaseUrl: string, args: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["server/audit-verify-cli.ts", ...args], { cwd: ROOT, env: { ...process.env, DATABASE_URL: databaseUrl }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += String(d)));
    child.stderr.on("data", (d) => (stderr += String(d)));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe.skipIf(!pgProbe.available)("checking the audit log's hash chain", () => {
  const handle = useService();
  const verify = (query = "", token?: string) => handle.app.inject({ method: "GET", url: `/api/v1/audit/verify${query}`, headers: token === "" ? {} : auth(token) });

  it("answers an admin with the chain checked and its head; refuses a reader, a stranger and half a head", async () => {
    const tenant = (await handle.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("chained") })).json().tenant;
    expect((await waitForStatus(handle.app, tenant.id, settled)).status).toBe("ACTIVE");
    const count = (await handle.app.db.query(`SELECT count(*)::int AS n FROM provisioning_audit_logs`)).rows[0].n as number;
    expect(count).toBeGreaterThan(20);

    const res = await verify();
    expect(res.statusCode).toBe(200);
    const report = res.json();
    expect(report).toEqual({ ok: true, rows: count, head: { chainSeq: count, id: expect.any(Number), hash: expect.stringMatching(/^[0-9a-f]{64}$/) }, broken: null });
    expect((await verify(`?headSeq=${report.head.chainSeq}&headHash=${report.head.hash}`)).json()).toMatchObject({ ok: true });

    expect((await verify("", READ_TOKEN)).statusCode).toBe(403);
    expect((await verify("", "")).statusCode).toBe(401);
    const half = await verify("?headSeq=3");
    expect(half.statusCode).toBe(400);
    expect(half.json()).toMatchObject({ code: "invalid_request", details: [{ field: "headHash" }] });
    expect((await verify("?headSeq=3&headHash=nothex")).statusCode).toBe(400);
  }, 120_000);

  it("the command says the same: exit 0 with the report, 2 for a malformed head", async () => {
    const run = await verifyCommand(handle.databaseUrl);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual((await verify()).json());
    const bad = await verifyCommand(handle.databaseUrl, ["--head", "12:abc"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--head must be <chainSeq>:<64 hex digits>/);
  }, 60_000);

  it("names the row a superuser changed with the triggers skipped, through the route and the command (exit 1)", async () => {
    const middle = (await handle.app.db.query(`SELECT id::int AS id, chain_seq::int AS seq FROM provisioning_audit_logs ORDER BY chain_seq OFFSET 5 LIMIT 1`)).rows[0];
    const superuser = new pg.Client({ connectionString: handle.databaseUrl });
    await superuser.connect();
    try {
      await superuser.query("SET session_replication_role = replica");
      await superuser.query(`UPDATE provisioning_audit_logs SET actor = 'someone else' WHERE id = $1`, [middle.id]);
    } finally {
      await superuser.end();
    }
    const res = await verify();
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      ok: false,
      rows: middle.seq - 1,
      broken: { id: middle.id, chainSeq: middle.seq, reason: "its hash does not match its contents: the row was changed after it was written" },
    });
    const run = await verifyCommand(handle.databaseUrl);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout).broken).toMatchObject({ id: middle.id });
  }, 60_000);
});
