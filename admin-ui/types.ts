/** The shapes the dashboard reads from the API (see the service's OpenAPI at /docs). */

export type Scope = "read" | "admin";
export type TenantStatus = "PROVISIONING" | "ACTIVE" | "UPDATING" | "FAILED" | "DEPROVISIONING" | "DELETED";
export type PhaseStatus = "PENDING" | "RUNNING" | "SUCCEEDED" | "FAILED" | "ROLLED_BACK";

export interface Session {
  principal: string;
  scope: Scope;
}

export interface Platform {
  baseDomain: string;
  tiers: string[];
  regions: string[];
  phases: { number: number; name: string; summary: string }[];
}

export interface RunRef {
  id: string;
  kind: string;
  status: string;
  attempt: number;
  maxAttempts: number;
  targetPhase: number;
}

export interface FleetItem {
  id: string;
  slug: string;
  displayName: string;
  tier: string;
  region: string;
  status: TenantStatus;
  run: RunRef | null;
  currentPhase: { number: number; name: string } | null;
  progress: number;
  phases: PhaseStatus[];
  startedAt: string | null;
  completedAt: string | null;
  durationMs: number | null;
  error: string | null;
  /** What the tenant's latest drift check found; null: never checked. */
  drift: { state: DriftState; since: string; lastCheckedAt: string } | null;
}

export interface FleetPage {
  items: FleetItem[];
  total: number;
  limit: number;
  offset: number;
  countsByStatus: Partial<Record<TenantStatus, number>>;
  /** Per latest drift state; UNCHECKED: tenants never checked. */
  countsByDrift: Partial<Record<DriftState | "UNCHECKED", number>>;
}

