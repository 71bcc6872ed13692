/**
 * Real services for the outbox tests: a fresh Postgres database, Kafka clients
 * on a real broker (and a private broker of our own that a test may stop), a
 * real SMTP server in the test process, and the whole tenant service.
 *
 * Under CI=true a missing Postgres or Kafka fails the tests; otherwise they are
 * skipped with the reason.
 */
import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { FastifyInstance } from "fastify";
import { Kafka, logLevel, type Admin, type KafkaMessage, type logCreator } from "kafkajs";
import pg from "pg";
import { SMTPServer } from "smtp-server";
import { migrateDatabase } from "../../../server/db/migrate.ts";
import { BROKERS, probeKafka } from "../../support/kafka.ts";
import { probePostgres } from "../../support/postgres.ts";
import * as base from "../../support/service.ts";

const run = promisify(execFile);
export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const REQUIRED = process.env.CI === "true";
export { BROKERS, probeKafka };

// ---------------------------------------------------------------- availability

/** Why the tests cannot run (null when Postgres and Kafka answer). Throws under CI=true. */
export async function servicesUnavailable(): Promise<string | null> {
  const postgres = await probePostgres(); // throws under CI=true
  if (!postgres.available) return postgres.reason;
  const kafka = await probeKafka(BROKERS);
  if (kafka === null) return null;
  const reason = `no Kafka broker at ${BROKERS.join(",")} (${kafka}); start it with bash scripts/kafka/kafka.sh start`;
  if (REQUIRED) throw new Error(`${reason}. Kafka is required under CI=true.`);
  return reason;
}

// ---------------------------------------------------------------- Postgres

export interface TestDatabase {
  url: string;
  pool: pg.Pool;
  drop(): Promise<void>;
}

/** A migrated database of its own on the test server, with a pool; `drop` closes the pool and removes it. */
export async function freshDatabase(): Promise<TestDatabase> {
  const database = await base.freshDatabase("matih_outbox");
  await migrateDatabase(database.url);
  const pool = new pg.Pool({ connectionString: database.url, max: 5 });
  pool.on("error", () => undefined);
  return {
    url: database.url,
    pool,
    async drop() {
      await pool.end().catch(() => undefined);
      await database.drop();
    },
  };
}

/** A tenant row, for outbox rows to refer to. */
export async function insertTenant(pool: pg.Pool, slug = `t${randomBytes(4).toString("hex")}`): Promise<string> {
  const id = randomUUID();
  await pool.query(
    `INSERT INTO tenants (id, slug, display_name, tier, region, admin_email, requested_by, requested_at, status)
     VALUES ($1, $2, $3, 'free', 'eastus', $4, 'test', now(), 'ACTIVE')`,
    [id, slug, `${slug} Inc`, `admin@${slug}.example`],
  );
  return id;
}

export interface OutboxDbRow {
  id: string;
  seq: number;
  tenant_id: string | null;
  type: string;
  kind: string;
  sent_at: Date | null;
  attempts: number;
  last_error: string | null;
}

export async function outboxRows(pool: pg.Pool, where = "TRUE", params: unknown[] = []): Promise<OutboxDbRow[]> {
  const { rows } = await pool.query(`SELECT id, seq::int AS seq, tenant_id, type, kind, sent_at, attempts, last_error FROM outbox WHERE ${where} ORDER BY seq`, params);
  return rows as OutboxDbRow[];
}

// ---------------------------------------------------------------- Kafka

// A fresh broker's coordinators load for a moment; kafkajs retries and logs each attempt at ERROR.
const TRANSIENT = /coordinator is loading|coordinator is not available|Restarting the consumer|Connection error|ECONNREFUSED|Connection timeout|The group is rebalancing|Crash: KafkaJSNumberOfRetriesExceeded|Limiting retries/;
export const quietKafkaLog: logCreator = () => ({ namespace, label, log }) => {
  const { message, timestamp: _timestamp, ...extra } = log;
  if (TRANSIENT.test(`${message} ${String(extra.error ?? "")}`)) return;
  console.warn(`[kafkajs ${label}] ${namespace ? `[${namespace}] ` : ""}${message}`, extra);
};

