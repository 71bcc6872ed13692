// The outbox relay against a REAL Postgres and a REAL Kafka broker (no mocks):
// claims, order per tenant, concurrent relays, failures and back-off, a relay
// killed between Kafka's acknowledgement and the commit, and mail over a real
// SMTP server failing independently of Kafka.
//
// Postgres: TEST_DATABASE_URL (default the local server); Kafka: KAFKA_BROKERS
// (default 127.0.0.1:9092, `bash scripts/kafka/kafka.sh start`). Without them
// the tests are skipped with the reason, except under CI=true, where they fail.
import { spawn } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { enqueueOutbox } from "../../../server/db/outbox.ts";
import { CLOUDEVENTS_CONTENT_TYPE } from "../../../server/outbox/cloudevents.ts";
import { KafkaEventPublisher } from "../../../server/outbox/kafka-publisher.ts";
import { Mailer } from "../../../server/outbox/mailer.ts";
import { OutboxRelay, type OutboxRelayOptions } from "../../../server/outbox/relay.ts";
import type { OutboxRow } from "../../../server/db/outbox.ts";
import {
  BROKERS, createTopic, eventually, freshDatabase, insertTenant, outboxRows, readTopic, recordCount, REPO_ROOT, servicesUnavailable,
  SmtpSink, testKafka, uniqueTopic, type TestDatabase,
} from "./helpers.ts";

const unavailable = await servicesUnavailable();
if (unavailable) console.warn(`[outbox] skipping the relay tests: ${unavailable}`);

const SOURCE = "/matih/tenant-service";
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };

