import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import { Counter, Gauge } from "prom-client";
import type { KafkaConfig } from "../outbox/kafka-publisher.ts";
import type { SmtpConfig } from "../outbox/mailer.ts";
import { KafkaEventPublisher } from "../outbox/kafka-publisher.ts";
import { Mailer } from "../outbox/mailer.ts";
import { OutboxRelay } from "../outbox/relay.ts";
import { outboxBacklog } from "../db/outbox.ts";

declare module "fastify" {
  interface FastifyInstance {
    outbox: {
      /** The CloudEvents `source` of this service's events. */
      readonly source: string;
      /** The Kafka relay; null without KAFKA_BROKERS (events stay in the outbox). */
      readonly events: OutboxRelay | null;
      readonly publisher: KafkaEventPublisher | null;
      /** The mail relay; always on (SMTP, or .eml files). */
      readonly mail: OutboxRelay;
      readonly mailer: Mailer;
    };
  }
}

export interface OutboxPluginOptions {
  kafka: KafkaConfig | null;
  topic: string;
  source: string;
  smtp: SmtpConfig | null;
  mailFrom: string;
  dataDir: string;
}

/** How old the Kafka state may get before it is probed, when nothing is being sent (for /readyz). */
const PROBE_INTERVAL_MS = 10_000;

/**
 * The outbox relays: events to Kafka (when configured) and mails to SMTP (or
 * files). Each relay is its own loop, so a failing SMTP server never holds
 * events back and a Kafka outage never holds mails back. They start when the
 * service is ready and stop, after the delivery in flight, when it closes.
 */
async function outboxPlugin(fastify: FastifyInstance, opts: OutboxPluginOptions): Promise<void> {
  const log = fastify.log.child({ component: "outbox" });
  const registry = fastify.metrics.registry;
  const delivered = new Counter({ name: "matih_outbox_delivered_total", help: "Outbox rows delivered, by kind (event: Kafka, email: SMTP or file)", labelNames: ["kind"], registers: [registry] });
  const failures = new Counter({ name: "matih_outbox_delivery_failures_total", help: "Failed outbox delivery attempts, by kind", labelNames: ["kind"], registers: [registry] });
  new Gauge({
    name: "matih_outbox_backlog",
    help: "Outbox rows waiting to be delivered, by kind",
    labelNames: ["kind"],
    registers: [registry],
    async collect() {
      const backlog = await outboxBacklog(fastify.db).catch(() => null);
      if (!backlog) return;
      this.set({ kind: "event" }, backlog.event);
      this.set({ kind: "email" }, backlog.email);
    },
  });

  const publisher = opts.kafka ? new KafkaEventPublisher({ config: opts.kafka, topic: opts.topic, source: opts.source, log }) : null;
  const events = publisher
    ? new OutboxRelay({
        pool: fastify.db,
        kind: "event",
        log,
        deliver: (rows) => publisher.publish(rows),
        onDelivered: (rows) => delivered.inc({ kind: "event" }, rows.length),
        onFailed: () => failures.inc({ kind: "event" }),
      })
    : null;
  const mailer = new Mailer({ smtp: opts.smtp, from: opts.mailFrom, dataDir: opts.dataDir, log });
  const mail = new OutboxRelay({
    pool: fastify.db,
    kind: "email",
    log,
    // One mail per transaction: each accepted mail is marked at once.
    batchSize: 1,
    maxBackoffMs: 60_000,
    // About an hour of refusals (the back-off tops out at a minute): then the mail is given up and logged.
    giveUpAfter: 60,
    deliver: async (rows) => {
      for (const row of rows) await mailer.send(row);
    },
    onDelivered: (rows) => delivered.inc({ kind: "email" }, rows.length),
    onFailed: () => failures.inc({ kind: "email" }),
  });
  fastify.decorate("outbox", { source: opts.source, events, publisher, mail, mailer });

  fastify.readinessChecks.kafka = async () => {
    const waiting = await outboxBacklog(fastify.db).then((b) => b.event, () => null);
    const backlog = waiting === null ? "" : `; ${waiting} event${waiting === 1 ? "" : "s"} waiting in the outbox`;
    if (!publisher) return { ok: true, detail: `not configured: events stay in the outbox (read them at GET /api/v1/events)${backlog}` };
    // The state of the last send, connect or probe (at most ~PROBE_INTERVAL_MS old): a readiness probe must answer at once.
    const state = publisher.state();
    const where = `${publisher.brokers.join(",")} topic ${publisher.topic}`;
    // Provisioning must not stop because Kafka is down: the outbox keeps the events, so the service stays ready.
    if (state.status === "unreachable") return { ok: true, detail: `unreachable since ${state.since.toISOString()} (${state.error}) at ${where}: events wait in the outbox and go out in order when it is back${backlog}` };
    // Reachable, but the last publish failed (a missing topic, say): say why the events wait.
    const failure = waiting ? events?.status().lastFailure : null;
    const failing = failure ? `; the last publish failed at ${failure.at.toISOString()}: ${failure.message}` : "";
    if (state.status === "connecting") return { ok: true, detail: `connecting to ${where}${backlog}${failing}` };
    return { ok: true, detail: `connected to ${where}${backlog}${failing}` };
  };
  fastify.readinessChecks.mail = async () => {
    const failure = mail.status().lastFailure;
    return { ok: true, detail: failure ? `${mailer.describe()}; last attempt failed at ${failure.at.toISOString()}, mails wait in the outbox: ${failure.message}` : mailer.describe() };
  };

  let probeTimer: NodeJS.Timeout | null = null;
  fastify.addHook("onReady", async () => {
    events?.start();
    mail.start();
    if (publisher) {
      // Connect now rather than at the first event, and keep the state fresh when nothing is being sent.
      void publisher.probe();
      probeTimer = setInterval(() => {
        if (Date.now() - publisher.state().checkedAt.getTime() >= PROBE_INTERVAL_MS) void publisher.probe();
      }, PROBE_INTERVAL_MS / 2);
      probeTimer.unref();
    }
    log.info({ kafka: publisher ? `${publisher.brokers.join(",")} topic ${publisher.topic}` : "not configured: events stay in the outbox", mail: mailer.describe({ withPath: true }) }, "outbox relays started");
  });
  fastify.addHook("onClose", async () => {
    if (probeTimer) clearInterval(probeTimer);
    await Promise.all([events?.stop(), mail.stop()]);
    await publisher?.close();
    mailer.close();
  });
}

export default fp(outboxPlugin, { name: "matih-outbox", fastify: "5.x", dependencies: ["matih-database", "matih-metrics"] });
