/**
 * The shapes the dashboard reads from the API, derived from the TypeBox
 * schemas the service validates and serialises through (api/schemas.ts;
 * the OpenAPI at /docs is made from the same): type-only imports, so the
 * browser loads nothing of them. Hand-written here only what has no schema:
 * the session, the platform summary and the live streams' messages.
 */
import type { Static } from "typebox";
import type * as api from "../api/schemas.ts";

export type Scope = "read" | "admin";

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

export type Tenant = Static<typeof api.Tenant>;
export type TenantStatus = Tenant["status"];
export type Phase = Static<typeof api.Phase>;
export type PhaseStatus = Phase["status"];
/** A sub-step inside a phase as last reported: a tier change's expand, move, verify, switch and contract in phase 2. */
export type PhaseStep = Phase["steps"][number];
export type ProvisioningStatus = Static<typeof api.ProvisioningStatus>;

export type FleetPage = Static<typeof api.FleetResponse>;
export type FleetItem = FleetPage["items"][number];
export type RunRef = NonNullable<FleetItem["run"]>;

export type AuditEntry = Static<typeof api.AuditResponse>["items"][number];

export type PreviewResult = Static<typeof api.PreviewResponse>;
export type PreviewChange = PreviewResult["phases"][number]["changes"][number];

/** A one-off drift check's answer: what it found, and whether it was kept in the tenant's drift history (and if not, why). */
export type DriftResult = Static<typeof api.DriftResponse>;
export type DriftedResource = DriftResult["drifted"][number];
/** One property that differs: the value the stack records and the one found; secrets as "[secret]". */
export type PropertyDrift = NonNullable<DriftedResource["differences"]>[number];
export type DriftCheck = Static<typeof api.DriftCheck>;
export type DriftState = DriftCheck["state"];
export type DriftHistory = Static<typeof api.DriftHistory>;
export type DriftRun = Static<typeof api.DriftRun>;

export type Change = Static<typeof api.Change>;
export type ChangeStatus = Change["status"];
/** update: a previewed change; teardown and rollback: that action asked for under four eyes, awaiting another admin. */
export type ChangeKind = Change["kind"];
export type ChangePreview = NonNullable<Change["preview"]>;
export type ReviewedChange = ChangePreview["changes"][number];
/** One property a change sets: absent `old` is new, absent `new` is removed; secrets as "[secret]". */
export type ChangeDiff = ReviewedChange["diffs"][number];
export type PhaseRef = ReviewedChange["phase"];
/** How a tier change moves the tenant's data: the steps phase 2 will run, the move between database placements, what it copies or why that is unknown. */
export type TierChangePlan = NonNullable<ChangePreview["tierChange"]>;

/** One page of the fleet's review queue (GET /api/v1/changes), oldest first. */
export type ReviewQueuePage = Static<typeof api.ReviewQueue>;
export type ReviewQueueItem = ReviewQueuePage["items"][number];
export type TenantReviewItem = Extract<ReviewQueueItem, { kind: "tenant" }>;
/** A fleet change awaiting review: its grouped impact without the slugs (the fleet change page has them). */
export type FleetReviewItem = Extract<ReviewQueueItem, { kind: "fleet" }>;

/** A proposed platform settings version with its preview on the selected tenants, grouped (issue 23). */
export type FleetChange = Static<typeof api.FleetChange>;
export type FleetChangeGroup = FleetChange["preview"]["groups"][number];
/** The approval's wave options; each left out takes the service's default. */
export type RolloutWaves = NonNullable<Static<typeof api.FleetApproveBody>["waves"]>;
export type FleetRollout = Static<typeof api.FleetRollout>;
export type RolloutWave = FleetRollout["waves"][number];
export type RolloutTenant = RolloutWave["tenants"][number];
export type RolloutStatus = FleetRollout["status"];
export type PlatformSettingsVersion = Static<typeof api.PlatformSettingsVersion>;

/** A queued run's answer (create, retry, rollback, delete); the schema names its tenant by reference. */
export type RunQueued = Omit<Static<typeof api.RunAccepted>, "tenant"> & { tenant: Tenant };

/** A teardown or rollback that, under four eyes, waits for another admin instead of running. */
export type ActionRequested = Omit<Static<typeof api.ActionRequested>, "change"> & { change: Change };

/** What the live streams send (see /ws/provisioning and /ws/provisioning/{id}). */
export type LiveMessage =
  | { type: "subscribed" }
  | { type: "snapshot"; status: ProvisioningStatus }
  | { type: "phase"; tenantId: string; runId: string; phase: Phase }
  | { type: "progress"; tenantId: string; runId: string; phase: { number: number; name: string }; resources: { done: number; pending: number }; resource: { urn: string; type: string; op: string } }
  | { type: "run"; tenantId: string; runId: string; kind: string; status: string; attempt: number; error?: string }
  | { type: "run-finished"; tenantId: string; runId: string; kind: string; status: string; tenantStatus: TenantStatus; error: string | null }
  /** A sub-step of a phase moved on (tenant stream only): the step's entry as `phases[].steps` keeps it. */
  | { type: "phase-step"; tenantId: string; runId: string; phase: { number: number; name: string }; step: PhaseStep }
  | { type: "diagnostic"; tenantId: string; runId: string; message: string }
  | { type: "final"; tenantId: string; runId: string | null; runStatus: string | null; tenantStatus: TenantStatus; error: string | null }
  /** A drift check of the tenant was kept (a fleet run's or a one-off one): its new drift state, no values. */
  | { type: "drift"; tenantId: string; checkId: string; driftRunId: string | null; state: DriftState; since: string; lastCheckedAt: string }
  /** A fleet rollout moved (started, next wave, halted, paused, resumed, aborted, completed); `tenantId` is "fleet-rollout:<rolloutId>". */
  | { type: "rollout"; tenantId: string; rolloutId: string; status: RolloutStatus; currentWave: number; waveCount: number; haltedReason: string | null }
  /** One tenant's part in a rollout moved; `wave` counts from 1. */
  | { type: "rollout-tenant"; tenantId: string; rolloutId: string; slug: string; wave: number; status: RolloutTenant["status"]; reason: string | null }
  | { type: "error"; code: string; message: string };
