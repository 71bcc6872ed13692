// The whole tenant service (render engine) with its outbox relays, driven
// through HTTP, against a REAL Postgres, a REAL Kafka broker and a REAL SMTP
// server in this process: what a consumer and a tenant admin receive when a
// tenant is provisioned, when provisioning finally fails, when Kafka is not
// configured, and when the broker is stopped during completion and started
// again (a private broker of this test, so other test files keep theirs).
//
// Without Postgres or Kafka the tests are skipped with the reason, except
// under CI=true, where they fail.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probePostgres } from "../../support/postgres.ts";
import {
  auth, BROKERS, createTopic, eventually, freshDatabase, outboxRows, parseMail, PrivateBroker, readTopic, recordCount, REQUIRED, servicesUnavailable,
  sleep, SmtpSink, startService, tenantRequest, testKafka, uniqueTopic, waitForTenant, type TestDatabase, type TestService,
} from "./helpers.ts";

const postgres = await probePostgres();
const unavailable = postgres.available ? await servicesUnavailable() : postgres.reason;
if (unavailable) console.warn(`[outbox] skipping the service tests that need Kafka: ${unavailable}`);
if (!postgres.available) console.warn(`[outbox] skipping the service tests: ${postgres.reason}`);

const ready = (s: any) => s.status !== "PROVISIONING";

// The private broker takes ~10 s to start: start it now, while the other tests run.
const privateBroker: Promise<PrivateBroker | string> = unavailable !== null
  ? Promise.resolve(unavailable)
  : PrivateBroker.create().then(async (b) => {
    if (typeof b === "string") return b;
    try {
      await b.start();
    } catch (err) {
      await b.destroy();
      throw err;
    }
    return b;
  });
privateBroker.catch(() => undefined); // awaited (and reported) by the outage tests
afterAll(async () => {
  // Whatever ran (a -t filter may skip the outage tests), the private broker goes.
  const broker = await privateBroker.catch(() => null);
  if (broker && typeof broker !== "string") await broker.destroy();
}, 60_000);

async function provision(service: TestService, slug: string): Promise<string> {
  const res = await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth, payload: tenantRequest(slug) });
  expect(res.statusCode, res.body).toBe(202);
  return res.json().tenant.id as string;
}

/** The tenant's outbox rows once every one of them is sent. */
async function allSent(db: TestDatabase, tenantId: string, count: number, timeoutMs = 30_000) {
  return eventually(`${count} outbox rows of ${tenantId} sent`, async () => {
    const rows = await outboxRows(db.pool, "tenant_id = $1", [tenantId]);
    return rows.length === count && rows.every((r) => r.sent_at !== null) ? rows : undefined;
  }, timeoutMs);
}

