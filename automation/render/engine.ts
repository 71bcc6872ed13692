/**
 * The offline engine: the same interface as the Pulumi engine, backed by a
 * render of the real tenant program under Pulumi's mock runtime (in a worker
 * process) and a record of each tenant's desired state in a store. No cloud,
 * cluster or CLI is touched. It serves demonstrations, tests of everything
 * above the engine, rehearsals (fault plan, pace), and fleet-wide previews.
 *
 * - provision renders once, then applies the difference to the record phase by
 *   phase, emitting the events a Pulumi update would, and saves the record after
 *   each phase (a failed provision leaves the phases it completed, as a partial
 *   Pulumi update would, and the next one continues from there). Like an `up`
 *   with refresh, it starts from the simulated actual state, so it puts back
 *   whatever a drift command changed (converge);
 * - preview diffs a fresh render against the (refreshed) actual state, per
 *   resource and property;
 * - teardown deletes the record's resources in reverse dependency order, then
 *   the record, the tenant's work directory and its plans;
 * - drift check is a refresh preview: it compares the recorded state with the
 *   simulated actual state (simulated-drift.ts) and reports every property that
 *   differs with both values. It renders nothing and writes nothing.
 */
import { randomUUID } from "node:crypto";
import { rm } from "node:fs/promises";
import type { RenderResult } from "../../stacks/mock-render.ts";
import type { PlatformSettings } from "../../model/settings.ts";
import type { TenantSpec } from "../../model/spec.ts";
import { emptyChangeSummary } from "../core/change-summary.ts";
import type { DataDirLayout } from "../core/data-dir.ts";
import { errorFromInfo, InvalidRequestError, StackNotFoundError, toErrorInfo } from "../core/errors.ts";
import type { JobRunner } from "../isolation/forked-runner.ts";
import type { RenderOutcome } from "../isolation/protocol.ts";
import { asEngineError, checkLastPhase, runOperation, statusOf, stopReason, validateSlug, type OperationContext, type OperationOutcome } from "../core/operation.ts";
import type { OperationGate } from "../core/operation-gate.ts";
import { PhaseTracker } from "../core/phase-tracker.ts";
import { checkPlan, newPlan, sealPlan } from "../core/plans.ts";
import type {
  DriftCheckRequest,
  DriftCheckResult,
  DriftedResource,
  EngineLogger,
  OperationResultBase,
  PreviewRequest,
  PreviewResult,
  ProvisionRequest,
  ProvisionResult,
  SavedPlan,
  TeardownRequest,
  TeardownResult,
  TenantEngine,
  WorkerPoolStats,
} from "../core/types.ts";
import { faultApplies, validateFaultPlan, type FaultPlan } from "../core/fault-plan.ts";
import { readRenderPlan, verifyRenderPlan, writeRenderPlan } from "./plan-file.ts";
import { RecordedState } from "./recorded-state.ts";
import { unredactedDrift } from "../core/drift-values.ts";
import { redactDriftedResources, redactResourceChanges, secretValues } from "../core/redact.ts";
import { actualResources, applySimulatedDrift, type SimulatedDrift } from "./simulated-drift.ts";
import { planTeardown, planUpdate, stepsInOrder, toResourceChange, type UpdatePlan } from "./steps.ts";
import type { FleetPreviewEntry } from "./fleet-preview.ts";
import type { RenderRecord, RenderStateStore } from "./store.ts";
import { pacedPhaseMs, walkPlan } from "./walk.ts";
import { DATABASE_PHASE, placementOf, previewTierChange, splitTierChange, TierChangeRun, type TenantDatabaseTargets, type TierChangeSplit } from "./tier-change.ts";
import { PHASE_COUNT } from "../../model/phases.ts";
import { phaseRefOfUrn } from "../core/phase-tracker.ts";

