/** TypeBox schemas of the API: requests are checked against them, responses serialised through them. */
import { Type, type Static, type TSchema } from "typebox";
import { PHASE_COUNT, PHASE_NAMES } from "../model/phases.ts";
import { DISPLAY_NAME_MAX_LENGTH, EMAIL_MAX_LENGTH, SLUG_MAX_LENGTH, SLUG_MIN_LENGTH, type TenantRequest } from "../model/spec.ts";
import { AZURE_REGIONS } from "../model/regions.ts";
import { TIERS } from "../model/tiers.ts";
import { TIER_CHANGE_STEPS } from "../automation/core/types.ts";

export const ErrorResponse = Type.Object({
  code: Type.String(),
  message: Type.String(),
  details: Type.Optional(Type.Unknown()),
}, { $id: "ErrorResponse" });

/**
 * Response fields are written in the forms the serializer (fast-json-stringify)
 * writes directly: a nullable string and a string enum. A union (anyOf) makes
 * it check every value against each branch with Ajv first, date-time formats
 * included; the status read has some 45 of them per answer, which made its
 * serialization three times slower. `nullable` is OpenAPI 3.0's own keyword.
 */
const nullableDate = Type.Unsafe<string | null>({ type: "string", format: "date-time", nullable: true });
const oneOf = <T extends string>(values: readonly T[]) => Type.Unsafe<T>({ type: "string", enum: [...values] });
/** A union of string literals that keeps each literal in its type (a plain `.map` would type it as a union of nothing). */
const literalUnion = <const T extends readonly string[]>(values: T, options?: Parameters<typeof Type.Union>[1]) =>
  Type.Unsafe<T[number]>(Type.Union(values.map((v) => Type.Literal(v)), options));
const TierEnum = Type.Enum(TIERS);
const TENANT_STATUSES = ["PROVISIONING", "ACTIVE", "UPDATING", "FAILED", "DEPROVISIONING", "DELETED"] as const;
/** For requests (their validation errors name the allowed values through the union); responses use `oneOf`. */
const TenantStatusEnum = literalUnion(TENANT_STATUSES);
const PhaseStatusEnum = oneOf(["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "ROLLED_BACK"] as const);
/** What a run does: provision, retry, rollback, teardown, update (a change applied); preview and drift change nothing. */
export const RUN_KINDS = ["provision", "retry", "rollback", "teardown", "preview", "drift", "update"] as const;
export type RunKind = (typeof RUN_KINDS)[number];
export const RUN_STATUSES = ["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
const RunKindEnum = Type.Unsafe<RunKind>({ type: "string", enum: [...RUN_KINDS], description: "provision, retry, rollback, teardown, update (a change applied); preview and drift change nothing" });
// Typed as a string for the code that reads it (clients keep live "RETRYING" in it); the document lists the values.
const RunStatusEnum = Type.Unsafe<string>({ type: "string", enum: [...RUN_STATUSES] });
/** A queued run as the 202 answers name it. */
const QueuedRun = Type.Object({ id: Type.String(), kind: RunKindEnum, status: RunStatusEnum, targetPhase: Type.Integer() });

/**
 * The body of `POST /api/v1/tenants`, for the API description: a TenantRequest
 * (model/spec.ts), with the limits the spec's own check applies. The route
 * checks bodies with `validateTenantRequest`, which lists every problem at once.
 */
export const CreateTenantBody = Type.Object({
  slug: Type.String({ minLength: SLUG_MIN_LENGTH, maxLength: SLUG_MAX_LENGTH, pattern: "^[a-z][a-z0-9-]*[a-z0-9]$" }),
  displayName: Type.String({ minLength: 1, maxLength: DISPLAY_NAME_MAX_LENGTH }),
  tier: TierEnum,
  region: Type.Unsafe<string>({ type: "string", enum: [...AZURE_REGIONS], description: "An Azure region (model/regions.ts); the platform settings may narrow the list, and GET /api/v1/platform gives the regions this service accepts" }),
  adminEmail: Type.String({ format: "email", maxLength: EMAIL_MAX_LENGTH }),
  lastPhase: Type.Optional(Type.Integer({ minimum: 1, maximum: PHASE_COUNT, description: "Provision phases 1 to lastPhase (default all); a change with a higher lastPhase adds the rest" })),
  restoreFrom: Type.Optional(Type.String({ format: "uuid", description: "A deleted tenant's backup (GET /api/v1/tenants/{id}/backups): restored into this tenant's schema, renamed to it, once provisioning has created it and before the tenant is ACTIVE. Free and professional tiers only" })),
}, { additionalProperties: false });

/** Compile-time proof that the body schema and the spec's input type are one shape. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const bodyIsTenantRequest: Same<Omit<Static<typeof CreateTenantBody>, "lastPhase" | "restoreFrom">, { -readonly [K in keyof TenantRequest]: TenantRequest[K] }> = true;
void bodyIsTenantRequest;

export const Tenant = Type.Object({
  id: Type.String({ format: "uuid" }),
  slug: Type.String(),
  displayName: Type.String(),
  tier: TierEnum,
  region: Type.String(),
  adminEmail: Type.String(),
  requestedBy: Type.String(),
  requestedAt: Type.String({ format: "date-time" }),
  status: oneOf(TENANT_STATUSES),
  provisioningStartedAt: nullableDate,
  provisioningCompletedAt: nullableDate,
  provisioningError: Type.Union([Type.String(), Type.Null()]),
  outputs: Type.Record(Type.String(), Type.Unknown()),
  /** What the tier gives the tenant: quota (null: none), database strategy, pool and dedicated server, replicas. */
  profile: Type.Object({
    quota: Type.Union([Type.Object({ cpuRequest: Type.String(), cpuLimit: Type.String(), memoryRequest: Type.String(), memoryLimit: Type.String(), pods: Type.Integer() }), Type.Null()]),
    databaseStrategy: Type.String(),
    connectionPool: Type.Boolean(),
    dedicatedServer: Type.Boolean(),
    replicas: Type.Object({ coreServices: Type.Integer(), dataServices: Type.Integer(), prometheus: Type.Integer(), collector: Type.Integer() }),
  }),
  createdAt: Type.String({ format: "date-time" }),
  updatedAt: Type.String({ format: "date-time" }),
}, { $id: "Tenant" });

export const TenantList = Type.Object({
  items: Type.Array(Type.Ref("Tenant")),
  total: Type.Integer(),
  limit: Type.Integer(),
  offset: Type.Integer(),
});

export const ListQuery = Type.Object({
  status: Type.Optional(TenantStatusEnum),
  tier: Type.Optional(TierEnum),
  limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
  offset: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 }),
}, { additionalProperties: false });