export interface Tenant {
  id: string;
  slug: string;
  displayName: string;
  tier: string;
  region: string;
  adminEmail: string;
  requestedBy: string;
  status: TenantStatus;
  provisioningStartedAt: string | null;
  provisioningCompletedAt: string | null;
  provisioningError: string | null;
  outputs: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

export interface Phase {
  number: number;
  name: string;
  status: PhaseStatus;
  attempts: number;
  startedAt: string | null;
  completedAt: string | null;
  durationMs: number | null;
  error: string | null;
  resources: { done: number; pending: number };
}

export interface ProvisioningStatus {
  tenantId: string;
  slug: string;
  status: TenantStatus;
  /** With the run's own times: after an update, its start and duration rather than the first provisioning's. */
  run: (RunRef & { startedAt: string | null; completedAt: string | null; durationMs: number | null }) | null;
  currentPhase: { number: number; name: string } | null;
  progress: number;
  phases: Phase[];
  startedAt: string | null;
  completedAt: string | null;
  durationMs: number | null;
  error: string | null;
  /** A RUNNING run whose worker stopped: it waits for that worker to time out before another takes it over. */
  waiting: { reason: "previous-worker"; message: string; upToSeconds: number; lastHeartbeatAt: string | null } | null;
}

export interface AuditEntry {
  id: number;
  runId: string | null;
  entity: string;
  phase: number | null;
  actor: string;
  from: string | null;
  to: string;
  message: string;
  details: Record<string, unknown>;
  createdAt: string;
}

export type PhaseRef = { number: number; name: string } | null;

export interface PreviewResult {
  engine: string;
  lastPhase: number;
  changeSummary: { create: number; update: number; replace: number; delete: number; same: number };
  durationMs: number;
  /** changes: only resources that would change (the default); all: with include=same. */
  included: "changes" | "all";
  /** Grouped by phase; number 0 holds resources outside the phases. */
  phases: { number: number; name: string; changes: PreviewChange[] }[];
}

export interface PreviewChange { urn: string; type: string; op: string; changedPaths: string[]; replaceReasons: string[]; diffs: ChangeDiff[] }

/** One property that differs: the value the stack records and the one found; secrets as "[secret]". */
export interface PropertyDrift { path: string; recorded: unknown; actual: unknown }

export interface DriftedResource { urn: string; type: string; phase: PhaseRef; drift: string; properties: string[]; differences?: PropertyDrift[] }

/** A one-off drift check's answer: what it found, and whether it was kept in the tenant's drift history (and if not, why). */
export interface DriftResult {
  engine: string;
  drifted: DriftedResource[];
  durationMs: number;
  state: "IN_SYNC" | "DRIFTED";
  recorded: boolean;
  checkId: string | null;
  notRecordedReason: string | null;
}

export type DriftState = "IN_SYNC" | "DRIFTED" | "CHECK_FAILED";

export interface DriftCheck {
  id: string;
  driftRunId: string | null;
  state: DriftState;
  reason: string | null;
  checkedAt: string;
  durationMs: number;
  resources: DriftedResource[];
}

export interface DriftHistory {
  tenantId: string;
  slug: string;
  state: DriftState | null;
  since: string | null;
  driftedSince: string | null;
  items: DriftCheck[];
  total: number;
  limit: number;
  offset: number;
}

export interface DriftRun {
  id: string;
  trigger: "schedule" | "manual";
  requestedBy: string;
  status: "QUEUED" | "RUNNING" | "SUCCEEDED" | "FAILED";
  total: number;
  checked: number;
  drifted: number;
  failed: number;
  skipped: number;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export type ChangeStatus = "PREVIEWING" | "PREVIEW_FAILED" | "PENDING_REVIEW" | "APPROVED" | "APPLYING" | "APPLIED" | "FAILED" | "REJECTED" | "STALE" | "EXPIRED";

/** One property a change sets: absent `old` is new, absent `new` is removed; secrets as "[secret]". */
export interface ChangeDiff { path: string; old?: unknown; new?: unknown }

export interface ReviewedChange { urn: string; type: string; name: string; phase: PhaseRef; op: string; diffs: ChangeDiff[] }

export interface ChangePreview {
  changeSummary: { create: number; update: number; replace: number; delete: number; same: number };
  destructive: boolean;
  destructiveResources: { urn: string; type: string; op: string }[];
  /** Changes only, in phase order. */
  changes: ReviewedChange[];
}

/** update: a previewed change; teardown and rollback: that action asked for under four eyes, awaiting another admin. */
export type ChangeKind = "update" | "teardown" | "rollback";

export interface Change {
  id: string;
  tenantId: string;
  kind: ChangeKind;
  status: ChangeStatus;
  requested: { tier?: string; lastPhase?: number; reason?: string };
  target: { tier: string; lastPhase: number };
  createdBy: string;
  createdAt: string;
  expiresAt: string;
  previewedAt: string | null;
  preview: ChangePreview | null;
  /** What went wrong with its preview or apply. */
  error: string | null;
  /** Why an admin rejected it. */
  rejectionReason: string | null;
  decidedBy: string | null;
  decidedAt: string | null;
  allowDestructive: boolean;
  appliedAt: string | null;
  /** The teardown or rollback run an approved request queued. */
  runId: string | null;
}

/** A queued run's answer (create, retry, rollback, delete). */
export interface RunQueued {
  tenant: Tenant;
  run: { id: string; kind: string; status: string; targetPhase: number };
}

/** A teardown or rollback that, under four eyes, waits for another admin instead of running. */
export interface ActionRequested {
  change: Change;
  approval: { requestedBy: string; approvers: string[]; expiresAt: string; approve: string; reject: string };
  message: string;
}

/** What the live streams send (see /ws/provisioning and /ws/provisioning/{id}). */
export type LiveMessage =
  | { type: "subscribed" }
  | { type: "snapshot"; status: ProvisioningStatus }
  | { type: "phase"; tenantId: string; runId: string; phase: Phase }
  | { type: "progress"; tenantId: string; runId: string; phase: { number: number; name: string }; resources: { done: number; pending: number }; resource: { urn: string; type: string; op: string } }
  | { type: "run"; tenantId: string; runId: string; kind: string; status: string; attempt: number; error?: string }
  | { type: "run-finished"; tenantId: string; runId: string; kind: string; status: string; tenantStatus: TenantStatus; error: string | null }
  | { type: "diagnostic"; tenantId: string; runId: string; message: string }
  | { type: "final"; tenantId: string; runId: string | null; runStatus: string | null; tenantStatus: TenantStatus; error: string | null }
  /** A drift check of the tenant was kept (a fleet run's or a one-off one): its new drift state, no values. */
  | { type: "drift"; tenantId: string; checkId: string; driftRunId: string | null; state: DriftState; since: string; lastCheckedAt: string }
  | { type: "error"; code: string; message: string };