export interface RenderEngineOptions {
  readonly layout: DataDirLayout;
  readonly store: RenderStateStore;
  /** Where renders run; a ForkedJobRunner in the service (the mock runtime is process-global). */
  readonly runner: JobRunner;
  readonly gate: OperationGate;
  readonly operationTimeoutMs: number;
  /** Fraction of the seed's typical phase durations to wait (mean of each range); default 0. */
  readonly pace?: number;
  /** Rehearsal faults, e.g. `{ 6: { failTimes: 2, message: "no external IP assigned within 600s" } }`. */
  readonly faultPlan?: FaultPlan;
  readonly logger?: EngineLogger;
  /** How many render jobs a fleet preview runs at once: the warm worker pool's size. Default 1. */
  readonly fleetParallelism?: number;
  /** The service's environment, whose secret values (secretValues) previews and drift checks mask. Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Admin connections to the shared and dedicated databases of a tenant. With
   * them a tier change moves the tenant's data for real between the two (see
   * tier-change.ts); without them (the default: this engine has no tenant
   * database) the move and verify steps are reported as skipped.
   */
  readonly databases?: TenantDatabaseTargets;
}

/**
 * Tenants per worker job of a fleet preview: their records (about 180 KB of
 * JSON each) go to the worker in one message, and reloading the program's
 * modules for each job (isolation/fresh-modules.ts) stays a small share of it.
 */
const FLEET_CHUNK = 25;

/** Renders stop at once when asked; there is nothing to finish cleanly. */
const RENDER_CANCEL_GRACE_MS = 2_000;

export class RenderEngine implements TenantEngine {
  readonly kind = "render" as const;
  readonly changesInfrastructure = false;
  private readonly options: RenderEngineOptions;
  private readonly faultPlan: FaultPlan;

  constructor(options: RenderEngineOptions) {
    if (options.pace !== undefined && !(options.pace >= 0)) throw new RangeError(`pace must be zero or a positive fraction, got ${options.pace}`);
    this.options = options;
    this.faultPlan = validateFaultPlan(options.faultPlan);
  }

  provision(request: ProvisionRequest): Promise<ProvisionResult> {
    const empty = { lastPhase: request.lastPhase ?? request.plan?.lastPhase ?? PHASE_COUNT, outputs: {} };
    return this.operate("provision", request, empty, (context) => this.provisionNow(request, context)) as Promise<ProvisionResult>;
  }

  preview(request: PreviewRequest): Promise<PreviewResult> {
    const empty: Pick<PreviewResult, "lastPhase" | "changes" | "plan" | "tierChange"> = { lastPhase: request.lastPhase ?? PHASE_COUNT, changes: [], plan: null };
    return this.operate("preview", request, empty, (context) => this.previewNow(request, context)) as Promise<PreviewResult>;
  }

  teardown(request: TeardownRequest): Promise<TeardownResult> {
    return this.operate("teardown", request, { stackRemoved: false, alreadyAbsent: false }, (context) => this.teardownNow(context)) as Promise<TeardownResult>;
  }

  driftCheck(request: DriftCheckRequest): Promise<DriftCheckResult> {
    return this.operate("drift-check", request, { drifted: [] }, (context) => this.driftNow(context)) as Promise<DriftCheckResult>;
  }

  async outputs(slug: string): Promise<Record<string, unknown>> {
    validateSlug(slug);
    const record = await this.options.store.get(slug);
    if (!record) throw new StackNotFoundError(slug);
    return record.outputs;
  }

  cancel(slug: string): boolean {
    return this.options.gate.cancel(slug);
  }

  /**
   * Changes the tenant's simulated actual state (edit a property, delete a
   * resource, reset), as someone working outside Pulumi would; the next drift
   * check reports exactly that, and the next provision puts it back. Rejects
   * with StackNotFoundError for an unknown tenant, InvalidRequestError for a
   * resource or path that does not exist.
   */
  async simulateDrift(slug: string, change: SimulatedDrift): Promise<RenderRecord> {
    validateSlug(slug);
    const record = await this.options.store.get(slug);
    if (!record) throw new StackNotFoundError(slug);
    const changed = applySimulatedDrift(record, change);
    await this.options.store.put(changed);
    return changed;
  }

  async close(): Promise<void> {
    this.options.gate.cancelAll();
    await this.options.gate.idle();
    await this.options.runner.close?.();
  }

