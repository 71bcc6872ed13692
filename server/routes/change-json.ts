/**
 * Changes as the API answers them, apart from the change routes so that the
 * tenant routes (a teardown or rollback that awaits approval answers its
 * request) use the same form without the two route files importing each other.
 */
import type { ChangeRow } from "../db/changes.ts";

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

export const changeJson = (c: ChangeRow) => ({
  id: c.id,
  tenantId: c.tenantId,
  kind: c.kind,
  status: c.status,
  requested: c.requested,
  target: { tier: c.targetTier, lastPhase: c.targetPhase },
  createdBy: c.createdBy,
  createdAt: new Date(c.createdAt).toISOString(),
  expiresAt: new Date(c.expiresAt).toISOString(),
  previewedAt: iso(c.previewedAt),
  preview: c.preview,
  error: c.error,
  rejectionReason: c.rejectionReason,
  decidedBy: c.decidedBy,
  decidedAt: iso(c.decidedAt),
  allowDestructive: c.allowDestructive,
  appliedAt: iso(c.appliedAt),
  runId: c.runId,
});

export const changeLocation = (c: Pick<ChangeRow, "tenantId" | "id">) => `/api/v1/tenants/${c.tenantId}/changes/${c.id}`;

/** A teardown or rollback waiting for another admin: the request, and who may approve it where. */
export function actionRequestedJson(change: ChangeRow, approvers: readonly string[]) {
  const what = change.kind === "teardown" ? "teardown" : `rollback to the end of phase ${change.targetPhase}`;
  const who = approvers.length > 0 ? approvers.join(" or ") : "another admin (none is configured besides the requester)";
  return {
    change: changeJson(change),
    approval: {
      requestedBy: change.createdBy,
      approvers: [...approvers],
      expiresAt: new Date(change.expiresAt).toISOString(),
      approve: `${changeLocation(change)}/approve`,
      reject: `${changeLocation(change)}/reject`,
    },
    message: `the ${what} was not started: it awaits approval by ${who} (MATIH_REQUIRE_SEPARATE_APPROVER is on) until ${new Date(change.expiresAt).toISOString()}`,
  };
}