describe.skipIf(unavailable !== null)("the service with Kafka and SMTP", () => {
  const kafka = testKafka();
  const sink = new SmtpSink();
  const topic = uniqueTopic("service");
  let db: TestDatabase;
  let service: TestService;

  beforeAll(async () => {
    db = await freshDatabase();
    await sink.start();
    await createTopic(kafka, topic);
    service = await startService(db.url, { KAFKA_BROKERS: BROKERS.join(","), KAFKA_TOPIC_TENANT_EVENTS: topic, SMTP_URL: sink.url, MAIL_FROM: "Matih <no-reply@matih.ai>" });
  });
  afterAll(async () => {
    await service?.close();
    await sink.close();
    await db?.drop();
  });

  it("a provisioned tenant: one tenant.provisioned CloudEvent on Kafka, the completion mail with the tenant's URLs, the event in the API", async () => {
    const id = await provision(service, "outboxco");
    const tenant = await waitForTenant(service.app, id, ready);
    expect(tenant.status).toBe("ACTIVE");
    const urls = tenant.outputs.urls as Record<string, string>;
    expect(Object.keys(urls).sort()).toEqual(["api", "bi"]);
    const rows = await allSent(db, id, 2);
    const eventRow = rows.find((r) => r.kind === "event")!;
    const mailRow = rows.find((r) => r.kind === "email")!;

    // Kafka: exactly one record, raw count (no de-duplication), with the envelope.
    await sleep(500);
    expect(await recordCount(kafka, topic)).toBe(1);
    const [record] = await readTopic(kafka, topic);
    expect(record!.key).toBe(id);
    expect(record!.headers["content-type"]).toBe("application/cloudevents+json; charset=UTF-8");
    const event = record!.value;
    expect(event).toMatchObject({ specversion: "1.0", id: eventRow.id, source: "/matih/tenant-service", type: "tenant.provisioned", subject: id, datacontenttype: "application/json" });
    expect(new Date(event.time).toISOString()).toBe(event.time);
    expect(event.data).toEqual({ tenantId: id, slug: "outboxco", tier: "free", region: "eastus", durationMs: expect.any(Number), endpoints: urls });

    // SMTP: the completion mail, once, to the tenant admin, with the URLs.
    const mails = sink.mails.filter((m) => m.to.includes("admin@outboxco.example"));
    expect(mails).toHaveLength(1);
    expect(mails[0]!.header("subject")).toBe("Your matih tenant is ready: outboxco Inc");
    expect(mails[0]!.header("message-id")).toBe(`<${mailRow.id}@matih.ai>`);
    for (const url of Object.values(urls)) expect(mails[0]!.text).toContain(url);

    // The API shows the same event, sent.
    const res = await service.app.inject({ method: "GET", url: `/api/v1/events?tenantId=${id}`, headers: auth });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.items).toHaveLength(1);
    expect(body.items[0].event).toEqual(event);
    expect(body.items[0].sentAt).not.toBeNull();

    const readyz = await service.app.inject({ method: "GET", url: "/readyz", headers: auth });
    expect(readyz.statusCode).toBe(200);
    expect(readyz.json().checks.kafka).toEqual({ ok: true, detail: expect.stringMatching(/^connected to .* topic test\.outbox\.service\..*; 0 events waiting/) });
    expect(readyz.json().checks.mail.detail).toMatch(/^SMTP smtp:\/\/127\.0\.0\.1:\d+ with authentication$/);
    expect(JSON.stringify(readyz.json())).not.toContain(sink.password);
  });

  it("a final failure: one tenant.provisioning_failed event and one failure mail saying what to do", async () => {
    const failing = await freshDatabase();
    const failTopic = uniqueTopic("failed");
    await createTopic(kafka, failTopic);
    const failingService = await startService(failing.url, {
      KAFKA_BROKERS: BROKERS.join(","), KAFKA_TOPIC_TENANT_EVENTS: failTopic, SMTP_URL: sink.url, MATIH_MAX_ATTEMPTS: "2",
      MATIH_RENDER_FAULTS: JSON.stringify({ 6: { failTimes: 5, message: "no external IP assigned within 600s" } }),
    });
    try {
      const id = await provision(failingService, "failco");
      const tenant = await waitForTenant(failingService.app, id, ready);
      expect(tenant.status).toBe("FAILED");
      const rows = await allSent(failing, id, 2);
      expect(rows.map((r) => [r.kind, r.type])).toEqual([["event", "tenant.provisioning_failed"], ["email", "provisioning-failed"]]);

      await sleep(500);
      expect(await recordCount(kafka, failTopic)).toBe(1);
      const [record] = await readTopic(kafka, failTopic);
      expect(record!.value).toMatchObject({ id: rows[0]!.id, type: "tenant.provisioning_failed", subject: id });
      expect(record!.value.data).toMatchObject({ tenantId: id, slug: "failco", attempts: 2, error: expect.stringContaining("no external IP assigned within 600s") });

      const mails = sink.mails.filter((m) => m.to.includes("admin@failco.example"));
      expect(mails).toHaveLength(1);
      expect(mails[0]!.header("subject")).toBe("Setting up your matih tenant failed: failco Inc");
      expect(mails[0]!.text).toContain("no external IP assigned within 600s");
      expect(mails[0]!.text).toContain(`POST /api/v1/tenants/${id}/provisioning/retry`);
    } finally {
      await failingService.close();
      await failing.drop();
    }
  });
});

describe.skipIf(!postgres.available)("the service without KAFKA_BROKERS or SMTP settings", () => {
  let db: TestDatabase;
  let service: TestService;

  beforeAll(async () => {
    db = await freshDatabase();
    service = await startService(db.url);
  });
  afterAll(async () => {
    await service?.close();
    await db?.drop();
  });

  it("keeps events in the outbox for the API, says so in /readyz, and writes mails as .eml files", async () => {
    const id = await provision(service, "offlineco");
    const tenant = await waitForTenant(service.app, id, ready);
    expect(tenant.status).toBe("ACTIVE");
    const mailRow = await eventually("the mail written", async () => (await outboxRows(db.pool, "tenant_id = $1 AND kind = 'email' AND sent_at IS NOT NULL", [id]))[0]);
    await sleep(1_000);
    const [eventRow] = await outboxRows(db.pool, "tenant_id = $1 AND kind = 'event'", [id]);
    expect(eventRow).toMatchObject({ type: "tenant.provisioned", sent_at: null, attempts: 0 });

    const res = await service.app.inject({ method: "GET", url: "/api/v1/events?type=tenant.provisioned&limit=10", headers: auth });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.items).toHaveLength(1);
    expect(body.items[0]).toMatchObject({ seq: eventRow!.seq, sentAt: null, attempts: 0, lastError: null });
    expect(body.items[0].event).toMatchObject({ specversion: "1.0", id: eventRow!.id, type: "tenant.provisioned", subject: id, data: { tenantId: id, slug: "offlineco", endpoints: tenant.outputs.urls } });
    expect(body.nextAfter).toBe(eventRow!.seq);
    const next = await service.app.inject({ method: "GET", url: `/api/v1/events?after=${body.nextAfter}`, headers: auth });
    expect(next.json()).toEqual({ items: [], nextAfter: body.nextAfter });
    expect((await service.app.inject({ method: "GET", url: "/api/v1/events?type=tenant.deprovisioned", headers: auth })).json().items).toEqual([]);
    expect((await service.app.inject({ method: "GET", url: "/api/v1/events" })).statusCode).toBe(401);
    const bad = await service.app.inject({ method: "GET", url: "/api/v1/events?limit=0&tenantId=nope", headers: auth });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().details.map((d: { field: string }) => d.field).sort()).toEqual(["limit", "tenantId"]);

    const readyz = await service.app.inject({ method: "GET", url: "/readyz", headers: auth });
    expect(readyz.statusCode).toBe(200);
    expect(readyz.json().checks.kafka).toEqual({ ok: true, detail: "not configured: events stay in the outbox (read them at GET /api/v1/events); 1 event waiting in the outbox" });
    expect(readyz.json().checks.mail.detail).toBe("no SMTP settings: mails are written to the mail folder of the data directory");
    expect(JSON.stringify(readyz.json())).not.toContain(service.dataDir);

    const eml = parseMail(await readFile(path.join(service.dataDir, "mail", `${mailRow.id}.eml`), "utf8"), "", []);
    expect(eml.header("to")).toBe("admin@offlineco.example");
    expect(eml.header("from")).toBe("no-reply@matih.ai");
    expect(eml.header("message-id")).toBe(`<${mailRow.id}@matih.ai>`);
    expect(eml.header("subject")).toBe("Your matih tenant is ready: offlineco Inc");
    for (const url of Object.values(tenant.outputs.urls as Record<string, string>)) expect(eml.text).toContain(url);
  });
});