  workerStats(): WorkerPoolStats | null {
    return this.options.runner.stats?.() ?? null;
  }

  /**
   * "What would this change do to every tenant": renders every recorded
   * tenant from its recorded spec with these settings and diffs each against
   * its record. Changes nothing.
   *
   * The fleet is rendered in chunks of FLEET_CHUNK tenants, `fleetParallelism`
   * chunks at once (as many as there are warm workers and one waiting, so
   * every core works), each worker comparing its renders with their records
   * and sending back only the changes: the service holds the records of a few
   * chunks at a time, however large the fleet.
   *
   * The answer lists every resource of every tenant (about 40 KB a tenant).
   * With `onEntries`, each chunk's entries are handed to it as the chunk
   * finishes and are not kept, so the preview's memory stays flat however
   * large the fleet; it then resolves with an empty list.
   */
  async previewFleet(settings: PlatformSettings, options: { signal?: AbortSignal; onEntries?: (entries: FleetPreviewEntry[]) => void } = {}): Promise<FleetPreviewEntry[]> {
    const slugs = await this.options.store.list();
    const chunks: string[][] = [];
    for (let i = 0; i < slugs.length; i += FLEET_CHUNK) chunks.push(slugs.slice(i, i + FLEET_CHUNK));
    // One chunk failing as a whole (the preview cancelled, a worker lost) stops the others.
    const stop = new AbortController();
    // The chunks are one operation: a warm worker keeps one copy of the program for all it renders of them.
    const operation = `fleet-preview-${randomUUID()}`;
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
    const entries: FleetPreviewEntry[][] = [];
    let next = 0;
    const lane = async () => {
      while (next < chunks.length) {
        const index = next++;
        const chunk = await this.previewChunk(chunks[index]!, settings, signal, operation);
        if (options.onEntries) options.onEntries(chunk);
        else entries[index] = chunk;
      }
    };
    const lanes = Math.max(1, Math.min(this.options.fleetParallelism ?? 1, chunks.length));
    try {
      await Promise.all(Array.from({ length: lanes }, lane));
    } catch (error) {
      stop.abort(error);
      throw error;
    }
    return entries.flat();
  }

  private async previewChunk(slugs: readonly string[], settings: PlatformSettings, signal: AbortSignal, operation: string): Promise<FleetPreviewEntry[]> {
    const { store } = this.options;
    const recordText = (slug: string) => (store.getText ? store.getText(slug) : store.get(slug).then((r) => r && JSON.stringify(r)));
    // A tenant torn down since the list was read has no record any more, and no preview.
    const records = (await Promise.all(slugs.map(recordText))).filter((r): r is string => r !== undefined);
    if (records.length === 0) return [];
    const job = { kind: "fleet-preview" as const, settings, records };
    return (await this.options.runner.run(job, {
      signal,
      operation,
      graceMs: RENDER_CANCEL_GRACE_MS,
      onLog: (level, message) => this.options.logger?.[level](message),
    })) as FleetPreviewEntry[];
  }

  private operate<Extras extends object>(
    operation: "provision" | "preview" | "teardown" | "drift-check",
    request: ProvisionRequest | PreviewRequest | TeardownRequest | DriftCheckRequest,
    emptyExtras: Extras,
    work: (context: OperationContext) => Promise<OperationOutcome<Extras>>,
  ): Promise<OperationResultBase & Extras> {
    return runOperation({
      engine: "render",
      operation,
      request,
      gate: this.options.gate,
      timeoutMs: this.options.operationTimeoutMs,
      emptyExtras,
      work,
      ...(this.options.logger ? { logger: this.options.logger } : {}),
    });
  }

  private async renderAll(renders: { spec: TenantSpec; settings: PlatformSettings; lastPhase: number }[], signal: AbortSignal): Promise<RenderOutcome[]> {
    const outcomes = (await this.options.runner.run({ kind: "render", renders }, {
      signal,
      graceMs: RENDER_CANCEL_GRACE_MS,
      onLog: (level, message) => this.options.logger?.[level](message),
    })) as RenderOutcome[];
    return outcomes;
  }