export const TenantParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100, pattern: "^[^\\u0000]+$", description: "The tenant's id, or its slug (the latest tenant with that slug, a deleted one included)" }) });

export const Phase = Type.Object({
  number: Type.Integer(),
  name: oneOf(PHASE_NAMES),
  status: PhaseStatusEnum,
  attempts: Type.Integer(),
  startedAt: nullableDate,
  completedAt: nullableDate,
  durationMs: Type.Union([Type.Integer(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  resources: Type.Object({ done: Type.Integer(), pending: Type.Integer() }),
  steps: Type.Array(Type.Object({
    step: oneOf(TIER_CHANGE_STEPS),
    status: oneOf(["started", "succeeded", "failed", "skipped"] as const),
    message: Type.String(),
    at: Type.String({ format: "date-time" }),
    data: Type.Optional(Type.Object({ tables: Type.Integer(), rows: Type.Integer(), bytes: Type.Integer() }, { description: "What the move copied and verify checked" })),
  }), { description: "Sub-steps inside the phase as last reported: a tier change's expand, move, verify, switch and contract in phase 2 (docs/operations.md)" }),
});

export const ProvisioningStatus = Type.Object({
  tenantId: Type.String(),
  slug: Type.String(),
  status: oneOf(TENANT_STATUSES),
  run: Type.Union([
    Type.Object({
      id: Type.String(), kind: RunKindEnum, status: RunStatusEnum, attempt: Type.Integer(), maxAttempts: Type.Integer(), targetPhase: Type.Integer(),
      startedAt: nullableDate, completedAt: nullableDate,
      durationMs: Type.Union([Type.Integer(), Type.Null()], { description: "This run's own duration, from its first attempt's start to its end" }),
    }),
    Type.Null(),
  ]),
  currentPhase: Type.Union([Type.Object({ number: Type.Integer(), name: Type.String() }), Type.Null()]),
  progress: Type.Integer({ minimum: 0, maximum: 100 }),
  phases: Type.Array(Phase),
  startedAt: nullableDate,
  completedAt: nullableDate,
  durationMs: Type.Union([Type.Integer(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  waiting: Type.Union([Type.Object({
    reason: Type.Literal("previous-worker"),
    message: Type.String(),
    upToSeconds: Type.Integer({ minimum: 1, description: "At most this many seconds until another attempt takes the run over (or, at its last attempt, the run fails)" }),
    lastHeartbeatAt: nullableDate,
  }), Type.Null()], { description: "Why a RUNNING run makes no progress: the worker running it stopped (a crash or a restart), and the run waits for that worker's heartbeat to time out before another takes it over; null otherwise" }),
}, { $id: "ProvisioningStatus" });

/** The one answer for "a run was queued" (create, retry, rollback, delete): the tenant, the run, and where to watch it. */
export const RunAccepted = Type.Object({
  tenant: Type.Ref("Tenant"),
  run: QueuedRun,
}, {
  description: "The run was queued; watch it at the Location",
  headers: { location: { type: "string", description: "The tenant's provisioning status: /api/v1/tenants/{id}/provisioning/status" } },
});

/** Roll back to the end of an earlier phase; rolling back past phase 1 is a teardown (DELETE). */
export const RollbackBody = Type.Object({
  targetPhase: Type.Integer({ minimum: 1, maximum: PHASE_COUNT - 1 }),
  skipBackup: Type.Optional(Type.Boolean({ description: "A rollback below phase 2 backs the tenant's database up first; true goes on without (recorded in the audit log)" })),
}, { additionalProperties: false });

/** DELETE's optional body; the same fields may come in the query string. */
export const DeleteTenantBody = Type.Object({
  confirm: Type.Optional(Type.String({ maxLength: 100, description: "The tenant's slug; required to delete an ACTIVE tenant" })),
  skipBackup: Type.Optional(Type.Boolean({ description: "Tear down without the backup taken first (recorded in the audit log)" })),
}, { additionalProperties: false });
export const DeleteTenantQuery = DeleteTenantBody;
export const PreviewBody = Type.Object({
  lastPhase: Type.Optional(Type.Integer({ minimum: 1, maximum: PHASE_COUNT })),
  tier: Type.Optional(TierEnum),
}, { additionalProperties: false });

/** One changed property: its value before and after (either absent where the path does not exist on that side). */
const PropertyDiffSchema = Type.Object({ path: Type.String(), old: Type.Optional(Type.Unknown()), new: Type.Optional(Type.Unknown()) });
const ChangeSummary = Type.Object({ create: Type.Integer(), update: Type.Integer(), replace: Type.Integer(), delete: Type.Integer(), same: Type.Integer() });
const PhaseRef = Type.Union([Type.Object({ number: Type.Integer(), name: Type.String() }), Type.Null()]);

export const PreviewQuery = Type.Object({
  include: Type.Optional(Type.Literal("same", { description: "Also list resources that would stay the same" })),
}, { additionalProperties: false });

export const PreviewResponse = Type.Object({
  engine: Type.String(),
  lastPhase: Type.Integer(),
  changeSummary: ChangeSummary,
  durationMs: Type.Number(),
  included: Type.Union([Type.Literal("changes"), Type.Literal("all")], { description: "changes: only resources that would change; all: with include=same" }),
  phases: Type.Array(Type.Object({
    number: Type.Integer({ description: "0 for resources outside the ten phases" }),
    name: Type.String(),
    changes: Type.Array(Type.Object({
      urn: Type.String(),
      type: Type.String(),
      op: Type.String(),
      changedPaths: Type.Array(Type.String()),
      replaceReasons: Type.Array(Type.String()),
      diffs: Type.Array(PropertyDiffSchema, { description: "Each changed path with its value before (`old`, absent where the path did not exist) and after (`new`, absent where it goes); secret values read \"[secret]\"" }),
    })),
  })),
}, { description: "What would change, grouped by phase" });

/** One property of a drifted resource; values are any JSON (null where a side has none), secrets as "[secret]". */
const PropertyDrift = Type.Object({ path: Type.String(), recorded: Type.Unknown(), actual: Type.Unknown() });

const DriftedResource = Type.Object({
  urn: Type.String(),
  type: Type.String(),
  phase: PhaseRef,
  drift: Type.String(),
  properties: Type.Array(Type.String()),
  differences: Type.Optional(Type.Array(PropertyDrift)),
});

const DriftStateEnum = literalUnion(["IN_SYNC", "DRIFTED", "CHECK_FAILED"]);

export const DriftResponse = Type.Object({
  engine: Type.String(),
  drifted: Type.Array(DriftedResource),
  durationMs: Type.Number(),
  state: Type.Union([Type.Literal("IN_SYNC"), Type.Literal("DRIFTED")], { description: "What the check found: DRIFTED when any resource differs" }),
  recorded: Type.Boolean({
    description: "Whether the check was kept in the tenant's drift history (GET /api/v1/tenants/{id}/drift, driftRunId null), moving its drift state with the events and mails a fleet run's check sends. Only the checks of an ACTIVE tenant with no run in flight, and none started while the check ran, are kept.",
  }),
  checkId: Type.Union([Type.String({ format: "uuid" }), Type.Null()], { description: "The kept check's id in the drift history; null when not kept" }),
  notRecordedReason: Type.Union([Type.String(), Type.Null()], { description: "Why the check was not kept (the tenant is not ACTIVE, or a run started while it ran); null when kept" }),
}, { description: "Resources that drifted (empty when none did), and whether the check was kept in the tenant's drift history" });

export const DriftRunParams = Type.Object({ id: Type.String({ format: "uuid" }) });

export const DriftRunAccepted = Type.Object({ id: Type.String({ format: "uuid" }) });

export const DriftRun = Type.Object({
  id: Type.String({ format: "uuid" }),
  trigger: Type.Union([Type.Literal("schedule"), Type.Literal("manual")]),
  requestedBy: Type.String(),
  status: literalUnion(["QUEUED", "RUNNING", "SUCCEEDED", "FAILED"]),
  total: Type.Integer(),
  checked: Type.Integer(),
  drifted: Type.Integer(),
  failed: Type.Integer(),
  skipped: Type.Integer(),
  error: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: "date-time" }),
  startedAt: nullableDate,
  finishedAt: nullableDate,
});

export const DriftSummaryQuery = Type.Object({ state: Type.Optional(DriftStateEnum) }, { additionalProperties: false });

export const DriftSummary = Type.Object({
  lastRun: Type.Union([DriftRun, Type.Null()]),
  lastSuccessfulRun: Type.Union([DriftRun, Type.Null()]),
  /** ACTIVE tenants by latest state; `unchecked` never had a check. */
  counts: Type.Object({ inSync: Type.Integer(), drifted: Type.Integer(), checkFailed: Type.Integer(), unchecked: Type.Integer() }),
  tenants: Type.Array(Type.Object({
    tenantId: Type.String({ format: "uuid" }),
    slug: Type.String(),
    tier: Type.String(),
    state: Type.Union([DriftStateEnum, Type.Null()]),
    since: nullableDate,
    driftedSince: nullableDate,
    lastCheckedAt: nullableDate,
  })),
});

export const DriftHistoryQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
  offset: Type.Integer({ minimum: 0, default: 0 }),
}, { additionalProperties: false });

export const DriftCheck = Type.Object({
  id: Type.String({ format: "uuid" }),
  driftRunId: Type.Union([Type.String({ format: "uuid" }), Type.Null()]),
  state: DriftStateEnum,
  reason: Type.Union([Type.String(), Type.Null()]),
  checkedAt: Type.String({ format: "date-time" }),
  durationMs: Type.Integer(),
  resources: Type.Array(DriftedResource),
});

export const DriftHistory = Type.Object({
  tenantId: Type.String({ format: "uuid" }),
  slug: Type.String(),
  state: Type.Union([DriftStateEnum, Type.Null()]),
  since: nullableDate,
  driftedSince: nullableDate,
  items: Type.Array(DriftCheck),
  total: Type.Integer(),
  limit: Type.Integer(),
  offset: Type.Integer(),
});

export const AuditQuery = Type.Object({
  after: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 }),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 200 }),
}, { additionalProperties: false });

