/**
 * Publishes outbox event rows to Kafka with an idempotent kafkajs producer:
 * one topic for every tenant event, the tenant id as the message key (one
 * tenant's events stay on one partition, in order), CloudEvents structured
 * mode, acks from all in-sync replicas.
 *
 * A failed send drops the producer; the next publish starts a new one (new
 * producer id), so a broker that went away and came back never leaves the
 * producer with stale sequence numbers. Re-sent events carry the same id.
 */
import { Kafka, logLevel, Partitioners, type Admin, type logCreator, type Producer, type SASLOptions } from "kafkajs";
import { toKafkaRecord } from "./cloudevents.ts";
import type { OutboxRow } from "../db/outbox.ts";

/** The Kafka cluster the outbox relay publishes to. */
export interface KafkaConfig {
  /** KAFKA_BROKERS: comma-separated host:port list. */
  readonly brokers: readonly string[];
  /** KAFKA_CLIENT_ID; default matih-tenant-service. */
  readonly clientId: string;
  /** KAFKA_SSL; TLS to the brokers; default false. */
  readonly ssl: boolean;
  /** KAFKA_SASL_MECHANISM (plain, scram-sha-256, scram-sha-512) with KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD; unset = no SASL. */
  readonly sasl: { readonly mechanism: "plain" | "scram-sha-256" | "scram-sha-512"; readonly username: string; readonly password: string } | null;
}

export interface PublisherLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug?(obj: object, msg: string): void;
}

export interface KafkaPublisherOptions {
  config: KafkaConfig;
  topic: string;
  /** CloudEvents `source`. */
  source: string;
  log: PublisherLog;
  /** TCP connect timeout per broker; default 3 s. */
  connectionTimeoutMs?: number;
  /** Produce/metadata request timeout; default 10 s. */
  requestTimeoutMs?: number;
}

/** `since`: when this status began; `checkedAt`: when it was last confirmed (a send, a connect or a probe). */
export type KafkaState =
  | { readonly status: "connecting"; readonly since: Date; readonly checkedAt: Date }
  | { readonly status: "connected"; readonly since: Date; readonly checkedAt: Date }
  | { readonly status: "unreachable"; readonly since: Date; readonly checkedAt: Date; readonly error: string };

/** Retries inside one publish: short, so that a broker outage fails the attempt and the relay backs off instead. */
const PRODUCER_RETRY = { retries: 3, initialRetryTime: 300, maxRetryTime: 3_000 };
/** How long a readiness probe may take. */
const PROBE_TIMEOUT_MS = 5_000;

// kafkajs reports every failed connection at ERROR; the relay reports outages itself (once, with the backlog).
const QUIET = /Limiting retries for the idempotent producer|Connection error|connect ECONNREFUSED|Connection timeout|coordinator is loading|Restarting the consumer|KafkaJS v2\.0\.0 switched default partitioner/i;

function kafkaLogCreator(log: PublisherLog): logCreator {
  return () => ({ namespace, level, log: entry }) => {
    const { message, timestamp: _timestamp, ...extra } = entry;
    const fields = { kafka: namespace, ...extra };
    if (level <= logLevel.ERROR && !QUIET.test(`${message} ${String(extra.error ?? "")}`)) log.warn(fields, `kafka: ${message}`);
    else log.debug?.(fields, `kafka: ${message}`);
  };
}

function saslOf(config: KafkaConfig): SASLOptions | undefined {
  if (!config.sasl) return undefined;
  const { mechanism, username, password } = config.sasl;
  return { mechanism, username, password } as SASLOptions;
}

export class KafkaEventPublisher {
  readonly topic: string;
  readonly brokers: readonly string[];
  private readonly kafka: Kafka;
  private readonly source: string;
  private readonly log: PublisherLog;
  private producer: Producer | null = null;
  private connecting: Promise<Producer> | null = null;
  private admin: Admin | null = null;
  private probing: Promise<KafkaState> | null = null;
  private closed = false;
  private current: KafkaState = { status: "connecting", since: new Date(), checkedAt: new Date(0) };