  private async renderOne(spec: TenantSpec, settings: PlatformSettings, lastPhase: number, signal: AbortSignal): Promise<RenderResult> {
    const [outcome] = await this.renderAll([{ spec, settings, lastPhase }], signal);
    if (!outcome) throw new Error("the render worker returned no result");
    if (!outcome.ok) throw errorFromInfo(outcome.error);
    return outcome.result;
  }

  private secretsFor(settings: PlatformSettings): string[] {
    return secretValues(this.options.env ?? process.env, settings);
  }

  private phaseDelay = (phase: number) => pacedPhaseMs(this.options.pace ?? 0, phase);

  /**
   * The update's phase 2 as a tier change: the data moves when the record's
   * Secret points at another placement than the new tier's (shared ↔
   * dedicated). Worked out from the record and the render only, so the
   * preview and the update it reviews split the same plan the same way.
   */
  private tierChangeOf(plan: UpdatePlan, record: RenderRecord | undefined, spec: TenantSpec, lastPhase: number): TierChangeSplit {
    const from = record ? recordedPlacement(record) : undefined;
    const to = placementOf(spec.tier);
    return splitTierChange(plan, from && lastPhase >= DATABASE_PHASE && from !== to ? { from, to } : null, record?.unfinishedContract ?? null);
  }

  private async provisionNow(request: ProvisionRequest, context: OperationContext): Promise<OperationOutcome<Pick<ProvisionResult, "lastPhase" | "outputs">>> {
    const { spec, settings, signal, events } = context;
    const { store } = this.options;
    if (request.plan && request.lastPhase !== undefined && request.lastPhase !== request.plan.lastPhase) {
      throw new InvalidRequestError(`lastPhase ${request.lastPhase} differs from the plan's ${request.plan.lastPhase}; a plan is held to the phases it was made for`);
    }
    const lastPhase = checkLastPhase(request.lastPhase ?? request.plan?.lastPhase);
    const planFile = request.plan ? await checkPlan(request.plan, { slug: spec.slug, engine: "render", layout: this.options.layout }) : null;
    const rendered = await this.renderOne(spec, settings, lastPhase, signal);
    const record = await store.get(spec.slug);
    // Refresh first, as the Pulumi engine's `up --refresh` does: the update starts from what really exists.
    const current = record ? actualResources(record) : [];
    if (planFile) verifyRenderPlan(await readRenderPlan(planFile), rendered.resources, current, request.planMode ?? "exact");

    const split = this.tierChangeOf(planUpdate(rendered.resources, current, lastPhase), record, spec, lastPhase);
    const plan = split.plan;
    const state = new RecordedState(current);
    let databasePlacement = record ? recordedPlacement(record) : undefined;
    let unfinishedContract = record?.unfinishedContract;
    const attempts: Record<string, number> = { ...(record?.faultAttempts ?? {}) };
    let phasesApplied = Math.min(record?.phasesApplied ?? 0, lastPhase);
    const save = (changes: Partial<RenderRecord> = {}) =>
      store.put({
        version: 1,
        slug: spec.slug,
        spec,
        lastPhase,
        phasesApplied,
        resources: state.list(),
        outputs: record?.outputs ?? {},
        faultAttempts: attempts,
        ...(databasePlacement ? { databasePlacement } : {}),
        ...(unfinishedContract ? { unfinishedContract } : {}),
        updatedAt: new Date().toISOString(),
        ...changes,
      });

    const tracker = new PhaseTracker(events.emit);
    const tierChange = new TierChangeRun({
      slug: spec.slug,
      split,
      targets: this.options.databases,
      emit: events.emit,
      signal,
      // From the switch on, a failure leaves the old target to a later contract, never to a new move.
      markSwitched: () => {
        databasePlacement = placementOf(spec.tier);
        unfinishedContract = split.oldData ?? undefined;
      },
      onSwitched: () => save(),
      onContracted: async () => {
        unfinishedContract = undefined;
        await save();
      },
      failPhase: (message) => tracker.failPhase(DATABASE_PHASE, { urn: null, type: null, message }),
    });
    const asStep = (step: (typeof split.contract)[number]) => ({ urn: step.resource.urn, type: step.resource.type, op: step.op });
    try {
      await walkPlan(plan, tracker, {
        signal,
        phaseDelayMs: this.phaseDelay,
        faultFor: (phase) => {
          const failed = attempts[phase.phase] ?? 0;
          const fault = faultApplies(this.faultPlan, phase.phase, failed);
          if (!fault) return null;
          attempts[phase.phase] = failed + 1;
          return { fault, attempt: failed + 1 };
        },
        applyStep: (step) => {
          state.apply(step);
          tierChange.applied(step);
        },
        beforeChild: (phase, step) => tierChange.beforeChild(phase, step),
        endOfChildren: (phase) => tierChange.endOfChildren(phase),
        afterPhase: async (phase) => {
          if (phase.action === "apply") phasesApplied = phase.phase;
          if (phase.phase === DATABASE_PHASE) databasePlacement = phase.action === "apply" ? placementOf(spec.tier) : undefined;
          await save();
        },
        // Phase 2's deletes (the old target) wait until every later phase rolled its workloads onto the new one.
        afterPhases: () => tierChange.contract(async () => {
          for (const step of split.contract) {
            signal.throwIfAborted();
            tracker.resourceStarted(asStep(step));
            state.apply(step);
            tracker.resourceDone(asStep(step));
          }
          await save();
        }),
      });
    } catch (thrown) {
      const error = asEngineError(thrown);
      // Stopped before the switch: the tenant writes to its old target again.
      await tierChange.thaw();
      // What was applied before the failure stays applied, as in a partial Pulumi update.
      await save();
      tracker.finish(statusOf(error), stopReason(error));
      return { status: statusOf(error), changeSummary: tracker.changeSummary(), phases: tracker.reports(), error: toErrorInfo(error), extras: { lastPhase, outputs: {} } };
    }
    await save({ phasesApplied: lastPhase, outputs: rendered.outputs });
    tracker.finish("succeeded", "");
    return { status: "succeeded", changeSummary: tracker.changeSummary(), phases: tracker.reports(), error: null, extras: { lastPhase, outputs: rendered.outputs } };
  }

