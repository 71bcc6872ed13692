/**
 * Replicas share the work (docs/deploy.md): three service processes on one
 * real PostgreSQL, the render engine's state shared through it (the render
 * engine keeps its records in the database, docs/engines.md), real Kafka and
 * a real SMTP server.
 *
 * 1. Throughput with one, two and three processes: the same batch of tenants
 *    requested each time, timed until all are ACTIVE (figures in
 *    docs/performance.md, "Replicas").
 * 2. Thirty tenants requested through all three processes: one process is
 *    killed with SIGKILL while it runs some of them and replaced, then all
 *    three are restarted one at a time (SIGTERM, a new process, as a rolling
 *    update does) while more tenants are being provisioned. A client keeps
 *    reading and requesting throughout, through the processes a load balancer
 *    would route to (a stopping one is taken out of rotation first, as its
 *    readiness and preStop do in the chart).
 *
 * Every tenant is provisioned exactly once (one run, one ACTIVE transition);
 * the killed process's runs are taken over; no request fails (the client is
 * sequential and sends only to processes in rotation, so none is in flight at
 * a kill, and a SIGTERM lets accepted requests finish); each tenant's event and mail is in the outbox once
 * and reaches Kafka and the SMTP server under that one id (the relay delivers
 * at least once: a SIGKILL between the broker's acknowledgement and the commit
 * may deliver one row again under the same id, which consumers drop).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { TIERS } from "../../model/tiers.ts";
import { spawnService, type ServiceProcess } from "../support/entry-point.ts";
import { probePostgres } from "../support/postgres.ts";
import { ADMIN_TOKEN, freshDatabase } from "../support/service.ts";
import { createTopic, probeKafka, readTopic, SmtpSink, testKafka, uniqueTopic } from "../server/outbox/helpers.ts";
import { api, printFigures } from "./helpers.ts";

const database = await probePostgres();
const kafkaDown = await probeKafka();
if (kafkaDown && process.env.CI === "true") throw new Error(`Kafka does not answer (${kafkaDown}); required under CI=true`);
const skipReason = !database.available ? database.reason : kafkaDown ? `Kafka does not answer: ${kafkaDown}` : "";

const PACE = "0.004";
const THROUGHPUT_BATCH = 8;
const TENANTS = 30;

interface Replica { name: string; process: ServiceProcess; url: string; inRotation: boolean }

function requestBody(prefix: string, i: number) {
  const tier = TIERS[i % TIERS.length]!;
  const slug = `${prefix}-${tier.slice(0, 4)}-${i + 1}`;
  return { slug, displayName: `${prefix} tenant ${i + 1}`, tier, region: "eastus", adminEmail: `admin@${slug}.example` };
}

describe.skipIf(skipReason !== "")(`three service processes share the work${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  it("provisions every tenant once through a SIGKILL and a rolling restart, events and mails once, and scales with processes", async () => {
    const db = await freshDatabase("matih_replicas");
    cleanup.push(() => db.drop());
    const smtp = new SmtpSink();
    await smtp.start();
    cleanup.push(() => smtp.close());
    const kafka = testKafka();
    const topic = uniqueTopic("replicas");
    await createTopic(kafka, topic);
    const observer = new pg.Client({ connectionString: db.url });
    await observer.connect();
    cleanup.push(() => observer.end());

    let started = 0;
    const replicas: Replica[] = [];
    const start = async (name: string): Promise<Replica> => {
      const dataDir = await mkdtemp(path.join(tmpdir(), `matih-replica-${name}-`));
      cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
      const service = spawnService({
        DATABASE_URL: db.url, MATIH_DATA_DIR: dataDir, PORT: "0", MATIH_ENGINE: "render", MATIH_RENDER_PACE: PACE,
        MATIH_ADMIN_TOKEN: ADMIN_TOKEN, MATIH_JOB_HEARTBEAT_SECONDS: "10", MATIH_RETRY_DELAY_SECONDS: "1", MATIH_DRIFT_SCHEDULE: "off",
        KAFKA_BROKERS: "127.0.0.1:9092", KAFKA_TOPIC_TENANT_EVENTS: topic, SMTP_URL: smtp.url, LOG_LEVEL: "info",
      });
      cleanup.push(() => service.stop("SIGKILL"));
      const replica = { name, process: service, url: await service.listening(90_000), inRotation: true };
      started++;
      replicas.push(replica);
      return replica;
    };
    const live = () => replicas.filter((r) => r.inRotation);

    // The client: requests go round-robin to the processes in rotation; a failure is recorded with where it went.
    const failures: { replica: string; what: string }[] = [];
    const serverErrors: string[] = [];
    let turn = 0;
    const call = async (url: string, init: { method?: string; body?: unknown } = {}) => {
      const pool = live();
      const target = pool[turn++ % pool.length]!;
      try {
        const res = await api.call(`${target.url}${url}`, ADMIN_TOKEN, init);
        if (res.status >= 500) serverErrors.push(`${target.name} ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
        return res;
      } catch (error) {
        failures.push({ replica: target.name, what: `${url}: ${String(error)}` });
        return null;
      }
    };
    const ids: string[] = [];
    const request = async (prefix: string, from: number, count: number) => {
      const made = await Promise.all(Array.from({ length: count }, (_, k) => call("/api/v1/tenants", { method: "POST", body: requestBody(prefix, from + k) })));
      const out: string[] = [];
      for (const res of made) {
        expect(res?.status, JSON.stringify(res?.body)).toBe(202);
        out.push(res!.body.tenant.id);
      }
      return out;
    };
    const statusOf = async (id: string) => (await call(`/api/v1/tenants/${id}/provisioning/status`))?.body;
    /** Reads every status (one at a time: a client, not a flood) until each tenant is ACTIVE; returns the time taken. */
    const untilActive = async (batch: string[], timeoutMs: number, onTick?: () => Promise<void>) => {
      const t0 = Date.now();
      const done = new Set<string>();
      while (done.size < batch.length) {
        if (Date.now() - t0 > timeoutMs) throw new Error(`${batch.length - done.size} of ${batch.length} tenants not ACTIVE after ${timeoutMs} ms`);
        for (const id of batch.filter((x) => !done.has(x))) {
          const s = await statusOf(id);
          if (s?.status === "ACTIVE") done.add(id);
          if (s?.status === "FAILED") throw new Error(`tenant ${s.slug} FAILED: ${JSON.stringify(s.error)}`);
        }
        await onTick?.();
        await new Promise((r) => setTimeout(r, 200));
      }
      return Date.now() - t0;
    };
    const running = async () => (await observer.query("SELECT count(*)::int AS n FROM provisioning_runs WHERE status = 'RUNNING'")).rows[0].n as number;

    // 1. Throughput: one, then two, then three processes, the same batch each time.
    const throughput: Record<string, number> = {};
    for (const n of [1, 2, 3]) {
      await start(`p${n}`);
      const batch = await request(`tp${n}`, 0, THROUGHPUT_BATCH);
      const ms = await untilActive(batch, 120_000);
      throughput[`tenantsPerMinute${n}`] = Math.round((THROUGHPUT_BATCH / ms) * 60_000 * 10) / 10;
      throughput[`batchMs${n}`] = ms;
      ids.push(...batch);
    }
    const [p1, p2, p3] = replicas as [Replica, Replica, Replica];

    // 2a. Fifteen tenants through all three; p3 is killed once at least five runs are RUNNING (so it holds one or more).
    const wave = await request("kill", 0, 15);
    let runningAtKill = 0;
    await untilActive(wave, 180_000, async () => {
      if (p3.inRotation && (await running()) >= 5) {
        runningAtKill = await running();
        p3.inRotation = false;
        await p3.process.stop("SIGKILL");
        await start("p3b");
      }
    });
    expect(runningAtKill, "p3 was never killed: fewer than five runs were ever RUNNING at once").toBeGreaterThanOrEqual(5);

    // 2b. Rolling restart of the three live processes, each while five new tenants are being provisioned.
    const restartExits: (number | string)[] = [];
    for (const old of live().slice()) {
      const batch = await request(`roll-${old.name}`, 0, 5);
      ids.push(...batch);
      // Out of rotation first (readiness/preStop), then SIGTERM: it finishes or hands back its runs.
      old.inRotation = false;
      restartExits.push(await old.process.stop("SIGTERM"));
      await start(`${old.name}-new`);
      await untilActive(batch, 120_000);
    }
    ids.push(...wave);
    expect(ids).toHaveLength(3 * THROUGHPUT_BATCH + TENANTS);
    expect(restartExits).toEqual([0, 0, 0]);

    // Exactly once: one run per tenant, succeeded; one ACTIVE transition each; nothing failed.
    const runs = await observer.query("SELECT tenant_id, count(*)::int AS n, bool_and(status = 'SUCCEEDED') AS ok FROM provisioning_runs GROUP BY tenant_id");
    expect(runs.rows).toHaveLength(ids.length);
    expect(runs.rows.filter((r) => r.n !== 1 || !r.ok)).toEqual([]);
    const active = await observer.query("SELECT tenant_id, count(*)::int AS n FROM provisioning_audit_logs WHERE entity = 'tenant' AND to_status = 'ACTIVE' GROUP BY tenant_id");
    expect(active.rows).toHaveLength(ids.length);
    expect(active.rows.filter((r) => r.n !== 1)).toEqual([]);
    const takeovers = (await observer.query("SELECT count(*)::int AS n FROM provisioning_audit_logs WHERE message LIKE '%taking over from a worker that stopped%'")).rows[0].n as number;
    expect(takeovers, "no run of the killed process was taken over").toBeGreaterThanOrEqual(1);

    // No request failed and no 5xx: the client (sequential, as one caller is) only ever reached
    // processes in rotation, and a stopping process answered what it had accepted before closing.
    expect(serverErrors).toEqual([]);
    expect(failures).toEqual([]);

    // Events and mails: one outbox row per tenant each, all delivered.
    const outbox = async () => (await observer.query("SELECT id, kind, type, tenant_id, sent_at FROM outbox WHERE (kind = 'event' AND type = 'tenant.provisioned') OR (kind = 'email' AND type = 'provisioning-completed')")).rows;
    const deadline = Date.now() + 60_000;
    while ((await outbox()).some((r) => r.sent_at === null) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
    const rows = await outbox();
    for (const kind of ["event", "email"]) {
      const ofKind = rows.filter((r) => r.kind === kind);
      expect(ofKind).toHaveLength(ids.length);
      expect(new Set(ofKind.map((r) => r.tenant_id)).size).toBe(ids.length);
      expect(ofKind.filter((r) => r.sent_at === null)).toEqual([]);
    }
    const records = (await readTopic(kafka, topic)).filter((r) => r.value.type === "tenant.provisioned");
    const eventIds = new Set(rows.filter((r) => r.kind === "event").map((r) => r.id));
    expect(new Set(records.map((r) => r.value.id))).toEqual(eventIds);
    const mails = smtp.mails.filter((m) => /^Your matih tenant is ready/.test(m.header("subject") ?? ""));
    const mailIds = new Set(mails.map((m) => m.header("message-id")));
    expect(mailIds.size).toBe(ids.length);
    // Redeliveries (same id) only from the one SIGKILL: the graceful stops commit what they delivered.
    expect(records.length - eventIds.size).toBeLessThanOrEqual(1);
    expect(mails.length - mailIds.size).toBeLessThanOrEqual(1);

    printFigures("three-replicas", {
      ...throughput, tenants: ids.length, processesStarted: started, runningAtKill, takeovers, requestFailures: failures.length,
      kafkaRecords: records.length, kafkaRedeliveries: records.length - eventIds.size, mails: mails.length, mailRedeliveries: mails.length - mailIds.size,
    });
    expect(throughput.tenantsPerMinute3).toBeGreaterThan(0);
    for (const r of live()) expect(await r.process.stop("SIGTERM")).toBe(0);
  }, 420_000);
});
