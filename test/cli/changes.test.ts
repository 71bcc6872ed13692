/**
 * `matih changes` on real changes: a free -> enterprise move, previewed by
 * the service (render engine, real PostgreSQL), is destructive (the tenant's
 * schema is replaced) and touches the credentials Secret; `changes show`
 * names the destructive resources first, masks every secret and groups the
 * rest by phase; approval needs --allow-destructive and is followed live.
 */
import { describe, expect, it } from "vitest";
import { probePostgres } from "../support/postgres.ts";
import { auth, settled, tenantRequest, waitForStatus } from "../support/service.ts";
import { runInTerminal, useCliService } from "./support.ts";
import { ADMIN_TOKEN } from "../support/service.ts";

const postgres = await probePostgres();

describe.skipIf(!postgres.available)("matih changes against a real service", () => {
  const cli = useCliService();
  let changeId = "";

  it("requests a change and, with --wait, shows its preview: destructive resources first, phases in order, secrets masked", async () => {
    const created = await cli.service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("grow") });
    expect(created.statusCode).toBe(202);
    expect((await waitForStatus(cli.service.app, "grow", settled)).status).toBe("ACTIVE");

    const requested = await cli.run(["changes", "request", "grow", "--tier", "enterprise", "--reason", "more users", "--wait"]);
    expect(requested.code, requested.stderr).toBe(0);
    const api = (await cli.service.app.inject({ method: "GET", url: "/api/v1/tenants/grow/changes", headers: auth() })).json().items[0];
    changeId = api.id;
    expect(api.preview.destructive).toBe(true);
    const out = requested.stdout;
    expect(out).toMatch(new RegExp(`^change:\\s+${changeId}$`, "m"));
    expect(out).toMatch(/^status:\s+PENDING_REVIEW$/m);
    expect(out).toMatch(/^requested:\s+admin at .*: more users$/m);

    const lines = out.split("\n");
    const destructiveAt = lines.findIndex((l) => l.startsWith("DESTRUCTIVE: "));
    const firstPhaseAt = lines.findIndex((l) => /^Phase \d+ /.test(l));
    expect(destructiveAt).toBeGreaterThan(0);
    expect(firstPhaseAt).toBeGreaterThan(destructiveAt);
    // Every destructive resource the API names is listed in that block, before any phase.
    const block = lines.slice(destructiveAt + 1, firstPhaseAt).join("\n");
    for (const d of api.preview.destructiveResources) {
      const name = api.preview.changes.find((c: any) => c.urn === d.urn).name;
      expect(block).toContain(`${d.op.padEnd(7)} ${name}  ${d.type}`);
    }
    expect(block).toContain("approving needs --allow-destructive");
    // The phases in order, each once.
    const phases = lines.filter((l) => /^Phase \d+ /.test(l)).map((l) => Number(/^Phase (\d+)/.exec(l)![1]));
    expect(phases).toEqual([...new Set(phases)].sort((a, b) => a - b));
    const summary = api.preview.changeSummary;
    expect(out).toContain(`${summary.create} to create, ${summary.update} to update, ${summary.replace} to replace, ${summary.delete} to delete, ${summary.same} unchanged`);

    // The credentials Secret's changed keys are named, their values masked, and no generated password appears.
    const secret = api.preview.changes.find((c: any) => c.type === "kubernetes:core/v1:Secret" && /credentials/.test(c.name));
    expect(secret).toBeDefined();
    const secretAt = lines.findIndex((l) => l.includes(` ${secret.name}  kubernetes:core/v1:Secret`));
    expect(secretAt).toBeGreaterThan(firstPhaseAt);
    const secretDiffs = lines.slice(secretAt + 1, secretAt + 1 + secret.diffs.length);
    expect(secretDiffs.length).toBeGreaterThan(0);
    for (const line of secretDiffs) expect(line).toMatch(/^ {6}stringData\.[A-Z_]+: (\[secret\] -> \[secret\]|\[secret\]( \(removed\))?)$/);
    expect(out).not.toMatch(/render-[0-9a-f]{8}/);
    // Not a terminal: no colour escapes.
    expect(out).not.toMatch(/\u001b/);
  });

  it("shows the same change by an id prefix, as JSON for scripts, and in colour on a terminal", async () => {
    const byPrefix = await cli.run(["changes", "show", "grow", changeId.slice(0, 8)]);
    expect(byPrefix.code, byPrefix.stderr).toBe(0);
    expect(byPrefix.stdout).toMatch(new RegExp(`^change:\\s+${changeId}$`, "m"));
    const json = await cli.run(["changes", "show", "grow", changeId, "-o", "json"]);
    expect(JSON.parse(json.stdout)).toEqual((await cli.service.app.inject({ method: "GET", url: `/api/v1/tenants/grow/changes/${changeId}`, headers: auth() })).json());
    const list = await cli.run(["changes", "list", "grow"]);
    expect(list.stdout).toMatch(new RegExp(`^${changeId.slice(0, 8)}\\s+update\\s+PENDING_REVIEW\\s+enterprise 1-10\\s+admin\\s+\\d\\d-\\d\\d \\d\\d:\\d\\d\\s+yes$`, "m"));
    for (const line of list.stdout.split("\n")) expect(line.length).toBeLessThanOrEqual(80);
    const { screen } = await runInTerminal(["changes", "show", "grow", changeId], { MATIH_URL: cli.url, MATIH_TOKEN: ADMIN_TOKEN });
    // The destructive heading in bold red, masked secrets in magenta.
    expect(screen).toContain("\u001b[1m\u001b[31mDESTRUCTIVE: ");
    expect(screen).toContain("\u001b[35m[secret]\u001b[39m");
    const missing = await cli.run(["changes", "show", "grow", "ffffffff"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("no change of grow starts with ffffffff");
  });

  it("refuses to approve the destructive change without --allow-destructive, then applies it with it and follows the update", async () => {
    const refused = await cli.run(["changes", "approve", "grow", changeId.slice(0, 8)]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: .*allowDestructive.*\(review it with matih changes show, then approve with --allow-destructive\)/);
    const approved = await cli.run(["changes", "approve", "grow", changeId.slice(0, 8), "--allow-destructive", "--watch"]);
    expect(approved.code, approved.stdout + approved.stderr).toBe(0);
    expect(approved.stdout).toMatch(new RegExp(`^change ${changeId.slice(0, 8)} approved; update run:`));
    expect(approved.stdout.trimEnd().split("\n").at(-1)).toMatch(/^✔ grow is ACTIVE \(update succeeded after/);
    const tenant = (await cli.service.app.inject({ method: "GET", url: "/api/v1/tenants/grow", headers: auth() })).json();
    expect(tenant).toMatchObject({ tier: "enterprise", status: "ACTIVE" });
  });

  it("rejects a change with a reason", async () => {
    const requested = await cli.run(["changes", "request", "grow", "--last-phase", "9", "-o", "json"]);
    expect(requested.code, requested.stderr).toBe(0);
    const change = JSON.parse(requested.stdout);
    expect(change).toMatchObject({ status: "PREVIEWING", target: { lastPhase: 9 } });
    // Rejected once reviewable: wait for its preview through the CLI itself.
    for (let i = 0; i < 200; i += 1) {
      const shown = JSON.parse((await cli.run(["changes", "show", "grow", change.id, "-o", "json"])).stdout);
      if (shown.status !== "PREVIEWING") break;
    }
    const rejected = await cli.run(["changes", "reject", "grow", change.id, "--reason", "not now"]);
    expect(rejected.code, rejected.stderr).toBe(0);
    expect(rejected.stdout).toBe(`change ${change.id.slice(0, 8)} REJECTED\n`);
    expect((await cli.service.app.inject({ method: "GET", url: `/api/v1/tenants/grow/changes/${change.id}`, headers: auth() })).json()).toMatchObject({ status: "REJECTED", decidedBy: "admin" });
  });
});
