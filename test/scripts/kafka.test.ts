// Round-trip through a REAL Kafka broker (no mocks): create a topic, produce one record
// with an idempotent producer, read it back with a consumer group.
//
// Broker: KAFKA_BROKERS (comma-separated, default 127.0.0.1:9092), normally the one
// started by `bash scripts/kafka/kafka.sh start`.
// Without a reachable broker the test is skipped, except under CI=true where it fails.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import {
  Kafka,
  logLevel,
  Partitioners,
  type Admin,
  type Consumer,
  type KafkaMessage,
  type logCreator,
  type Producer,
} from "kafkajs";
import { BROKERS, probeKafka } from "../support/kafka.ts";

const REQUIRED = process.env.CI === "true";
const REASON = "Kafka is required under CI=true; start it with bash scripts/kafka/kafka.sh start";

// On a freshly formatted broker the first group / producer-id request finds
// __consumer_offsets and __transaction_state still loading: kafkajs retries, but logs each
// attempt at ERROR. Drop those (and the bounded-retries notice); print everything else.
const TRANSIENT = /coordinator is loading|coordinator is not available|Restarting the consumer|Limiting retries for the idempotent producer/;
const quietTransient: logCreator = () => ({ namespace, label, log }) => {
  const { message, timestamp: _timestamp, ...extra } = log;
  if (TRANSIENT.test(`${message} ${String(extra.error ?? "")}`)) return;
  console.warn(`[kafkajs ${label}] ${namespace ? `[${namespace}] ` : ""}${message}`, extra);
};

const unreachable = await probeKafka();
const skip = unreachable !== null && !REQUIRED;
if (skip) {
  // Shown with the file's output, next to the skipped test.
  console.warn(`[kafka] skipping: no broker at ${BROKERS.join(",")} (${unreachable}). ${REASON}`);
}

describe(`Kafka broker at ${BROKERS.join(",")}`, () => {
  const kafka = new Kafka({
    clientId: "broker-test",
    brokers: BROKERS,
    connectionTimeout: 5_000,
    retry: { retries: 5, initialRetryTime: 200 },
    logLevel: logLevel.WARN,
    logCreator: quietTransient,
  });
  const opened: Array<Admin | Producer | Consumer> = [];

  afterAll(async () => {
    // Disconnect everything (consumer first) so no socket keeps vitest's worker alive.
    for (const client of opened.reverse()) {
      await client.disconnect().catch(() => undefined);
    }
  });

  it.skipIf(skip)(
    skip ? `round-trips a keyed record with headers (skipped: ${REASON})` : "round-trips a keyed record with headers",
    async () => {
      if (unreachable !== null) {
        throw new Error(`${REASON} (no broker at ${BROKERS.join(",")}: ${unreachable})`);
      }

      const run = randomUUID();
      const topic = `test.broker.${run}`;
      const groupId = `test-broker-${run}`;
      const sent = {
        key: `tenant-${run}`,
        value: JSON.stringify({ type: "tenant.provisioned", tenantId: run }),
        headers: { "event-type": "tenant.provisioned", "event-id": run, "content-type": "application/json" },
      };

      const admin = kafka.admin();
      opened.push(admin);
      await admin.connect();
      const created = await admin.createTopics({
        topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
        waitForLeaders: true,
      });
      expect(created).toBe(true);

      const producer = kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      opened.push(producer);
      await producer.connect();
      const [meta] = await producer.send({ topic, acks: -1, messages: [sent] });
      expect(meta?.errorCode).toBe(0);

      const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
      opened.push(consumer);
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });

      let timer: NodeJS.Timeout | undefined;
      const received = await new Promise<KafkaMessage>((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`no record consumed from ${topic} within 30 s`)), 30_000);
        consumer
          .run({
            eachMessage: async ({ message }) => {
              resolve(message);
            },
          })
          .catch(reject);
      }).finally(() => clearTimeout(timer));

      expect(received.key?.toString()).toBe(sent.key);
      expect(received.value?.toString()).toBe(sent.value);
      const headers = Object.fromEntries(
        Object.entries(received.headers ?? {}).map(([name, value]) => [name, value?.toString()]),
      );
      expect(headers).toEqual(sent.headers);
      expect(received.offset).toBe("0");

      await consumer.disconnect();
      await producer.disconnect();
      await admin.deleteTopics({ topics: [topic] });
    },
  );
});