export const AuditResponse = Type.Object({
  items: Type.Array(Type.Object({
    id: Type.Integer(),
    runId: Type.Union([Type.String(), Type.Null()]),
    entity: Type.String(),
    phase: Type.Union([Type.Integer(), Type.Null()]),
    actor: Type.String(),
    from: Type.Union([Type.String(), Type.Null()]),
    to: Type.String(),
    message: Type.String(),
    details: Type.Record(Type.String(), Type.Unknown()),
    createdAt: Type.String({ format: "date-time" }),
  })),
});

/** An error answer documented with what it means on this API. */
export const errorResponse = (description: string) => ({ ...Type.Ref("ErrorResponse"), description });

export const errorResponses = {
  400: errorResponse("The request is invalid; `details` names each field"),
  401: errorResponse("No valid bearer token"),
  403: errorResponse("The token may only read"),
  404: errorResponse("No such tenant"),
  409: errorResponse("Refused in the tenant's current state, or a run is in progress"),
  500: errorResponse("Something failed on the service's side; quote the request id"),
};

/** Routes that queue a run answer 429 at a pending-run limit (domain/admission.ts). */
export const pendingRunLimitResponse = {
  429: errorResponse("`too_many_pending_runs`: the principal (MATIH_MAX_PENDING_RUNS_PER_PRINCIPAL) or the service (MATIH_MAX_PENDING_RUNS) has as many runs queued or running as allowed; nothing was queued, try again once some have finished. `details` gives the limit, its maximum and the current count"),
};