describe.skipIf(unavailable !== null)("outbox relay on real Postgres and Kafka", () => {
  let db: TestDatabase;
  const kafka = testKafka();
  const cleanups: (() => Promise<unknown> | unknown)[] = [];

  beforeAll(async () => {
    db = await freshDatabase();
  });
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await db?.drop();
  });
  beforeEach(async () => {
    // Each test sees only its own rows.
    await db.pool.query("DELETE FROM outbox");
  });

  function publisherFor(topic: string, brokers: readonly string[] = BROKERS): KafkaEventPublisher {
    const publisher = new KafkaEventPublisher({ config: { brokers, clientId: "outbox-relay-test", ssl: false, sasl: null }, topic, source: SOURCE, log: silent, connectionTimeoutMs: 1_000 });
    cleanups.push(() => publisher.close());
    return publisher;
  }

  function eventRelay(deliver: OutboxRelayOptions["deliver"], extra: Partial<OutboxRelayOptions> = {}): OutboxRelay {
    const relay = new OutboxRelay({ pool: db.pool, kind: "event", log: silent, deliver, minBackoffMs: 200, maxBackoffMs: 1_000, pollIntervalMs: 100, ...extra });
    cleanups.push(() => relay.stop());
    return relay;
  }

  const event = (tenantId: string, type: string, payload: Record<string, unknown> = {}) => enqueueOutbox(db.pool, { kind: "event", tenantId, type, payload: { tenantId, ...payload } });

  it("publishes every event once, in commit order, as a CloudEvent keyed by the tenant; a restarted relay sends nothing again", async () => {
    const a = await insertTenant(db.pool);
    const b = await insertTenant(db.pool);
    const ids = [
      await event(a, "tenant.provisioned", { slug: "a", endpoints: { app: "https://a.matih.ai" } }),
      await event(b, "tenant.provisioned", { slug: "b" }),
      await event(a, "tenant.deprovisioned"),
      await event(b, "tenant.provisioning_failed"),
      await event(a, "tenant.provisioned"),
    ];
    const mailId = await enqueueOutbox(db.pool, { kind: "email", tenantId: a, type: "provisioning-completed", payload: { to: "x@a.example" } });
    const topic = uniqueTopic("order");
    await createTopic(kafka, topic);

    const publisher = publisherFor(topic);
    const relay = eventRelay((rows) => publisher.publish(rows));
    expect(await relay.drain()).toBe(5);

    const records = await readTopic(kafka, topic);
    expect(records.map((r) => r.value.id)).toEqual(ids);
    const [first] = await outboxRows(db.pool, "id = $1", [ids[0]]);
    const created = (await db.pool.query("SELECT created_at FROM outbox WHERE id = $1", [ids[0]])).rows[0].created_at as Date;
    expect(records[0]!.value).toEqual({
      specversion: "1.0",
      id: ids[0],
      source: SOURCE,
      type: "tenant.provisioned",
      subject: a,
      time: created.toISOString(),
      datacontenttype: "application/json",
      data: { tenantId: a, slug: "a", endpoints: { app: "https://a.matih.ai" } },
    });
    expect(records[0]!.key).toBe(a);
    expect(records[0]!.headers).toEqual({ "content-type": CLOUDEVENTS_CONTENT_TYPE, ce_id: ids[0], ce_type: "tenant.provisioned", ce_source: SOURCE, ce_subject: a });
    for (const r of records) expect(r.key).toBe(r.value.subject);

    const rows = await outboxRows(db.pool);
    for (const row of rows.filter((r) => r.kind === "event")) {
      expect(row.sent_at).not.toBeNull();
      expect(row.attempts).toBe(1);
    }
    expect(first!.last_error).toBeNull();
    // The mail row is not the event relay's business.
    expect(rows.find((r) => r.id === mailId)!.sent_at).toBeNull();

    // A restarted relay (new producer) finds nothing to send.
    await publisher.close();
    const again = publisherFor(topic);
    expect(await eventRelay((rows) => again.publish(rows)).drain()).toBe(0);
    expect(await recordCount(kafka, topic)).toBe(5);
  });

  it("holds a tenant's later events while its earliest unsent event is claimed by another relay", async () => {
    const a = await insertTenant(db.pool);
    const b = await insertTenant(db.pool);
    const a1 = await event(a, "tenant.provisioned");
    const b1 = await event(b, "tenant.provisioned");
    const a2 = await event(a, "tenant.deprovisioned");
    const topic = uniqueTopic("held");
    await createTopic(kafka, topic);
    const publisher = publisherFor(topic);
    const relay = eventRelay((rows) => publisher.publish(rows));

    // "Another relay" holds a1: its transaction has the row locked.
    const other = await db.pool.connect();
    try {
      await other.query("BEGIN");
      await other.query("SELECT id FROM outbox WHERE id = $1 FOR UPDATE", [a1]);
      const cycle = await relay.runOnce();
      expect(cycle).toMatchObject({ claimed: 1, delivered: 1, error: null });
      // a1 is locked and a2 must not overtake it: nothing more to claim.
      expect((await relay.runOnce()).claimed).toBe(0);
      expect((await outboxRows(db.pool, "id = $1", [a2]))[0]!.sent_at).toBeNull();
      await other.query("ROLLBACK");
    } finally {
      other.release();
    }
    expect(await relay.drain()).toBe(2);
    expect((await readTopic(kafka, topic)).map((r) => r.value.id)).toEqual([b1, a1, a2]);
  });

  it("two relays running at once deliver every event exactly once and keep each tenant's order", async () => {
    const tenants = await Promise.all([1, 2, 3, 4].map(() => insertTenant(db.pool)));
    const expected = new Map<string, string[]>(tenants.map((t) => [t, []]));
    for (let i = 0; i < 6; i++) for (const t of tenants) expected.get(t)!.push(await event(t, i % 2 ? "tenant.deprovisioned" : "tenant.provisioned", { n: i }));
    const topic = uniqueTopic("concurrent");
    await createTopic(kafka, topic);
    const p1 = publisherFor(topic);
    const p2 = publisherFor(topic);
    const delivered = { r1: 0, r2: 0 };
    const r1 = eventRelay((rows) => p1.publish(rows), { batchSize: 3, onDelivered: (rows) => (delivered.r1 += rows.length) });
    const r2 = eventRelay((rows) => p2.publish(rows), { batchSize: 3, onDelivered: (rows) => (delivered.r2 += rows.length) });
    r1.start();
    r2.start();
    await eventually("all 24 events sent", async () => (await outboxRows(db.pool, "kind = 'event' AND sent_at IS NULL")).length === 0, 30_000);
    await Promise.all([r1.stop(), r2.stop()]);

    const records = await readTopic(kafka, topic);
    expect(records).toHaveLength(24);
    expect(delivered.r1 + delivered.r2).toBe(24);
    expect(new Set(records.map((r) => r.value.id)).size).toBe(24);
    for (const t of tenants) expect(records.filter((r) => r.key === t).map((r) => r.value.id)).toEqual(expected.get(t));
  });

  it("keeps events in the outbox while Kafka is unreachable, records the attempts, backs off without spinning, then sends them in order", async () => {
    const a = await insertTenant(db.pool);
    const a1 = await event(a, "tenant.provisioned");
    const a2 = await event(a, "tenant.deprovisioned");
    const topic = uniqueTopic("down");
    await createTopic(kafka, topic);
    const down = publisherFor(topic, ["127.0.0.1:1"]); // nothing listens there
    const up = publisherFor(topic);
    let target = down;
    const relay = eventRelay((rows) => target.publish(rows), { minBackoffMs: 300, maxBackoffMs: 1_000 });

    const failed = await relay.runOnce();
    expect(failed.claimed).toBe(1);
    expect(failed.error?.message).toMatch(/Kafka at 127\.0\.0\.1:1 did not take 1 event/);
    let rows = await outboxRows(db.pool);
    expect(rows.map((r) => [r.id, r.sent_at, r.attempts])).toEqual([[a1, null, 1], [a2, null, 0]]);
    expect(rows[0]!.last_error).toMatch(/did not take/);
    // Backing off: a1 is not retried at once, and a2 may not overtake it.
    expect((await relay.runOnce()).claimed).toBe(0);
    expect(down.state().status).toBe("unreachable");

    // The loop retries with growing pauses, not in a tight loop.
    relay.start();
    await new Promise((r) => setTimeout(r, 3_000));
    await relay.stop();
    rows = await outboxRows(db.pool);
    expect(rows[0]!.sent_at).toBeNull();
    expect(rows[0]!.attempts).toBeGreaterThanOrEqual(2);
    expect(rows[0]!.attempts).toBeLessThanOrEqual(8);
    expect(rows[1]!.attempts).toBe(0);

    // The broker is back: after the back-off both go out, a1 first.
    target = up;
    relay.start();
    await eventually("both events sent", async () => (await outboxRows(db.pool, "sent_at IS NULL")).length === 0, 10_000);
    await relay.stop();
    expect((await readTopic(kafka, topic)).map((r) => r.value.id)).toEqual([a1, a2]);
    expect((await outboxRows(db.pool, "id = $1", [a1]))[0]!.last_error).toBeNull();
  });

  it("a relay killed after Kafka acknowledged but before marking: the next relay sends the event again with the same id", async () => {
    const a = await insertTenant(db.pool);
    const id = await event(a, "tenant.provisioned", { slug: "crash" });
    const topic = uniqueTopic("crash");
    await createTopic(kafka, topic);

    const child = spawn(process.execPath, [path.join(REPO_ROOT, "test/server/outbox/fixtures/crashing-relay.ts")], {
      env: { ...process.env, DATABASE_URL: db.url, KAFKA_BROKERS: BROKERS.join(","), TOPIC: topic },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on("exit", (code, signal) => resolve(signal ?? code)));
    const delivered = await new Promise<string>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`the crashing relay printed nothing within 30 s; stderr: ${stderr}`)), 30_000);
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        const match = /DELIVERED (\S+)\n/.exec(out);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
      child.on("exit", () => reject(new Error(`the crashing relay exited early; stderr: ${stderr}`)));
    });
    expect(delivered).toBe(id);
    expect(await recordCount(kafka, topic)).toBe(1);
    child.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");

    // Its transaction died with it: the row is unsent, and free once Postgres has noticed.
    const publisher = publisherFor(topic);
    const relay = eventRelay((rows) => publisher.publish(rows));
    const sent = await eventually("the row claimed again", async () => (await relay.drain()) || undefined, 10_000);
    expect(sent).toBe(1);
    expect(await relay.drain()).toBe(0);

    const records = await readTopic(kafka, topic);
    expect(records).toHaveLength(2);
    expect(records.map((r) => r.value.id)).toEqual([id, id]);
    expect(records[1]!.value).toEqual(records[0]!.value);
    expect(records.map((r) => r.headers.ce_id)).toEqual([id, id]);
    const [row] = await outboxRows(db.pool);
    expect(row!.sent_at).not.toBeNull();
  });

  it("gives a mail up after its last allowed attempt, so that the tenant's later mails go out", async () => {
    const sink = new SmtpSink();
    await sink.start();
    cleanups.push(() => sink.close());
    const a = await insertTenant(db.pool, "badaddr");
    const payload = { displayName: "Bad Addr", tenantId: a, slug: "badaddr", tier: "free", region: "eastus", error: "x", attempts: 3 };
    const doomed = await enqueueOutbox(db.pool, { kind: "email", tenantId: a, type: "provisioning-failed", payload: { ...payload, to: "refused@badaddr.example" } });
    const later = await enqueueOutbox(db.pool, { kind: "email", tenantId: a, type: "provisioning-failed", payload: { ...payload, to: "admin@badaddr.example" } });
    const mailer = new Mailer({ smtp: { host: "127.0.0.1", port: sink.port, secure: false, user: sink.user, password: sink.password }, from: "Matih <no-reply@matih.ai>", dataDir: "/nonexistent", log: silent });
    cleanups.push(() => mailer.close());
    // A relay that gives up after 2 attempts; the first address is refused every time.
    const mail = new OutboxRelay({
      pool: db.pool, kind: "email", log: silent, batchSize: 1, minBackoffMs: 50, maxBackoffMs: 100, pollIntervalMs: 50, giveUpAfter: 2,
      deliver: async (rows: readonly OutboxRow[]) => {
        for (const row of rows) {
          if ((row.payload as { to: string }).to.startsWith("refused@")) throw new Error("550 mailbox unavailable");
          await mailer.send(row);
        }
      },
    });
    cleanups.push(() => mail.stop());
    mail.start();
    await eventually("the later mail sent", async () => (await outboxRows(db.pool, "id = $1 AND sent_at IS NOT NULL", [later])).length === 1, 10_000);
    await mail.stop();
    const [given] = await outboxRows(db.pool, "id = $1", [doomed]);
    expect(given!.sent_at).toBeNull();
    expect(given!.attempts).toBe(2);
    expect((await db.pool.query("SELECT failed_at FROM outbox WHERE id = $1", [doomed])).rows[0].failed_at).not.toBeNull();
    expect(sink.mails.map((m) => m.to)).toEqual([["admin@badaddr.example"]]);
  });

  it("a failing SMTP server holds back only the mail: events go out, the mail follows once the server accepts it", async () => {
    const sink = new SmtpSink();
    await sink.start();
    cleanups.push(() => sink.close());
    sink.rejectWith = "mailbox busy, try again later";
    const a = await insertTenant(db.pool, "mailco");
    const eventId = await event(a, "tenant.provisioned", { slug: "mailco" });
    const mailId = await enqueueOutbox(db.pool, {
      kind: "email", tenantId: a, type: "provisioning-completed",
      payload: { to: "admin@mailco.example", displayName: "Mail Co", tenantId: a, slug: "mailco", tier: "free", region: "eastus", durationMs: 61_000,
        endpoints: { app: "https://mailco.matih.ai", api: "https://api.mailco.matih.ai", bi: "https://bi.mailco.matih.ai" } },
    });
    const topic = uniqueTopic("mail");
    await createTopic(kafka, topic);
    const publisher = publisherFor(topic);
    const mailer = new Mailer({ smtp: { host: "127.0.0.1", port: sink.port, secure: false, user: sink.user, password: sink.password }, from: "Matih <no-reply@matih.ai>", dataDir: "/nonexistent", log: silent });
    cleanups.push(() => mailer.close());
    const events = eventRelay((rows) => publisher.publish(rows));
    const mail = new OutboxRelay({
      pool: db.pool, kind: "email", log: silent, batchSize: 1, minBackoffMs: 200, maxBackoffMs: 500, pollIntervalMs: 100,
      deliver: async (rows: readonly OutboxRow[]) => {
        for (const row of rows) await mailer.send(row);
      },
    });
    cleanups.push(() => mail.stop());
    events.start();
    mail.start();

    await eventually("the event sent", async () => (await outboxRows(db.pool, "id = $1 AND sent_at IS NOT NULL", [eventId])).length === 1);
    const waiting = await eventually("the mail failed twice", async () => {
      const [row] = await outboxRows(db.pool, "id = $1", [mailId]);
      return row!.attempts >= 2 ? row : undefined;
    });
    expect(waiting.sent_at).toBeNull();
    expect(waiting.last_error).toMatch(/try again later/);
    expect(sink.mails).toHaveLength(0);

    sink.rejectWith = null;
    await eventually("the mail sent", async () => (await outboxRows(db.pool, "id = $1 AND sent_at IS NOT NULL", [mailId])).length === 1, 10_000);
    await Promise.all([events.stop(), mail.stop()]);
    expect(sink.mails).toHaveLength(1);
    const received = sink.mails[0]!;
    expect(received.to).toEqual(["admin@mailco.example"]);
    expect(received.from).toBe("no-reply@matih.ai");
    expect(received.header("message-id")).toBe(`<${mailId}@matih.ai>`);
    expect(received.header("x-matih-outbox-id")).toBe(mailId);
    expect(received.header("subject")).toBe("Your matih tenant is ready: Mail Co");
    for (const url of ["https://mailco.matih.ai", "https://api.mailco.matih.ai", "https://bi.mailco.matih.ai"]) expect(received.text).toContain(url);
    expect(await recordCount(kafka, topic)).toBe(1);
  });
});