  private async previewNow(request: PreviewRequest, context: OperationContext): Promise<OperationOutcome<Pick<PreviewResult, "lastPhase" | "changes" | "plan" | "tierChange">>> {
    const { spec, settings, signal, events } = context;
    const lastPhase = checkLastPhase(request.lastPhase);
    const rendered = await this.renderOne(spec, settings, lastPhase, signal);
    const record = await this.options.store.get(spec.slug);
    // Refreshed like the provision it reviews.
    const recorded = record ? actualResources(record) : [];
    const plan = planUpdate(rendered.resources, recorded, lastPhase);
    const tierChange = await previewTierChange(this.tierChangeOf(plan, record, spec, lastPhase), spec.slug, this.options.databases);
    const tracker = new PhaseTracker(events.emit);
    await walkPlan(plan, tracker, { signal });
    tracker.finish("succeeded", "");
    let saved: SavedPlan | null = null;
    if (request.savePlan) {
      saved = await newPlan(this.options.layout, spec.slug, "render", lastPhase);
      await writeRenderPlan(saved, rendered.resources, recorded);
      // With its contents, so that another service process can apply it (core/plans.ts).
      saved = await sealPlan(saved);
    }
    return {
      status: "succeeded",
      changeSummary: tracker.changeSummary(),
      phases: tracker.reports(),
      error: null,
      // Refreshed from a simulated actual state, the old side may hold a secret in clear (a hand edit).
      extras: { lastPhase, changes: redactResourceChanges(stepsInOrder(plan).map(toResourceChange), this.secretsFor(settings)), plan: saved, tierChange },
    };
  }