export const ChangeParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }), changeId: Type.String({ minLength: 1, maxLength: 100 }) });

export const ChangeBody = Type.Object({
  tier: Type.Optional(TierEnum),
  lastPhase: Type.Optional(Type.Integer({ minimum: 1, maximum: PHASE_COUNT })),
  reason: Type.Optional(Type.String({ maxLength: 1000 })),
}, { additionalProperties: false });

export const ApproveBody = Type.Object({ allowDestructive: Type.Optional(Type.Boolean()) }, { additionalProperties: false });
export const RejectBody = Type.Object({ reason: Type.Optional(Type.String({ maxLength: 1000 })) }, { additionalProperties: false });

const ChangeStatusEnum = literalUnion(["PREVIEWING", "PREVIEW_FAILED", "PENDING_REVIEW", "APPROVED", "APPLYING", "APPLIED", "FAILED", "REJECTED", "STALE", "EXPIRED"]);

export const Change = Type.Object({
  id: Type.String(),
  tenantId: Type.String(),
  kind: Type.Union([Type.Literal("update"), Type.Literal("teardown"), Type.Literal("rollback"), Type.Literal("restore")], {
    description: "update: a previewed change; teardown, rollback: that action asked for under MATIH_REQUIRE_SEPARATE_APPROVER, awaiting another admin (no preview; target.lastPhase is what is kept, 0 for a teardown); restore: a backup to restore into the tenant's current database (POST /api/v1/tenants/{id}/restore), always reviewed, performed by its approval (target: where the tenant is)",
  }),
  status: ChangeStatusEnum,
  requested: Type.Object({
    tier: Type.Optional(TierEnum), lastPhase: Type.Optional(Type.Integer()), reason: Type.Optional(Type.String()),
    skipBackup: Type.Optional(Type.Boolean({ description: "A teardown, rollback or restore request asked to go on without its backup first" })),
    backupId: Type.Optional(Type.String({ format: "uuid", description: "restore: the backup to restore" })),
    backup: Type.Optional(Type.Object({
      id: Type.String({ format: "uuid" }),
      tenantId: Type.String({ format: "uuid", description: "The tenant it was taken of: this one, or a deleted tenant" }),
      schemaName: Type.String(),
      reason: Type.String({ description: "Why it was taken (teardown, rollback, destructive-change, manual, before-restore)" }),
      sizeBytes: Type.Integer({ minimum: 0 }),
      createdAt: Type.String({ format: "date-time", description: "When it was taken" }),
    }, { description: "restore: the backup as it was when the restore was asked for" })),
    replaces: Type.Optional(Type.String({ description: "restore: what the restore replaces, and whether it is backed up first" })),
  }),
  /** The tier and last phase the change brings the tenant to. */
  target: Type.Object({ tier: TierEnum, lastPhase: Type.Integer() }),
  createdBy: Type.String(),
  createdAt: Type.String({ format: "date-time" }),
  expiresAt: Type.String({ format: "date-time" }),
  previewedAt: nullableDate,
  preview: Type.Union([Type.Null(), Type.Object({
    changeSummary: Type.Object({ create: Type.Integer(), update: Type.Integer(), replace: Type.Integer(), delete: Type.Integer(), same: Type.Integer() }),
    destructive: Type.Boolean(),
    destructiveResources: Type.Array(Type.Object({ urn: Type.String(), type: Type.String(), op: Type.String() })),
    changes: Type.Array(Type.Object({
      urn: Type.String(),
      type: Type.String(),
      name: Type.String(),
      phase: Type.Union([Type.Object({ number: Type.Integer(), name: Type.String() }), Type.Null()]),
      op: Type.String(),
      diffs: Type.Array(Type.Object({ path: Type.String(), old: Type.Optional(Type.Unknown()), new: Type.Optional(Type.Unknown()) })),
    })),
    tierChange: Type.Optional(Type.Object({
      steps: Type.Array(oneOf(TIER_CHANGE_STEPS), { description: "The steps phase 2 runs, in order (expand, move, verify, switch, contract); empty when its database target stays" }),
      move: Type.Union([Type.Object({ from: oneOf(["shared", "dedicated"] as const), to: oneOf(["shared", "dedicated"] as const) }), Type.Null()]),
      data: Type.Union([Type.Object({ tables: Type.Integer(), rows: Type.Integer(), bytes: Type.Integer({ description: "On-disk size of the source's tables" }) }), Type.Null()],
        { description: "What the move would copy, measured on the source at preview time; null when nothing moves or the engine cannot reach the source" }),
      note: Type.Optional(Type.String()),
    }, { description: "How the change moves the tenant's data (docs/operations.md, What a tier change does to the tenant's data)" })),
  })]),
  error: Type.Union([Type.String(), Type.Null()], { description: "What went wrong with the change's preview or its apply; null otherwise" }),
  rejectionReason: Type.Union([Type.String(), Type.Null()], { description: "Why an admin rejected it (REJECTED only); null when no reason was given" }),
  decidedBy: Type.Union([Type.String(), Type.Null()]),
  decidedAt: nullableDate,
  allowDestructive: Type.Boolean(),
  appliedAt: nullableDate,
  runId: Type.Union([Type.String(), Type.Null()], { description: "The teardown or rollback run an approved request queued (a restore has none)" }),
}, { $id: "Change" });

