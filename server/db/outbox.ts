import { randomUUID } from "node:crypto";
import type { Queryable } from "./pool.ts";

export interface OutboxMessage {
  kind: "event" | "email";
  tenantId: string | null;
  /** Event type (`tenant.provisioned`) or mail template (`provisioning-completed`). */
  type: string;
  payload: Record<string, unknown>;
}

/** Adds a message in the caller's transaction; it is sent only if that transaction commits. */
export async function enqueueOutbox(db: Queryable, message: OutboxMessage): Promise<string> {
  const id = randomUUID();
  await db.query(`INSERT INTO outbox (id, kind, tenant_id, type, payload) VALUES ($1, $2, $3, $4, $5)`, [id, message.kind, message.tenantId, message.type, JSON.stringify(message.payload)]);
  return id;
}
