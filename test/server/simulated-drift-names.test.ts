import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../support/entry-point.ts";
import { probePostgres } from "../support/postgres.ts";
import { auth, freshDatabase, settled, startService, tenantRequest, waitForStatus, type TestService } from "../support/service.ts";

const pg = await probePostgres();

/** The resource names `npm run render`'s tree prints for the first phases: the second field of each resource line. */
async function treeNames(slug: string, lastPhase: number): Promise<{ name: string; line: string }[]> {
  const { stdout } = await promisify(execFile)(process.execPath, ["stacks/render-cli.ts", slug, "--tier", "free", "--region", "eastus", "--last-phase", String(lastPhase)], { cwd: ROOT });
  return [...stdout.matchAll(/^ {2}[├└]─ (\S+) {2}(\S+)(.*)$/gm)].map((m) => ({ name: m[2]!, line: m[0]! }));
}

describe.skipIf(!pg.available)("the names the render CLI lists are the simulated-drift route's resource names", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let service: TestService;
  beforeAll(async () => {
    db = await freshDatabase();
    service = await startService(db.url);
  });
  afterAll(async () => {
    await service?.close();
    await db?.drop();
  });

  it("accepts every name of the tree, the docs' examples among them, and finds the drift under that name", async () => {
    const tenant = (await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("acme", "free", { lastPhase: 2 }) })).json().tenant;
    expect((await waitForStatus(service.app, tenant.id, settled)).status).toBe("ACTIVE");
    const names = await treeNames("acme", 2);
    expect(names.map((n) => n.name)).toEqual(expect.arrayContaining(["namespace-quota", "namespace-service-account"]));
    expect(names.find((n) => n.name === "namespace-quota")!.line).toContain("core/v1:ResourceQuota  namespace-quota  (matih-acme/tenant-quota)");

    const simulate = (body: object) => service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/simulated-drift`, headers: auth(), payload: body });
    for (const { name } of names) {
      const res = await simulate({ kind: "delete", resource: name });
      expect(res.statusCode, `${name}: ${res.body}`).toBe(200);
    }
    const check = (await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/drift-check`, headers: auth() })).json();
    expect(check.drifted.map((d: any) => d.urn.split("::").at(-1)).sort()).toEqual(names.map((n) => n.name).sort());
    // The Kubernetes name in parentheses is not a resource name.
    expect((await simulate({ kind: "reset" })).statusCode).toBe(200);
    expect((await simulate({ kind: "delete", resource: "tenant-quota" })).statusCode).not.toBe(200);
  });
});