export const ChangeList = Type.Object({ items: Type.Array(Type.Ref("Change")) }, { description: "The tenant's changes, newest first" });

/** A change was requested: its preview runs in the background; follow the change at the Location. */
export const ChangeRequested = {
  ...Type.Ref("Change"),
  description: "The change was recorded and its preview queued; follow it at the Location",
  headers: { location: { type: "string", description: "The change: /api/v1/tenants/{id}/changes/{changeId}" } },
};

export const ChangeAccepted = Type.Object({
  change: Type.Ref("Change"),
  tenant: Type.Ref("Tenant"),
  run: QueuedRun,
}, {
  description: "Approved: the update run (or the teardown or rollback run of such a request) was queued; watch it at the Location",
  headers: { location: { type: "string", description: "The tenant's provisioning status: /api/v1/tenants/{id}/provisioning/status" } },
});

/** An approved restore request: performed in the approval, so there is no run; what was restored and the backup of what it replaced. */
export const RestoreApproved = (backup: TSchema) => Type.Object({
  change: Type.Ref("Change"),
  tenant: Type.Ref("Tenant"),
  run: Type.Null({ description: "A restore runs in the approval, not as a run" }),
  restored: backup,
  safetyBackup: Type.Union([backup, Type.Null()], { description: "The backup of what the restore replaced; null when skipped (skipBackup) or there was nothing" }),
}, { description: "Approved and restored: the change is APPLIED (a restore request)" });

/** A teardown or rollback that, under four eyes, waits for another admin instead of running. */
export const ActionRequested = Type.Object({
  change: Type.Ref("Change"),
  approval: Type.Object({
    requestedBy: Type.String(),
    approvers: Type.Array(Type.String(), { description: "The admin principals who may approve it: every admin but the requester" }),
    expiresAt: Type.String({ format: "date-time" }),
    approve: Type.String({ description: "POST here with another admin's token to approve it; its run is queued then" }),
    reject: Type.String({ description: "POST here to reject it" }),
  }),
  message: Type.String(),
}, { description: "Nothing was started: the request awaits another admin's approval (MATIH_REQUIRE_SEPARATE_APPROVER); the Location is the request" });

/** 202 of a teardown or rollback: its run queued, or (under four eyes) the request awaiting approval. */
export const ActionAccepted = Type.Union([RunAccepted, ActionRequested], {
  description: "`{tenant, run}`: the run was queued (Location: the tenant's status). `{change, approval, message}`: with MATIH_REQUIRE_SEPARATE_APPROVER on, a teardown or a rollback that deletes a stateful phase waits for another admin instead (Location: the request)",
  headers: { location: { type: "string", description: "The tenant's provisioning status, or the request awaiting approval" } },
});

export const ChangesQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
  offset: Type.Integer({ minimum: 0, default: 0 }),
}, { additionalProperties: false });

/** For routes that take no path parameter: no 404 of their own. */
export const listErrorResponses = { 400: errorResponses[400], 401: errorResponses[401], 403: errorResponses[403], 500: errorResponses[500] };

export const SimulatedDriftBody = Type.Union([
  Type.Object({
    kind: Type.Literal("edit"),
    resource: Type.String({ minLength: 1, maxLength: 2000, description: "A URN, or a resource name from the tenant's record" }),
    path: Type.String({ minLength: 1, maxLength: 1000, description: "An input property path: spec.hard.pods, metadata.labels[\"matih.ai/tier\"]" }),
    value: Type.Unknown({ description: "Any JSON value" }),
  }, { additionalProperties: false }),
  Type.Object({ kind: Type.Literal("delete"), resource: Type.String({ minLength: 1, maxLength: 2000 }) }, { additionalProperties: false }),
  Type.Object({ kind: Type.Literal("reset") }, { additionalProperties: false }),
]);

export const SimulatedDriftResponse = Type.Object({
  tenantId: Type.String({ format: "uuid" }),
  slug: Type.String(),
  /** Resources whose simulated actual state now differs from the record (changed or gone). */
  resourcesDiffering: Type.Integer(),
});

// Versioned platform settings (issue 23): GET /api/v1/platform/settings and its history.

export const PlatformSettingsVersion = Type.Object({
  version: Type.Integer({ minimum: 1 }),
  settings: Type.Record(Type.String(), Type.Unknown(), { description: "Every platform setting (model/settings.ts); secret values and an inline kubeconfig read \"[secret]\"" }),
  createdAt: Type.String({ format: "date-time" }),
  createdBy: Type.String({ description: "Who recorded the version (`service start` for the first, seeded from the settings file)" }),
  reason: Type.String(),
}, { description: "The platform settings version every process uses now" });