  private async teardownNow(context: OperationContext): Promise<OperationOutcome<Pick<TeardownResult, "stackRemoved" | "alreadyAbsent">>> {
    const { spec, signal, events } = context;
    const { store, layout } = this.options;
    const record = await store.get(spec.slug);
    const removeLeftovers = async () => {
      await rm(layout.workspace(spec.slug), { recursive: true, force: true });
      await rm(layout.plansDir(spec.slug), { recursive: true, force: true });
    };
    if (!record) {
      await removeLeftovers();
      return { status: "succeeded", changeSummary: emptyChangeSummary(), phases: [], error: null, extras: { stackRemoved: false, alreadyAbsent: true } };
    }
    const state = new RecordedState(record.resources);
    const save = () => store.put({ ...record, resources: state.list(), phasesApplied: 0, updatedAt: new Date().toISOString() });
    const tracker = new PhaseTracker(events.emit);
    try {
      await walkPlan(planTeardown(record.resources), tracker, {
        signal,
        phaseDelayMs: this.phaseDelay,
        applyStep: (step) => state.apply(step),
        afterPhase: () => save(),
      });
    } catch (thrown) {
      const error = asEngineError(thrown);
      await save();
      tracker.finish(statusOf(error), stopReason(error));
      return { status: statusOf(error), changeSummary: tracker.changeSummary(), phases: tracker.reports(), error: toErrorInfo(error), extras: { stackRemoved: false, alreadyAbsent: false } };
    }
    await store.delete(spec.slug);
    await removeLeftovers();
    tracker.finish("succeeded", "");
    return { status: "succeeded", changeSummary: tracker.changeSummary(), phases: tracker.reports(), error: null, extras: { stackRemoved: true, alreadyAbsent: false } };
  }

  private async driftNow(context: OperationContext): Promise<OperationOutcome<Pick<DriftCheckResult, "drifted">>> {
    const { spec, signal, events } = context;
    const record = await this.options.store.get(spec.slug);
    if (!record) throw new StackNotFoundError(spec.slug);
    // A refresh preview reads reality, not the program: nothing is rendered.
    const plan = driftPlan(actualResources(record), record);
    const recorded = new Map(record.resources.map((r) => [r.urn, r]));
    const tracker = new PhaseTracker(events.emit);
    // Paced like an update, so that rehearsals can watch a slow refresh give way to a run.
    await walkPlan(plan, tracker, { signal, phaseDelayMs: this.phaseDelay });
    tracker.finish("succeeded", "");
    const found: DriftedResource[] = stepsInOrder(plan)
      .filter((s) => s.op !== "same" && s.op !== "read")
      .map((s) => {
        const change = toResourceChange(s);
        const before = recorded.get(change.urn);
        const drift = s.op === "delete" ? "gone" : s.op === "create" ? "untracked" : "changed";
        return {
          urn: change.urn,
          type: change.type,
          phase: change.phase,
          drift,
          properties: change.changedPaths,
          differences: drift === "changed" && before ? unredactedDrift(before.inputs, s.resource.inputs) : [],
        };
      });
    const drifted = redactDriftedResources(found, this.secretsFor(context.settings));
    return { status: "succeeded", changeSummary: tracker.changeSummary(), phases: tracker.reports(), error: null, extras: { drifted } };
  }
}

/**
 * The update that would take the record to what really exists, limited to
 * the phases the record holds: phases never applied (after a failed
 * provision) are not drift.
 */
function driftPlan(desired: RenderResult["resources"], record: RenderRecord): UpdatePlan {
  const full = planUpdate(desired, record.resources, record.lastPhase);
  const recordedPhases = new Set(record.resources.map((r) => r.phase?.number).filter((n): n is number => n !== undefined));
  return { ...full, apply: full.apply.filter((p) => recordedPhases.has(p.phase)) };
}

/** Where the record's credentials Secret points; records from before it was kept: the placement of the spec they were applied with. */
function recordedPlacement(record: RenderRecord): RenderRecord["databasePlacement"] {
  if (record.databasePlacement) return record.databasePlacement;
  const hasDatabase = record.resources.some((r) => phaseRefOfUrn(r.urn)?.number === DATABASE_PHASE);
  return hasDatabase ? placementOf(record.spec.tier) : undefined;
}
