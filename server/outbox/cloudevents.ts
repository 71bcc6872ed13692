/**
 * Outbox event rows as CloudEvents 1.0 (JSON format), and as Kafka records in
 * the CloudEvents Kafka binding's structured mode. Everything is derived from
 * the row, so a re-sent event is byte-for-byte the same event: consumers drop
 * duplicates by `id`.
 */
import type { OutboxRow } from "../db/outbox.ts";

export const DEFAULT_EVENT_SOURCE = "/matih/tenant-service";
export const CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8";

export interface CloudEvent {
  readonly specversion: "1.0";
  /** The outbox row id: the same on every delivery of this event. */
  readonly id: string;
  readonly source: string;
  /** `tenant.provisioned`, `tenant.provisioning_failed`, `tenant.updated`, `tenant.update_failed`, `tenant.deprovisioned`. */
  readonly type: string;
  /** The tenant id, when the event is about a tenant. */
  readonly subject?: string;
  /** When the state change happened (the row's created_at: its transaction's time), RFC 3339. */
  readonly time: string;
  readonly datacontenttype: "application/json";
  readonly data: Record<string, unknown>;
}

export function toCloudEvent(row: Pick<OutboxRow, "id" | "tenantId" | "type" | "payload" | "createdAt">, source: string): CloudEvent {
  return {
    specversion: "1.0",
    id: row.id,
    source,
    type: row.type,
    ...(row.tenantId ? { subject: row.tenantId } : {}),
    time: row.createdAt.toISOString(),
    datacontenttype: "application/json",
    data: row.payload,
  };
}

export interface KafkaRecord {
  /** The tenant id: one tenant's events land on one partition, in order. */
  key: string | null;
  value: string;
  headers: Record<string, string>;
}

/**
 * Structured mode: the whole event is the value, with content type
 * `application/cloudevents+json`. The `ce_id`, `ce_type`, `ce_source` and
 * `ce_subject` headers repeat attributes so that consumers can route and drop
 * duplicates without parsing the value (`ce_specversion` is left out on
 * purpose: SDKs take its presence as binary mode).
 */
export function toKafkaRecord(row: OutboxRow, source: string): KafkaRecord {
  const event = toCloudEvent(row, source);
  return {
    key: row.tenantId,
    value: JSON.stringify(event),
    headers: {
      "content-type": CLOUDEVENTS_CONTENT_TYPE,
      ce_id: event.id,
      ce_type: event.type,
      ce_source: event.source,
      ...(event.subject ? { ce_subject: event.subject } : {}),
    },
  };
}