export const SettingsVersionsQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
  offset: Type.Integer({ minimum: 0, default: 0 }),
}, { additionalProperties: false });

export const PlatformSettingsVersions = Type.Object({
  items: Type.Array(Type.Object({
    version: Type.Integer({ minimum: 1 }),
    createdAt: Type.String({ format: "date-time" }),
    createdBy: Type.String(),
    reason: Type.String(),
    changedPaths: Type.Array(Type.String(), { description: "Dotted paths of the settings that differ from the version before (values are not shown); empty for version 1" }),
  })),
  total: Type.Integer(),
  limit: Type.Integer(),
  offset: Type.Integer(),
}, {
  description: "The platform settings' versions, newest first"
});

// The review queue (issue 23): everything awaiting review across the fleet.
const ReviewChangeStatusEnum = literalUnion(["PREVIEWING", "PREVIEW_FAILED", "PENDING_REVIEW", "APPROVED", "APPLYING", "APPLIED", "FAILED", "REJECTED", "STALE", "EXPIRED"]);

export const ReviewQueueQuery = Type.Object({
  status: Type.Optional(ReviewChangeStatusEnum),
  tenant: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: "The tenant's id or slug" })),
  tier: Type.Optional(TierEnum),
  requestedBy: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: "Who requested the change (the token's principal)" })),
  limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
  offset: Type.Integer({ minimum: 0, default: 0 }),
}, { additionalProperties: false });

const TenantReviewItem = Type.Object({
  kind: Type.Literal("tenant", { description: "A change to one tenant" }),
  id: Type.String({ format: "uuid" }),
  action: Type.String({ description: "update (a previewed change), teardown or rollback (under four eyes), restore (a backup into the tenant's current database)" }),
  status: ReviewChangeStatusEnum,
  tenant: Type.Object({ id: Type.String({ format: "uuid" }), slug: Type.String(), tier: Type.String(), status: Type.String() }),
  target: Type.Object({ tier: Type.String(), lastPhase: Type.Integer() }),
  requestedBy: Type.String(),
  reason: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: "date-time" }),
  expiresAt: Type.String({ format: "date-time" }),
  destructive: Type.Union([Type.Boolean(), Type.Null()], { description: "Whether its preview deletes or replaces stateful resources; null: not previewed" }),
  changeSummary: Type.Union([Type.Object({ create: Type.Integer(), update: Type.Integer(), replace: Type.Integer(), delete: Type.Integer(), same: Type.Integer() }), Type.Null()]),
  href: Type.String({ description: "The change itself, with its whole preview" }),
}, { additionalProperties: false });

// The fleet (GET /api/v1/fleet).
const FLEET_PHASE_STATUSES = ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "ROLLED_BACK"] as const;
const FLEET_DRIFT_STATES = ["IN_SYNC", "DRIFTED", "CHECK_FAILED"] as const;
const nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const FleetQuery = Type.Object({
  status: Type.Optional(literalUnion(TENANT_STATUSES)),
  tier: Type.Optional(literalUnion(TIERS)),
  search: Type.Optional(Type.String({ maxLength: 100, description: "Part of the slug, case-insensitive" })),
  drift: Type.Optional(literalUnion([...FLEET_DRIFT_STATES, "UNCHECKED"] as const, { description: "The latest drift check's state; UNCHECKED: never checked" })),
  behind: Type.Optional(Type.Boolean({ description: "true: only tenants not last applied with the current platform settings version (never applied ones included)" })),
  limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
  offset: Type.Integer({ minimum: 0, default: 0 }),
}, { additionalProperties: false });

export const FleetResponse = Type.Object({
  items: Type.Array(Type.Object({
    id: Type.String({ format: "uuid" }),
    slug: Type.String(),
    displayName: Type.String(),
    tier: Type.String(),
    region: Type.String(),
    status: literalUnion(TENANT_STATUSES),
    run: nullable(Type.Object({ id: Type.String(), kind: Type.String(), status: Type.String(), attempt: Type.Integer(), maxAttempts: Type.Integer(), targetPhase: Type.Integer() })),
    currentPhase: nullable(Type.Object({ number: Type.Integer(), name: Type.String() })),
    progress: Type.Integer({ minimum: 0, maximum: 100, description: "Percent of the run's phases finished" }),
    phases: Type.Array(literalUnion(FLEET_PHASE_STATUSES), { minItems: 10, maxItems: 10, description: "The ten phases' statuses, phase 1 first" }),
    startedAt: nullable(Type.String({ format: "date-time" })),
    completedAt: nullable(Type.String({ format: "date-time" })),
    durationMs: nullable(Type.Integer({ description: "Start to ACTIVE; for a FAILED or DELETED tenant, start to its last change; null while running" })),
    error: nullable(Type.String()),
    drift: nullable(Type.Object({
      state: literalUnion(FLEET_DRIFT_STATES),
      since: Type.String({ format: "date-time", description: "Since when the tenant's checks have found this state" }),
      lastCheckedAt: Type.String({ format: "date-time" }),
    }, { description: "What the tenant's latest kept drift check (a fleet drift run's or a one-off check's) found; null: never checked" })),
    settingsVersion: nullable(Type.Integer({ description: "The platform settings version the tenant was last applied with (its last successful provision, retry or update); null: never" })),
    settingsAppliedAt: nullable(Type.String({ format: "date-time" })),
  })),
  total: Type.Integer({ description: "Tenants matching the filter" }),
  limit: Type.Integer(),
  offset: Type.Integer(),
  countsByStatus: Type.Record(Type.String(), Type.Integer(), { description: "Every tenant per status, whatever the filter" }),
  currentSettingsVersion: nullable(Type.Integer({ description: "The current platform settings version (GET /api/v1/platform/settings)" })),
  countsByDrift: Type.Record(Type.String(), Type.Integer(), { description: "Tenants not deleted per latest drift state (IN_SYNC, DRIFTED, CHECK_FAILED; UNCHECKED for those never checked), whatever the filter; a state no tenant is in is left out" }),
}, { description: "One page of the fleet" });

