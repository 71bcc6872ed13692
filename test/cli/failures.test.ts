/**
 * A tenant that fails, followed with `matih`: the render engine's rehearsal
 * faults (MATIH_RENDER_FAULTS, as test/server/faults.test.ts uses them) make
 * phase 6 fail on every attempt; the watch exits non-zero with the phase's
 * message in words, and a retry followed the same way ends ACTIVE.
 */
import { describe, expect, it } from "vitest";
import { probePostgres } from "../support/postgres.ts";
import { useCliService } from "./support.ts";

const postgres = await probePostgres();
const NO_IP = "no external IP assigned to ingress-nginx-controller within 600s";

describe.skipIf(!postgres.available)("matih following a failing tenant", () => {
  // Three attempts, all failing at phase 6; the fourth (the retry's) succeeds.
  const cli = useCliService({ MATIH_RENDER_FAULTS: JSON.stringify({ 6: { failTimes: 3, message: NO_IP } }), MATIH_MAX_ATTEMPTS: "3" });

  it("exits 1 with the failing phase's message in plain words, after showing each retry", async () => {
    const result = await cli.run(["tenants", "create", "doomed", "--tier", "professional", "--region", "eastus", "--admin-email", "ops@doomed.example", "--watch"]);
    expect(result.code, result.stdout + result.stderr).toBe(1);
    const lines = result.stdout.trimEnd().split("\n");
    // Each failed attempt of phase 6 is a line with its message; the engine's URN becomes the resource's name and type.
    const failures = lines.filter((l) => l.startsWith("phase 6 DEPLOY_INGRESS_CONTROLLER: failed after "));
    expect(failures.length).toBeGreaterThanOrEqual(1);
    for (const line of failures) {
      expect(line).toContain(NO_IP);
      expect(line).not.toContain("urn:pulumi:");
    }
    expect(lines.some((l) => /^attempt \d failed; retrying/.test(l))).toBe(true);
    // Phases after the failure never started.
    expect(lines.some((l) => /^phase (7|8|9|10) /.test(l))).toBe(false);
    const closing = lines.slice(-2);
    expect(closing[0]).toMatch(new RegExp(`^✖ doomed is FAILED: phase 6 DEPLOY_INGRESS_CONTROLLER \\(deploy ingress controller\\) failed: ${NO_IP}`));
    expect(closing[1]).toBe("  retry with: matih tenants retry doomed   or roll back: matih tenants rollback doomed --to-phase N");

    // The same end, read by a script.
    const json = await cli.run(["watch", "doomed", "-o", "json"]);
    expect(json.code).toBe(1);
    const final = JSON.parse(json.stdout);
    expect(final).toMatchObject({ tenantStatus: "FAILED", runStatus: "FAILED", status: { status: "FAILED", run: { attempt: 3 } } });
    expect(final.failure).toMatch(/^phase 6 DEPLOY_INGRESS_CONTROLLER \(deploy ingress controller\) failed: no external IP/);

    const shown = await cli.run(["tenants", "get", "doomed"]);
    expect(shown.stdout).toMatch(/^6\s+DEPLOY_INGRESS_CONTROLLER\s+FAILED\s+3\s/m);
    expect(shown.stdout).toMatch(/^7\s+CREATE_DNS_ZONE\s+PENDING\s+0\s/m);
    expect(shown.stdout).toMatch(/^error:\s+.*no external IP/m);
  });

  it("retries the failed tenant with --watch and exits 0 when it ends ACTIVE; a second retry is refused with the service's reason", async () => {
    const result = await cli.run(["tenants", "retry", "doomed", "--watch"]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^retry of doomed queued/);
    // Phases 1-5 had succeeded and are not run again: no "running" line for them.
    expect(result.stdout).not.toMatch(/^phase [1-5] [A-Z_]+: running$/m);
    expect(result.stdout).toMatch(/^phase 6 DEPLOY_INGRESS_CONTROLLER: succeeded in/m);
    expect(result.stdout.trimEnd().split("\n").at(-1)).toMatch(/^✔ doomed is ACTIVE \(retry succeeded after/);
    const again = await cli.run(["tenants", "retry", "doomed"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error: .*ACTIVE/);
  });
});