  constructor(options: KafkaPublisherOptions) {
    this.topic = options.topic;
    this.brokers = options.config.brokers;
    this.source = options.source;
    this.log = options.log;
    const sasl = saslOf(options.config);
    this.kafka = new Kafka({
      clientId: options.config.clientId,
      brokers: [...options.config.brokers],
      ssl: options.config.ssl,
      ...(sasl ? { sasl } : {}),
      connectionTimeout: options.connectionTimeoutMs ?? 3_000,
      requestTimeout: options.requestTimeoutMs ?? 10_000,
      retry: { retries: 2, initialRetryTime: 300, maxRetryTime: 2_000 },
      logLevel: logLevel.WARN,
      logCreator: kafkaLogCreator(options.log),
    });
  }

  state(): KafkaState {
    return this.current;
  }

  /** Sends the rows in order as one batch; resolves when the broker acknowledged all of them. */
  async publish(rows: readonly OutboxRow[]): Promise<void> {
    if (this.closed) throw new Error("the Kafka publisher is closed");
    let producer: Producer;
    try {
      producer = await this.connectProducer();
      await producer.send({ topic: this.topic, acks: -1, messages: rows.map((r) => toKafkaRecord(r, this.source)) });
    } catch (err) {
      this.down(err);
      await this.dropProducer();
      throw new Error(`Kafka at ${this.brokers.join(",")} did not take ${rows.length} event(s) for ${this.topic}: ${messageOf(err)}`);
    }
    this.up();
  }

  /**
   * Checks the connection: connects the producer when there is none, otherwise
   * asks the cluster for its brokers. Updates and returns the state.
   */
  probe(): Promise<KafkaState> {
    if (this.closed) return Promise.resolve(this.current);
    // One probe at a time.
    this.probing ??= (async () => {
      try {
        await withTimeout(this.probeNow(), PROBE_TIMEOUT_MS, "no answer");
        this.up();
      } catch (err) {
        this.down(err);
        await this.dropAdmin();
      } finally {
        this.probing = null;
      }
      return this.current;
    })();
    return this.probing;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.dropAdmin();
    await this.dropProducer();
  }

  private async probeNow(): Promise<void> {
    if (!this.producer) {
      await this.connectProducer();
      return;
    }
    if (!this.admin) {
      const admin = this.kafka.admin({ retry: { retries: 0 } });
      await admin.connect();
      this.admin = admin;
    }
    const cluster = await this.admin.describeCluster();
    if (cluster.brokers.length === 0) throw new Error("the cluster reports no brokers");
  }

  private connectProducer(): Promise<Producer> {
    if (this.producer) return Promise.resolve(this.producer);
    if (!this.connecting) {
      const producer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        retry: PRODUCER_RETRY,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      this.connecting = producer.connect().then(
        () => {
          this.connecting = null;
          if (this.closed) {
            void producer.disconnect().catch(() => undefined);
            throw new Error("the Kafka publisher is closed");
          }
          this.producer = producer;
          return producer;
        },
        async (err: unknown) => {
          this.connecting = null;
          await producer.disconnect().catch(() => undefined);
          throw err;
        },
      );
    }
    return this.connecting;
  }

  private async dropProducer(): Promise<void> {
    const producer = this.producer;
    this.producer = null;
    await producer?.disconnect().catch(() => undefined);
  }

  private async dropAdmin(): Promise<void> {
    const admin = this.admin;
    this.admin = null;
    await admin?.disconnect().catch(() => undefined);
  }

  private up(): void {
    const now = new Date();
    if (this.current.status === "connected") {
      this.current = { ...this.current, checkedAt: now };
      return;
    }
    if (this.current.status === "unreachable") this.log.info({ brokers: this.brokers.join(",") }, "Kafka is reachable again");
    this.current = { status: "connected", since: now, checkedAt: now };
  }

  private down(err: unknown): void {
    const error = messageOf(err);
    const now = new Date();
    if (this.current.status !== "unreachable") {
      this.log.warn({ brokers: this.brokers.join(","), err: error }, "Kafka is unreachable; events wait in the outbox");
      this.current = { status: "unreachable", since: now, checkedAt: now, error };
    } else {
      this.current = { ...this.current, checkedAt: now, error };
    }
  }
}

function messageOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // kafkajs wraps the real reason (connection refused, unknown topic) in `cause`-like fields.
  const inner = (err as { originalError?: unknown }).originalError;
  return inner instanceof Error && inner.message !== err.message ? `${err.message}: ${inner.message}` : err.message;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