// Fleet changes through review and rollouts in waves (issue 23): POST /api/v1/fleet/changes,
// GET …/{id}, POST …/{id}/approve | reject; GET /api/v1/fleet/rollouts/{id}, POST …/{id}/pause | resume | abort.

export const FleetSelectorSchema = Type.Object({
  tiers: Type.Optional(Type.Array(TierEnum, { maxItems: 10 })),
  regions: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 50 }), { maxItems: 100 })),
  slugs: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: SLUG_MAX_LENGTH }), { maxItems: 10_000 })),
}, { additionalProperties: false, description: "Which tenants (not deleted) the change is previewed on and rolled out to: those matching every list given; none: the whole fleet" });

export const FleetChangeBody = Type.Object({
  settings: Type.Record(Type.String(), Type.Unknown(), {
    description: "A JSON merge patch (RFC 7396) of the current platform settings: objects merge key by key, `null` removes an optional setting, anything else (lists too) replaces. The result is checked as every version is; no secret values, no kubernetes.kubeconfig or kubernetes.context",
  }),
  reason: Type.String({ minLength: 1, maxLength: 1000, description: "Why; one line, recorded with the version" }),
  selector: Type.Optional(FleetSelectorSchema),
}, { additionalProperties: false });

export const FleetChangeParams = Type.Object({ id: Type.String({ format: "uuid" }) });

const RolloutWaves = Type.Object({
  canary: Type.Optional(Type.Integer({ minimum: 1, description: "Tenants in the first (canary) wave; default 2" })),
  growth: Type.Optional(Type.Number({ minimum: 1, maximum: 100, description: "Each later wave is this many times the one before (at least one more); default 2" })),
  concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: "Tenants previewed or applied at once; default 4" })),
  canaryMaxFailures: Type.Optional(Type.Integer({ minimum: 0, description: "The rollout halts when more canary tenants than this fail; default 0" })),
  waveFailurePercent: Type.Optional(Type.Number({ minimum: 0, maximum: 100, description: "A later wave halts the rollout when more than this percentage of its tenants fail; default 10" })),
}, { additionalProperties: false });

export const FleetApproveBody = Type.Object({
  allowDestructive: Type.Optional(Type.Boolean({ description: "Needed when the preview deletes or replaces stateful resources of some tenant" })),
  waves: Type.Optional(RolloutWaves),
}, { additionalProperties: false });

export const RolloutResumeBody = Type.Object({
  retryFailed: Type.Optional(Type.Boolean({ description: "After a halt: apply the current wave's failed tenants' changes again (default true)" })),
}, { additionalProperties: false });

const GroupChangeSchema = Type.Object({
  op: Type.String({ description: "create, update, replace or delete" }),
  type: Type.String({ description: "The resource type, e.g. kubernetes:helm.sh/v3:Release" }),
  count: Type.Integer({ description: "Resources of this type changed this way, per tenant" }),
  paths: Type.Array(Type.String(), { description: "The properties that change" }),
});

const FleetChangeStatusEnum = literalUnion(["PREVIEWING", "PREVIEW_FAILED", "PENDING_REVIEW", "APPROVED", "REJECTED", "STALE"]);

export const FleetChange = Type.Object({
  id: Type.String({ format: "uuid" }),
  status: FleetChangeStatusEnum,
  settingsPatch: Type.Record(Type.String(), Type.Unknown(), { description: "The merge patch as proposed" }),
  changedPaths: Type.Array(Type.String(), { description: "The dotted paths of the settings it changes" }),
  baseVersion: Type.Integer({ description: "The settings version it was applied to and previewed against; approval is refused (plan_stale) once another is current" }),
  version: nullable(Type.Integer({ description: "The settings version approval recorded; null before" })),
  selector: FleetSelectorSchema,
  reason: Type.String(),
  createdBy: Type.String(),
  createdAt: Type.String({ format: "date-time" }),
  previewedAt: nullable(Type.String({ format: "date-time", description: "When its preview started; null while a background preview waits to start" })),
  previewProgress: nullable(Type.Object({ done: Type.Integer(), total: Type.Integer() }, { description: "Tenants previewed of those selected, for a preview run in the background (the Pulumi engine); null for one previewed before the answer" })),
  previewError: nullable(Type.String({ description: "Why its background preview failed (PREVIEW_FAILED)" })),
  destructive: Type.Boolean({ description: "Whether the preview deletes or replaces stateful resources of some tenant" }),
  preview: Type.Object({
    selected: Type.Integer({ description: "Tenants the selector matched" }),
    groups: Type.Array(Type.Object({
      tenants: Type.Integer(),
      slugs: Type.Array(Type.String()),
      summary: Type.String({ description: "E.g. \"update 3 Release\", \"update 1 ResourceQuota\", \"no change\"" }),
      changeSummary: Type.Object({ create: Type.Integer(), update: Type.Integer(), replace: Type.Integer(), delete: Type.Integer(), same: Type.Integer() }, { description: "Of one tenant of the group" }),
      changes: Type.Array(GroupChangeSchema),
      destructive: Type.Boolean(),
    }), { description: "Tenants with identical changes (the same operations on the same resource types and properties), largest group first" }),
    destructive: Type.Array(Type.Object({
      tenantId: Type.String({ format: "uuid" }),
      slug: Type.String(),
      resources: Type.Array(Type.Object({ urn: Type.String(), type: Type.String(), op: Type.String() })),
    }), { description: "Tenants whose change deletes or replaces stateful resources, listed apart" }),
    failed: Type.Array(Type.Object({ tenantId: Type.String({ format: "uuid" }), slug: Type.String(), error: Type.String() }), { description: "Tenants whose preview failed" }),
    notPreviewed: Type.Array(Type.Object({ tenantId: Type.String({ format: "uuid" }), slug: Type.String(), status: Type.String() }), { description: "Tenants with nothing to preview yet (never provisioned)" }),
  }),
  decidedBy: nullable(Type.String()),
  decidedAt: nullableDate,
  rejectionReason: nullable(Type.String()),
  rolloutId: nullable(Type.String({ format: "uuid", description: "The rollout its approval started" })),
}, { description: "A fleet change: a proposed platform settings version with its preview on the selected tenants" });