export function testKafka(brokers: readonly string[] = BROKERS): Kafka {
  return new Kafka({ clientId: "outbox-test", brokers: [...brokers], connectionTimeout: 5_000, retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 2_000 }, logLevel: logLevel.WARN, logCreator: quietKafkaLog });
}

export const uniqueTopic = (label: string) => `test.outbox.${label}.${randomUUID()}`;

export async function createTopic(kafka: Kafka, topic: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

/** How many records the topic holds (sum of high watermarks): raw records, no deduplication. */
export async function recordCount(kafka: Kafka, topic: string): Promise<number> {
  const admin: Admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}

export interface ReceivedRecord {
  partition: number;
  offset: string;
  key: string | null;
  value: any;
  headers: Record<string, string>;
}

/** Reads the whole topic from the beginning with a consumer group of its own: every record, in partition order. */
export async function readTopic(kafka: Kafka, topic: string, timeoutMs = 30_000): Promise<ReceivedRecord[]> {
  const expected = await recordCount(kafka, topic);
  const consumer = kafka.consumer({ groupId: `outbox-test-${randomUUID()}`, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
  const received: ReceivedRecord[] = [];
  await consumer.connect();
  try {
    if (expected === 0) return received;
    await consumer.subscribe({ topic, fromBeginning: true });
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`read ${received.length} of ${expected} records from ${topic} within ${timeoutMs} ms`)), timeoutMs);
      consumer.run({
        eachMessage: async ({ partition, message }: { partition: number; message: KafkaMessage }) => {
          received.push({
            partition,
            offset: message.offset,
            key: message.key?.toString() ?? null,
            value: JSON.parse(message.value!.toString()),
            headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, v?.toString() ?? ""])),
          });
          if (received.length >= expected) resolve();
        },
      }).catch(reject);
    }).finally(() => clearTimeout(timer));
    return received;
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
}

/**
 * A broker of our own (same script, same jars, own directory and ports), so a
 * test can stop and start it without disturbing the shared broker that other
 * test files use at the same time.
 */
export class PrivateBroker {
  readonly home: string;
  readonly port: number;
  private readonly controllerPort: number;

  private constructor(home: string, port: number, controllerPort: number) {
    this.home = home;
    this.port = port;
    this.controllerPort = controllerPort;
  }

  get brokers(): string[] {
    return [`127.0.0.1:${this.port}`];
  }

  /** Null with the reason when the shared broker's jars (fetched by kafka.sh start) are not there. */
  static async create(): Promise<PrivateBroker | string> {
    const libs = path.join(process.env.KAFKA_HOME_DIR ? path.resolve(REPO_ROOT, process.env.KAFKA_HOME_DIR) : path.join(REPO_ROOT, ".kafka"), "libs");
    if (!existsSync(libs)) return `no Kafka jars at ${libs}: run bash scripts/kafka/kafka.sh start once`;
    const home = await mkdtemp(path.join(tmpdir(), "matih-outbox-kafka-"));
    await mkdir(home, { recursive: true });
    await symlink(libs, path.join(home, "libs"));
    const [port, controllerPort] = [await freePort(), await freePort()];
    return new PrivateBroker(home, port, controllerPort);
  }

  async start(): Promise<void> {
    await this.script("start");
  }

  async stop(): Promise<void> {
    await this.script("stop");
  }

  /** Stops the broker and removes its directory. */
  async destroy(): Promise<void> {
    await this.stop().catch(() => undefined);
    await rm(this.home, { recursive: true, force: true });
  }

  private async script(command: "start" | "stop"): Promise<void> {
    await run("bash", [path.join(REPO_ROOT, "scripts/kafka/kafka.sh"), command], {
      env: {
        ...process.env,
        KAFKA_HOME_DIR: this.home,
        KAFKA_PORT: String(this.port),
        KAFKA_CONTROLLER_PORT: String(this.controllerPort),
        KAFKA_HEAP_OPTS: "-Xms128m -Xmx256m",
        KAFKA_STOP_TIMEOUT: "20",
      },
      timeout: 120_000,
    });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------- SMTP

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
  /** Header lookup by lower-case name (unfolded). */
  header(name: string): string | undefined;
  /** The text body, decoded. */
  text: string;
}

/**
 * A real SMTP server (smtp-server) on 127.0.0.1 with a random port, requiring
 * authentication. `rejectWith` makes it refuse messages with a temporary error.
 */
export class SmtpSink {
  readonly mails: ReceivedMail[] = [];
  rejectWith: string | null = null;
  readonly user = "mailer";
  readonly password = "s3cret-mail-password";
  private readonly server: SMTPServer;
  port = 0;