describe.skipIf(unavailable !== null)("the service while its Kafka broker is stopped and started again", () => {
  let broker: PrivateBroker | null = null;
  let db: TestDatabase;
  let service: TestService;
  const topic = uniqueTopic("outage");

  beforeAll(async () => {
    const created = await privateBroker;
    if (typeof created === "string") {
      if (REQUIRED) throw new Error(`${created}; a private broker is required under CI=true`);
      console.warn(`[outbox] skipping the broker-outage test: ${created}`);
      return;
    }
    broker = created;
    db = await freshDatabase();
    await createTopic(testKafka(broker.brokers), topic);
    service = await startService(db.url, { KAFKA_BROKERS: broker.brokers.join(","), KAFKA_TOPIC_TENANT_EVENTS: topic });
  }, 180_000);
  afterAll(async () => {
    await service?.close();
    await db?.drop();
  }, 60_000);

  it("completes while the broker is down; the events wait, the service stays ready, and after the restart they arrive once each, in order", async (context) => {
    if (!broker) return context.skip();
    const kafka = testKafka(broker.brokers);
    const kafkaCheck = async () => (await service.app.inject({ method: "GET", url: "/readyz", headers: auth })).json().checks.kafka as { ok: boolean; detail: string };
    await eventually("the relay connected", async () => (await kafkaCheck()).detail.startsWith("connected to"));

    await broker.stop();
    const id = await provision(service, "outageco");
    expect((await waitForTenant(service.app, id, ready)).status).toBe("ACTIVE");
    // Mails do not wait for Kafka.
    await eventually("the mail written", async () => (await outboxRows(db.pool, "tenant_id = $1 AND kind = 'email' AND sent_at IS NOT NULL", [id])).length === 1);
    const failedOnce = await eventually("the relay tried and failed", async () => {
      const [row] = await outboxRows(db.pool, "tenant_id = $1 AND kind = 'event'", [id]);
      return row!.attempts >= 1 ? row : undefined;
    }, 60_000);
    expect(failedOnce.sent_at).toBeNull();
    expect(failedOnce.last_error).toMatch(/did not take/);
    const readyz = await service.app.inject({ method: "GET", url: "/readyz", headers: auth });
    expect(readyz.statusCode).toBe(200);
    expect(readyz.json().checks.kafka.detail).toMatch(/^unreachable since .*events wait in the outbox and go out in order when it is back; 1 event waiting in the outbox$/);

    // Tear the tenant down too: its second event must follow the first.
    const del = await service.app.inject({ method: "DELETE", url: `/api/v1/tenants/${id}?confirm=outageco`, headers: auth });
    expect(del.statusCode).toBe(202);
    expect((await waitForTenant(service.app, id, (t) => t.status === "DELETED")).status).toBe("DELETED");
    const waiting = await outboxRows(db.pool, "tenant_id = $1 AND kind = 'event'", [id]);
    expect(waiting.map((r) => [r.type, r.sent_at])).toEqual([["tenant.provisioned", null], ["tenant.deprovisioned", null]]);

    await broker.start();
    const sent = await eventually("both events sent", async () => {
      const rows = await outboxRows(db.pool, "tenant_id = $1 AND kind = 'event'", [id]);
      return rows.every((r) => r.sent_at !== null) ? rows : undefined;
    }, 60_000);
    await sleep(1_000);
    expect(await recordCount(kafka, topic)).toBe(2);
    const records = await readTopic(kafka, topic);
    expect(records.map((r) => [r.key, r.value.type, r.value.id])).toEqual([
      [id, "tenant.provisioned", sent[0]!.id],
      [id, "tenant.deprovisioned", sent[1]!.id],
    ]);
    await eventually("readiness sees the broker again", async () => (await kafkaCheck()).detail.startsWith("connected to"), 20_000);
  }, 180_000);
});