const RolloutStatusEnum = literalUnion(["RUNNING", "PAUSED", "HALTED", "COMPLETED", "ABORTED"]);
const RolloutTenantStatusEnum = literalUnion(["PENDING", "PREVIEWING", "APPLYING", "SUCCEEDED", "UNCHANGED", "FAILED", "SKIPPED", "HELD"]);

const RolloutTenant = Type.Object({
  tenantId: Type.String({ format: "uuid" }),
  slug: Type.String(),
  wave: Type.Integer({ description: "1 is the canary wave" }),
  status: RolloutTenantStatusEnum,
  attempts: Type.Integer(),
  changeId: nullable(Type.String({ format: "uuid", description: "The tenant change that previews (and applies) it" })),
  runId: nullable(Type.String({ format: "uuid", description: "Its update run" })),
  reason: nullable(Type.String({ description: "Why it was skipped, held or failed" })),
  updatedAt: Type.String({ format: "date-time" }),
});

export const FleetRollout = Type.Object({
  id: Type.String({ format: "uuid" }),
  fleetChangeId: Type.String({ format: "uuid" }),
  settingsVersion: Type.Integer(),
  status: RolloutStatusEnum,
  config: Type.Object({
    canary: Type.Integer(), growth: Type.Number(), concurrency: Type.Integer(), canaryMaxFailures: Type.Integer(), waveFailurePercent: Type.Number(), allowDestructive: Type.Boolean(),
  }, { description: "The waves as approved (defaults filled in)" }),
  currentWave: Type.Integer({ description: "The wave being applied (1 is the canary); waveCount once completed" }),
  waveCount: Type.Integer(),
  haltedReason: nullable(Type.String()),
  createdBy: Type.String({ description: "Who approved the fleet change" }),
  createdAt: Type.String({ format: "date-time" }),
  updatedAt: Type.String({ format: "date-time" }),
  finishedAt: nullableDate,
  counts: Type.Record(Type.String(), Type.Integer(), { description: "Tenants per status" }),
  waves: Type.Array(Type.Object({
    number: Type.Integer(),
    status: literalUnion(["pending", "running", "paused", "halted", "completed", "aborted"]),
    counts: Type.Record(Type.String(), Type.Integer()),
    tenants: Type.Array(RolloutTenant),
  })),
  skipped: Type.Array(RolloutTenant, { description: "Tenants left out: busy, FAILED, drifted or deleted at their turn, or not reached before an abort" }),
  held: Type.Array(RolloutTenant, { description: "Tenants whose stack moved since the fleet preview (or whose own preview differs): their change awaits review" }),
}, { description: "A rollout of a settings version in waves, per wave and per tenant" });

export const FleetChangeLocation = { location: { type: "string", description: "The fleet change: /api/v1/fleet/changes/{id}" } };

// The review queue's items and answer (defined here, after the fleet change schemas they use).
const FleetReviewItem = Type.Object({
  kind: Type.Literal("fleet", { description: "A platform settings change to the tenants its selector matches" }),
  id: Type.String({ format: "uuid" }),
  status: literalUnion(["PENDING_REVIEW", "APPROVED", "REJECTED", "STALE"]),
  requestedBy: Type.String(),
  reason: Type.String(),
  createdAt: Type.String({ format: "date-time" }),
  changedPaths: Type.Array(Type.String(), { description: "The dotted paths of the settings it changes" }),
  selector: FleetSelectorSchema,
  tenants: Type.Integer({ description: "Tenants the selector matched" }),
  groups: Type.Array(Type.Object({ tenants: Type.Integer(), summary: Type.String(), destructive: Type.Boolean() }, { additionalProperties: false }), {
    description: "The preview's groups of tenants with identical changes, largest first, without their slugs (the fleet change has them)",
  }),
  destructive: Type.Boolean({ description: "Whether the preview deletes or replaces stateful resources of some tenant" }),
  destructiveTenants: Type.Integer(),
  failedTenants: Type.Integer({ description: "Tenants whose preview failed" }),
  rolloutId: Type.Union([Type.String({ format: "uuid" }), Type.Null()], { description: "The rollout its approval started" }),
  href: Type.String({ description: "The fleet change, with its whole preview" }),
}, { additionalProperties: false });

export const ReviewQueue = Type.Object({
  items: Type.Array(Type.Union([TenantReviewItem, FleetReviewItem]), {
    description: "Tenant changes (`kind: \"tenant\"`) and fleet changes (`kind: \"fleet\"`) in one list, oldest first. The tenant and tier filters keep the fleet changes whose previewed tenants include that tenant, or a tenant now on that tier",
  }),
  total: Type.Integer({ description: "Changes matching the filter" }),
  limit: Type.Integer(),
  offset: Type.Integer(),
}, {
  description: "Changes in the given status (PENDING_REVIEW by default) across the fleet, oldest first",
});
