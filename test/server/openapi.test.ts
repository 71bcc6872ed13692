import Ajv from "ajv";
import addFormats from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AZURE_REGIONS } from "../../model/regions.ts";
import { probePostgres } from "../support/postgres.ts";
import { freshDatabase, startService, type TestService } from "../support/service.ts";

const pg = await probePostgres();

describe.skipIf(!pg.available)("the OpenAPI document at /docs", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let service: TestService;
  let doc: any;
  beforeAll(async () => {
    db = await freshDatabase();
    service = await startService(db.url);
    const res = await service.app.inject({ method: "GET", url: "/docs/json" });
    expect(res.statusCode).toBe(200);
    doc = res.json();
  });
  afterAll(async () => {
    await service?.close();
    await db?.drop();
  });

  it("lists every route, the public ones without a bearer requirement and the WebSocket described", () => {
    const routes = Object.entries(doc.paths).flatMap(([p, ops]: [string, any]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)).sort();
    expect(routes).toEqual([
      "DELETE /api/v1/tenants/{id}",
      "GET /api/v1/audit/verify",
      "GET /api/v1/changes",
      "GET /api/v1/drift",
      "GET /api/v1/drift/runs/{id}",
      "GET /api/v1/events",
      "GET /api/v1/fleet",
      "GET /api/v1/fleet/changes/{id}",
      "GET /api/v1/fleet/rollouts/{id}",
      "GET /api/v1/platform",
      "GET /api/v1/platform/settings",
      "GET /api/v1/platform/settings/versions",
      "GET /api/v1/session",
      "GET /api/v1/tenants",
      "GET /api/v1/tenants/{id}",
      "GET /api/v1/tenants/{id}/audit",
      "GET /api/v1/tenants/{id}/backups",
      "GET /api/v1/tenants/{id}/changes",
      "GET /api/v1/tenants/{id}/changes/{changeId}",
      "GET /api/v1/tenants/{id}/drift",
      "GET /api/v1/tenants/{id}/provisioning/status",
      "GET /healthz",
      "GET /metrics",
      "GET /readyz",
      "GET /ws/provisioning",
      "GET /ws/provisioning/{id}",
      "POST /api/v1/drift/runs",
      "POST /api/v1/fleet/changes",
      "POST /api/v1/fleet/changes/{id}/approve",
      "POST /api/v1/fleet/changes/{id}/reject",
      "POST /api/v1/fleet/rollouts/{id}/abort",
      "POST /api/v1/fleet/rollouts/{id}/pause",
      "POST /api/v1/fleet/rollouts/{id}/resume",
      "POST /api/v1/tenants",
      "POST /api/v1/tenants/{id}/backups",
      "POST /api/v1/tenants/{id}/changes",
      "POST /api/v1/tenants/{id}/changes/{changeId}/approve",
      "POST /api/v1/tenants/{id}/changes/{changeId}/reject",
      "POST /api/v1/tenants/{id}/drift-check",
      "POST /api/v1/tenants/{id}/preview",
      "POST /api/v1/tenants/{id}/provisioning/retry",
      "POST /api/v1/tenants/{id}/restore",
      "POST /api/v1/tenants/{id}/rollback",
      "POST /api/v1/tenants/{id}/simulated-drift",
    ]);
    for (const path of ["/healthz", "/readyz"]) expect(doc.paths[path].get.security, path).toEqual([]);
    expect(doc.paths["/metrics"].get.security).toBeUndefined(); // metrics need a read token
    expect(doc.paths["/api/v1/tenants"].get.security).toBeUndefined(); // the document-wide bearer requirement applies
    expect(doc.security).toEqual([{ bearer: [] }]);
    const ws = doc.paths["/ws/provisioning/{id}"].get;
    expect(ws.summary).toMatch(/^WebSocket/);
    expect(ws.description).toMatch(/access_token/);
    expect(ws.responses["101"].description).toMatch(/WebSocket/);
  });

  it("describes every status code of every route, with shared schemas under their own names", () => {
    const text = JSON.stringify(doc);
    expect(text).not.toContain("Default Response");
    expect(text).not.toMatch(/def-\d/);
    expect(Object.keys(doc.components.schemas).sort()).toEqual(expect.arrayContaining(["ErrorResponse", "ProvisioningStatus", "Tenant"]));
    for (const [path, ops] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(ops)) {
        expect(Object.keys(op.responses).length, `${method} ${path}`).toBeGreaterThan(0);
        for (const [code, response] of Object.entries<any>(op.responses)) expect(response.description, `${method} ${path} ${code}`).toBeTruthy();
      }
    }
  });

  it("gives every queued-run answer the same shape and its Location header, and marks the optional body optional", () => {
    const queued = [
      doc.paths["/api/v1/tenants"].post,
      doc.paths["/api/v1/tenants/{id}/provisioning/retry"].post,
    ].map((op) => op.responses["202"]);
    for (const r of queued) {
      expect(r.headers.location.description).toMatch(/provisioning\/status/);
      expect(Object.keys(r.content["application/json"].schema.properties).sort()).toEqual(["run", "tenant"]);
    }
    // A teardown or rollback answers the same queued run, or (four eyes) the request awaiting another admin.
    for (const op of [doc.paths["/api/v1/tenants/{id}/rollback"].post, doc.paths["/api/v1/tenants/{id}"].delete]) {
      const r = op.responses["202"];
      expect(r.headers.location.description).toMatch(/provisioning status, or the request awaiting approval/);
      const shapes = r.content["application/json"].schema.anyOf.map((shape: any) => Object.keys(shape.properties).sort());
      expect(shapes).toEqual([["run", "tenant"], ["approval", "change", "message"]]);
    }
    expect(doc.paths["/api/v1/tenants/{id}/preview"].post.requestBody.required).toBe(false);
    // DELETE takes its confirmation and skipBackup in the query or an optional body.
    expect(doc.paths["/api/v1/tenants/{id}"].delete.requestBody.required).toBe(false);
    expect(doc.paths["/api/v1/tenants/{id}"].delete.parameters.filter((p: any) => p.in === "query").map((p: any) => p.name).sort()).toEqual(["confirm", "skipBackup"]);
    expect(doc.paths["/api/v1/tenants"].post.requestBody.required).toBe(true);
  });

  it("gives every request body and every answer an example that is valid against its schema", () => {
    // CommonJS packages under Node's ESM: their export is the module's default (as server/build.ts uses them).
    const ajv = new Ajv.default({ strict: false, allErrors: true });
    addFormats.default(ajv);
    const media: { where: string; schema: object; example: unknown }[] = [];
    const missing: string[] = [];
    for (const [path, ops] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(ops)) {
        const contents = [["request", op.requestBody?.content], ...Object.entries<any>(op.responses).map(([code, r]) => [code, r.content])] as [string, any][];
        for (const [part, content] of contents) {
          for (const [type, m] of Object.entries<any>(content ?? {})) {
            const where = `${method.toUpperCase()} ${path} ${part} ${type}`;
            if (m.example === undefined && m.examples === undefined) missing.push(where);
            else media.push({ where, schema: m.schema, example: m.example ?? Object.values<any>(m.examples)[0].value });
          }
        }
      }
    }
    expect(missing).toEqual([]);
    expect(media.length).toBeGreaterThan(100);
    const invalid = media.flatMap(({ where, schema, example }) => {
      const validate = ajv.compile({ ...schema, components: doc.components });
      return validate(example) ? [] : [`${where}: ${ajv.errorsText(validate.errors)}`];
    });
    expect(invalid).toEqual([]);
  });

  it("lists the accepted regions and the run kinds and statuses as enums", () => {
    const region = doc.paths["/api/v1/tenants"].post.requestBody.content["application/json"].schema.properties.region;
    expect(region.enum).toEqual([...AZURE_REGIONS]);
    const run = doc.components.schemas.ProvisioningStatus.properties.run;
    const runObject = (run.anyOf ?? [run]).find((s: any) => s.properties);
    expect(runObject.properties.kind.enum).toEqual(["provision", "retry", "rollback", "teardown", "preview", "drift", "update"]);
    expect(runObject.properties.status.enum).toEqual(["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"]);
    const queued = doc.paths["/api/v1/tenants"].post.responses["202"].content["application/json"].schema.properties.run;
    expect(queued.properties.kind.enum).toContain("provision");
    expect(queued.properties.status.enum).toContain("QUEUED");
  });
});
