// Kafka, topic, event-source and mail settings from the environment: defaults,
// every problem reported at once by variable, and no password in any message.
import { describe, expect, it } from "vitest";
import { loadServiceConfig, ServiceConfigError } from "../../../server/config.ts";

const problemsOf = (env: NodeJS.ProcessEnv): string[] => {
  try {
    loadServiceConfig(env);
  } catch (error) {
    if (error instanceof ServiceConfigError) return [...error.problems];
    throw error;
  }
  return [];
};

describe("event and mail settings", () => {
  it("defaults: relay off, default topic and source, .eml files", () => {
    const config = loadServiceConfig({});
    expect(config.kafka).toBeNull();
    expect(config.eventsTopic).toBe("matih.tenant.events");
    expect(config.eventSource).toBe("/matih/tenant-service");
    expect(config.smtp).toBeNull();
    expect(config.mailFrom).toBe("no-reply@matih.ai");
  });

  it("reads Kafka with SASL and an SMTP URL with credentials", () => {
    const config = loadServiceConfig({
      KAFKA_BROKERS: " k1.internal:9092, k2.internal:9093 ",
      KAFKA_CLIENT_ID: "tenant-svc",
      KAFKA_TOPIC_TENANT_EVENTS: "prod.tenant-events",
      KAFKA_SSL: "true",
      KAFKA_SASL_MECHANISM: "SCRAM-SHA-512",
      KAFKA_SASL_USERNAME: "svc",
      KAFKA_SASL_PASSWORD: "kafka-pw",
      MATIH_EVENT_SOURCE: "https://matih.ai/tenant-service",
      SMTP_URL: "smtps://mailer:p%40ss@smtp.example.com",
      MAIL_FROM: "Matih <no-reply@example.com>",
    });
    expect(config.kafka).toEqual({ brokers: ["k1.internal:9092", "k2.internal:9093"], clientId: "tenant-svc", ssl: true, sasl: { mechanism: "scram-sha-512", username: "svc", password: "kafka-pw" } });
    expect(config.eventsTopic).toBe("prod.tenant-events");
    expect(config.eventSource).toBe("https://matih.ai/tenant-service");
    expect(config.smtp).toEqual({ host: "smtp.example.com", port: 465, secure: true, user: "mailer", password: "p@ss" });
    expect(config.mailFrom).toBe("Matih <no-reply@example.com>");
  });

  it("reads separate SMTP variables", () => {
    expect(loadServiceConfig({ SMTP_HOST: "mail.internal" }).smtp).toEqual({ host: "mail.internal", port: 587, secure: false, user: null, password: null });
    expect(loadServiceConfig({ SMTP_HOST: "mail.internal", SMTP_PORT: "2525", SMTP_USER: "u", SMTP_PASSWORD: "pw" }).smtp).toEqual({ host: "mail.internal", port: 2525, secure: false, user: "u", password: "pw" });
  });

  it("reports every problem together, by variable, without echoing secrets", () => {
    const problems = problemsOf({
      KAFKA_BROKERS: "k1:9092,nonsense",
      KAFKA_SASL_MECHANISM: "kerberos",
      KAFKA_SASL_PASSWORD: "kafka-secret",
      KAFKA_TOPIC_TENANT_EVENTS: "bad topic!",
      SMTP_URL: "http://user:mail-secret@host",
      SMTP_PORT: "25",
      MAIL_FROM: "nobody",
    });
    expect(problems).toHaveLength(7);
    for (const name of ["KAFKA_BROKERS", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_TOPIC_TENANT_EVENTS", "SMTP_URL", "SMTP_PORT", "MAIL_FROM"]) {
      expect(problems.some((p) => p.includes(name)), name).toBe(true);
    }
    expect(problems.join("\n")).not.toMatch(/kafka-secret|mail-secret/);
    expect(problemsOf({ SMTP_USER: "u", SMTP_PASSWORD: "pw" })).toEqual(["SMTP_USER, SMTP_PASSWORD need SMTP_HOST (or set SMTP_URL)"]);
    expect(problemsOf({ KAFKA_SASL_USERNAME: "u" })).toEqual(["KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD need KAFKA_BROKERS"]);
  });
});
