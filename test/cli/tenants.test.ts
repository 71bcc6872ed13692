/**
 * `matih tenants`, `watch` and `drift` against a real service (real
 * PostgreSQL, render engine, the whole app listening on a port), the CLI run
 * as its own process.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { PHASES } from "../../model/phases.ts";
import { probePostgres } from "../support/postgres.ts";
import { ADMIN_TOKEN, auth, settled, tenantRequest, waitForStatus } from "../support/service.ts";
import { plain, runCli, runInTerminal, useCliService } from "./support.ts";

const postgres = await probePostgres();
const create = (slug: string, tier = "free") => ["tenants", "create", slug, "--tier", tier, "--region", "eastus", "--admin-email", `ops@${slug}.example`];

describe.skipIf(!postgres.available)("matih tenants, watch and drift against a real service", () => {
  // A small pace, so that a run lasts long enough for a terminal to show its spinner.
  const cli = useCliService({ MATIH_RENDER_PACE: "0.004" });

  it("creates a tenant with --watch, one line per phase transition, and exits 0 once it is ACTIVE", async () => {
    const result = await cli.run([...create("alpha"), "--display-name", "Alpha Inc", "--watch"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe("alpha requested (free, eastus); provisioning:");
    // Every phase's start and success, in order, whatever the snapshot already showed.
    const succeeded = lines.filter((l) => / succeeded in \d+\.\ds/.test(l)).map((l) => /^phase (\d+)/.exec(l)![1]);
    expect(succeeded.length).toBeGreaterThan(0);
    expect(succeeded).toEqual(PHASES.map((p) => String(p.number)).slice(PHASES.length - succeeded.length));
    expect(lines).toContain(`phase ${PHASES.length} ${PHASES.at(-1)!.name}: running`);
    expect(lines.at(-1)).toMatch(/^✔ alpha is ACTIVE \(provision succeeded after \d+\.\ds\)$/);
    // Not a terminal: no escapes, no redraws.
    expect(result.stdout).not.toMatch(/\u001b/);
    const tenant = (await cli.service.app.inject({ method: "GET", url: "/api/v1/tenants/alpha", headers: auth() })).json();
    expect(tenant).toMatchObject({ status: "ACTIVE", displayName: "Alpha Inc", adminEmail: "ops@alpha.example" });
  });

  it("lists tenants as a table within 80 columns, and as JSON and YAML that parse back to the API's answer", async () => {
    const table = await cli.run(["tenants", "list"]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^SLUG\s+TIER\s+REGION\s+STATUS\s+PROGRESS\s+DRIFT\s+TOOK$/);
    expect(lines.find((l) => l.startsWith("alpha "))).toMatch(/^alpha\s+free\s+eastus\s+ACTIVE\s+100%\s+-\s+\d/);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(80);

    const json = await cli.run(["tenants", "list", "-o", "json"]);
    expect(json.code).toBe(0);
    const page = JSON.parse(json.stdout);
    expect(page.items.find((t: any) => t.slug === "alpha")).toMatchObject({ status: "ACTIVE", tier: "free", progress: 100 });
    expect(page.total).toBe(page.items.length);

    const yaml = await cli.run(["--output", "yaml", "tenants", "get", "alpha"]);
    expect(yaml.code).toBe(0);
    const got = parseYaml(yaml.stdout);
    expect(got.tenant).toMatchObject({ slug: "alpha", status: "ACTIVE", profile: { databaseStrategy: expect.any(String) } });
    expect(got.status.phases).toHaveLength(PHASES.length);
    expect(got.status.phases.every((p: any) => p.status === "SUCCEEDED")).toBe(true);
  });

  it("shows a tenant with every phase, and reads a default service's token file when no token is given", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "matih-cli-"));
    try {
      await mkdir(path.join(dir, ".matih"));
      await writeFile(path.join(dir, ".matih", "admin-token"), `${ADMIN_TOKEN}\n`, { mode: 0o600 });
      const result = await runCli(["tenants", "get", "alpha"], { cwd: dir, env: { MATIH_URL: cli.url } });
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^slug:\s+alpha$/m);
      expect(result.stdout).toMatch(/^status:\s+ACTIVE$/m);
      for (const p of PHASES) expect(result.stdout).toMatch(new RegExp(`^${p.number}\\s+${p.name}\\s+SUCCEEDED\\s+1\\s`, "m"));
      for (const line of result.stdout.split("\n")) expect(line.length).toBeLessThanOrEqual(80);
      // Without the file and without a token, the service's 401 comes back in words, exit 1.
      const none = await runCli(["tenants", "list"], { cwd: tmpdir(), env: { MATIH_URL: cli.url } });
      expect(none.code).toBe(1);
      expect(none.stderr).toMatch(/^error: no token: set MATIH_TOKEN or pass --token/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const wrong = await cli.run(["tenants", "list", "--token", "not-the-token-at-all-0000000000"]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/the service refused the token from --token/);
    expect(wrong.stderr).not.toContain("not-the-token-at-all");
  });

  it("shows live progress in a terminal: a spinner on the running phase, a line per phase, the final result", async () => {
    const { code, screen } = await runInTerminal([...create("beta", "professional"), "--watch"], { MATIH_URL: cli.url, MATIH_TOKEN: ADMIN_TOKEN });
    expect(code, screen).toBe(0);
    // The spinner's frames (cli-spinners "dots") were drawn on the running phase's line, with its name.
    const text = plain(screen);
    const spinning = [...text.matchAll(/([⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]) +(\d+) ([A-Z_]+)/g)];
    expect(spinning.length).toBeGreaterThan(0);
    expect(PHASES.map((p) => p.name)).toEqual(expect.arrayContaining(spinning.map((m) => m[3])));
    // The redraws erase lines in place (log-update) and the cursor is hidden meanwhile, shown at the end.
    expect(screen).toContain("\u001b[?25l");
    expect(screen).toContain("\u001b[?25h");
    expect(screen).toMatch(/\u001b\[2K/);
    expect(text).toMatch(/beta {2}provision run (running|succeeded), attempt 1 of \d/);
    expect(text).toMatch(/elapsed \d+\.\ds/);
    // The last drawing has every phase ticked off, and the final line follows it.
    for (const p of PHASES) expect(text).toMatch(new RegExp(`✔ +${p.number} ${p.name} +\\d+\\.\\ds`));
    expect(text).toMatch(/✔ beta is ACTIVE \(provision succeeded after \d+\.\ds\)/);
  });

  it("follows an ACTIVE tenant's finished run at once with `watch`, and exits 1 naming the tenant when none is found", async () => {
    const result = await cli.run(["watch", "alpha"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^alpha: provision run succeeded/);
    expect(result.stdout.trimEnd().split("\n").at(-1)).toMatch(/^✔ alpha is ACTIVE/);
    const json = await cli.run(["watch", "alpha", "-o", "json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ tenantStatus: "ACTIVE", runStatus: "SUCCEEDED", failure: null, status: { slug: "alpha", progress: 100 } });
    const missing = await cli.run(["watch", "nobody-here"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nobody-here/);
  });

  it("checks drift of one tenant, shows what drifted and the fleet's counts", async () => {
    const clean = await cli.run(["drift", "run", "alpha"]);
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stdout).toMatch(/^alpha: IN_SYNC, 0 resources drifted/);
    // The render engine's documented command: someone edits the tenant's quota by hand.
    const client = new pg.Client({ connectionString: cli.service.databaseUrl });
    await client.connect();
    const record = (await client.query("SELECT state FROM render_states WHERE slug = 'alpha'")).rows[0].state;
    await client.end();
    const quota = record.resources.find((r: any) => r.type === "kubernetes:core/v1:ResourceQuota");
    const edit = await cli.service.app.inject({
      method: "POST", url: "/api/v1/tenants/alpha/simulated-drift", headers: auth(),
      payload: { kind: "edit", resource: quota.name, path: "spec.hard.pods", value: "99" },
    });
    expect(edit.statusCode, edit.body).toBe(200);
    const drifted = await cli.run(["drift", "run", "alpha"]);
    // Drift found is its own exit code, so that a script can tell it from a failure.
    expect(drifted.code).toBe(3);
    expect(drifted.stdout).toMatch(/^alpha: DRIFTED, 1 resource drifted/);
    expect(drifted.stdout).toContain("spec.hard.pods");
    const show = await cli.run(["drift", "show", "alpha", "--limit", "1"]);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/^state:\s+DRIFTED$/m);
    expect(show.stdout).toMatch(/spec\.hard\.pods: "20" recorded, actual "99"/);
    const status = JSON.parse((await cli.run(["drift", "status", "-o", "json"])).stdout);
    expect(status.counts.drifted).toBe(1);
    expect(status.tenants.find((t: any) => t.slug === "alpha")).toMatchObject({ state: "DRIFTED" });
    const table = await cli.run(["drift", "status", "--state", "DRIFTED"]);
    expect(table.stdout).toMatch(/^alpha\s+free\s+DRIFTED\s/m);
    expect(table.stdout).not.toMatch(/^beta\s/m);
  });

  it("refuses to delete an ACTIVE tenant without --confirm when there is no terminal to ask, then tears it down with it", async () => {
    const refused = await cli.run(["tenants", "delete", "beta"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("beta is ACTIVE: deleting it needs its slug as confirmation: --confirm beta");
    expect((await cli.service.app.inject({ method: "GET", url: "/api/v1/tenants/beta", headers: auth() })).json().status).toBe("ACTIVE");
    const wrong = await cli.run(["tenants", "delete", "beta", "--confirm", "alpha"]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/is not this tenant's slug/);
    const deleted = await cli.run(["tenants", "delete", "beta", "--confirm", "beta", "--skip-backup", "--watch"]);
    expect(deleted.code, deleted.stdout + deleted.stderr).toBe(0);
    expect(deleted.stdout).toMatch(/^teardown of beta queued/);
    expect(deleted.stdout).toMatch(/removed in \d+\.\ds/);
    expect(deleted.stdout.trimEnd().split("\n").at(-1)).toMatch(/^✔ beta is DELETED/);
    await waitForStatus(cli.service.app, "beta", settled);
  });

  it("asks for the slug on a terminal before deleting an ACTIVE tenant, and deletes nothing when it is not typed", async () => {
    const created = await cli.service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("gamma") });
    expect(created.statusCode).toBe(202);
    await waitForStatus(cli.service.app, "gamma", settled);
    // `script` gives the CLI a terminal; what it reads comes from `script`'s own stdin, here nothing but "nope".
    const answer = await new Promise<{ code: number | null; screen: string }>((resolve, reject) => {
      void import("node:child_process").then(({ spawn }) => {
        const command = `${process.execPath} cli/matih.ts tenants delete gamma`;
        const child = spawn("script", ["-q", "-e", "-c", command, "/dev/null"], { cwd: path.resolve(import.meta.dirname, "../.."), env: { ...process.env, MATIH_URL: cli.url, MATIH_TOKEN: ADMIN_TOKEN, TERM: "xterm" } });
        let screen = "";
        let answered = false;
        // Once: every later chunk (the echo, the refusal) also holds the prompt, and the CLI may have exited by then.
        child.stdin.on("error", () => undefined);
        child.stdout.on("data", (d) => {
          screen += String(d);
          if (!answered && screen.includes("Type its slug to confirm")) {
            answered = true;
            child.stdin.write("nope\r");
          }
        });
        child.on("error", reject);
        child.on("close", (code) => resolve({ code, screen }));
      });
    });
    expect(plain(answer.screen)).toContain("gamma is ACTIVE; everything of it will be deleted. Type its slug to confirm:");
    expect(plain(answer.screen)).toContain("not confirmed; nothing was deleted");
    expect(answer.code).toBe(1);
    expect((await cli.service.app.inject({ method: "GET", url: "/api/v1/tenants/gamma", headers: auth() })).json().status).toBe("ACTIVE");
  });
});
