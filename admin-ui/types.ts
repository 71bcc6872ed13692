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
}

export interface FleetPage {
  items: FleetItem[];
  total: number;
  limit: number;
  offset: number;
  countsByStatus: Partial<Record<TenantStatus, number>>;
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
  run: RunRef | null;
  currentPhase: { number: number; name: string } | null;
  progress: number;
  phases: Phase[];
  startedAt: string | null;
  completedAt: string | null;
  durationMs: number | null;
  error: string | null;
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

export interface PreviewChange { urn: string; type: string; op: string; changedPaths: string[]; replaceReasons: string[] }

export interface DriftResult {
  engine: string;
  drifted: { urn: string; type: string; phase: PhaseRef; drift: string; properties: string[] }[];
  durationMs: number;
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
  | { type: "error"; code: string; message: string };
