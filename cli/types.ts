/**
 * The API's answers as the CLI reads them: the TypeBox schemas the service
 * serialises through (type-only imports, so nothing of the server loads).
 * Schemas that point at others by `Type.Ref` are spelled out here with the
 * referenced type, since `Static` cannot follow a reference by name.
 */
import type { Static } from "typebox";
import type {
  Change as ChangeSchema, DriftHistory as DriftHistorySchema, DriftResponse as DriftResponseSchema, DriftRun as DriftRunSchema,
  DriftSummary as DriftSummarySchema, ErrorResponse as ErrorResponseSchema, ProvisioningStatus as ProvisioningStatusSchema,
  RunAccepted as RunAcceptedSchema, Tenant as TenantSchema, ActionRequested as ActionRequestedSchema, FleetResponse as FleetResponseSchema,
} from "../api/schemas.ts";


export type Tenant = Static<typeof TenantSchema>;
export type ProvisioningStatus = Static<typeof ProvisioningStatusSchema>;
export type Phase = ProvisioningStatus["phases"][number];
export type Change = Static<typeof ChangeSchema>;
export type ChangePreview = NonNullable<Change["preview"]>;
export type ResourceChange = ChangePreview["changes"][number];
export type ErrorResponse = Static<typeof ErrorResponseSchema>;
export type RunAccepted = Omit<Static<typeof RunAcceptedSchema>, "tenant"> & { tenant: Tenant };
export type ActionRequested = Omit<Static<typeof ActionRequestedSchema>, "change"> & { change: Change };
/** A teardown or rollback: its run queued, or (four eyes) the request awaiting another admin. */
export type ActionAccepted = RunAccepted | ActionRequested;
export type ChangeAccepted = { change: Change; tenant: Tenant; run: RunAccepted["run"] };
/** A backup as the API lists it (GET /api/v1/tenants/{id}/backups), the fields the CLI reads. */
export type BackupSummary = { id: string; reason: string; sizeBytes: number; sha256: string; schemaName: string; createdAt: string; expiresAt: string; removedAt: string | null };
export type BackupList = { items: BackupSummary[]; total: number };
/** An approved restore request: restored in the approval, so no run. */
export type RestoreApproved = { change: Change; tenant: Tenant; run: null; restored: BackupSummary; safetyBackup: BackupSummary | null };
export type ChangeList = { items: Change[] };
export type FleetPage = Static<typeof FleetResponseSchema>;
export type DriftSummary = Static<typeof DriftSummarySchema>;
export type DriftRun = Static<typeof DriftRunSchema>;
export type DriftHistory = Static<typeof DriftHistorySchema>;
export type DriftCheckNow = Static<typeof DriftResponseSchema>;

/** What /ws/provisioning/{id} sends (server/routes/live.ts, server/runs/). */
export type LiveMessage =
  | { type: "snapshot"; status: ProvisioningStatus }
  | { type: "phase"; runId: string; phase: Phase }
  | { type: "progress"; runId: string; phase: { number: number; name: string }; resources: { done: number; pending: number }; resource?: { urn?: string } }
  | { type: "run"; runId: string; kind: string; status: string; attempt: number; error?: string }
  | { type: "diagnostic"; runId: string; message: string }
  | { type: "final"; runId: string | null; runStatus: string | null; tenantStatus: string; error: string | null }
  | { type: "error"; code: string; message: string }
  | { type: "drift" | "run-finished" | "truncated"; [key: string]: unknown };