  constructor() {
    this.server = new SMTPServer({
      secure: false,
      disabledCommands: ["STARTTLS"],
      allowInsecureAuth: true,
      authMethods: ["PLAIN", "LOGIN"],
      logger: false,
      onAuth: (auth, _session, callback) => {
        if (auth.username === this.user && auth.password === this.password) callback(null, { user: auth.username });
        else callback(new Error("invalid credentials"));
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", () => {
          if (this.rejectWith) {
            const err = new Error(this.rejectWith) as Error & { responseCode: number };
            err.responseCode = 451;
            callback(err);
            return;
          }
          const raw = Buffer.concat(chunks).toString("utf8");
          this.mails.push(parseMail(raw, session.envelope.mailFrom ? session.envelope.mailFrom.address : "", session.envelope.rcptTo.map((r) => r.address)));
          callback();
        });
      },
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => {
      const server = this.server.listen(0, "127.0.0.1", () => {
        this.port = (server.address() as net.AddressInfo).port;
        resolve();
      });
    });
  }

  /** smtp://user:password@127.0.0.1:port */
  get url(): string {
    return `smtp://${this.user}:${encodeURIComponent(this.password)}@127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Splits a received message into headers and a decoded text body (7bit or quoted-printable). */
export function parseMail(raw: string, from: string, to: string[]): ReceivedMail {
  const split = raw.search(/\r?\n\r?\n/);
  const head = raw.slice(0, split).replace(/\r?\n[ \t]+/g, " ");
  let body = raw.slice(split).replace(/^\r?\n\r?\n/, "");
  const headers = new Map<string, string>();
  for (const line of head.split(/\r?\n/)) {
    const i = line.indexOf(":");
    if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  if (/quoted-printable/i.test(headers.get("content-transfer-encoding") ?? "")) {
    body = Buffer.from(body.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16))), "latin1").toString("utf8");
  } else if (/base64/i.test(headers.get("content-transfer-encoding") ?? "")) {
    body = Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
  }
  const header = (name: string) => {
    const value = headers.get(name.toLowerCase());
    // RFC 2047 encoded words, as nodemailer writes them for some characters.
    return value?.replace(/=\?UTF-8\?([QB])\?([^?]*)\?=\s*/gi, (_, enc: string, text: string) =>
      enc.toUpperCase() === "B"
        ? Buffer.from(text, "base64").toString("utf8")
        : Buffer.from(text.replace(/_/g, " ").replace(/=([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), "latin1").toString("utf8"));
  };
  return { from, to, raw, header, text: body.replace(/\r\n/g, "\n") };
}

// ---------------------------------------------------------------- the service

export const ADMIN_TOKEN = base.ADMIN_TOKEN;
export const auth = base.auth();
export type TestService = base.TestService;

/** The whole service on `databaseUrl` with the render engine, readied (relays running). `env` adds variables. */
export function startService(databaseUrl: string, env: Record<string, string> = {}): Promise<TestService> {
  return base.startService(databaseUrl, { MATIH_MAX_ATTEMPTS: "2", ...env });
}

export const tenantRequest = (slug: string) => base.tenantRequest(slug);

/** Polls the tenant until `done` holds. */
export async function waitForTenant(app: FastifyInstance, id: string, done: (tenant: any) => boolean, timeoutMs = 60_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: any;
  while (Date.now() < deadline) {
    const res = await app.inject({ method: "GET", url: `/api/v1/tenants/${id}`, headers: auth });
    last = res.json();
    if (res.statusCode === 200 && done(last)) return last;
    await sleep(200);
  }
  throw new Error(`tenant ${id} did not settle within ${timeoutMs} ms; last: ${JSON.stringify(last)?.slice(0, 1000)}`);
}

/** Polls `check` until it returns a value other than undefined/false. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
