import { Kafka, logLevel } from "kafkajs";

/** The broker tests use: KAFKA_BROKERS (comma-separated), default the one `scripts/kafka/kafka.sh start` runs. */
export const BROKERS = (process.env.KAFKA_BROKERS ?? "127.0.0.1:9092").split(",").map((b) => b.trim()).filter(Boolean);

/** Does a broker answer metadata requests? Returns why not, or null when it does. */
export async function probeKafka(brokers: readonly string[] = BROKERS): Promise<string | null> {
  const admin = new Kafka({
    clientId: "test-probe",
    brokers: [...brokers],
    connectionTimeout: 3_000,
    requestTimeout: 5_000,
    retry: { retries: 1, initialRetryTime: 200, maxRetryTime: 1_000 },
    logLevel: logLevel.NOTHING,
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0 ? null : "the cluster reports no brokers";
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
