/**
 * The Pulumi engine's operations as they run inside a worker process: one
 * stack per tenant (named after the slug) in project matih-tenants, with the
 * inline program from stacks/ given the tenant's spec and the platform
 * settings directly (no stack config is read or written), the configured
 * backend and secrets provider, and the tenant's own work directory.
 *
 * The work directory is this host's; the stack is the backend's, and any
 * service process may run the next command on it. Two things the CLI keeps
 * per work directory must therefore come from the service, which keeps them
 * for every process: the stack's secrets settings (the settings file
 * `Pulumi.<slug>.yaml`, restored before a command on an existing stack and
 * reported back after every command) and a saved plan (written to this data
 * directory from its contents before `up --plan`).
 */
import { mkdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import type { InlineProgramArgs, LocalWorkspaceOptions, OutputMap, StackSettings } from "@pulumi/pulumi/automation/index.js";
import type { PlatformSettings } from "../../model/settings.ts";
import type { TenantSpec } from "../../model/spec.ts";
import { PROJECT_NAME, SECRET_PLACEHOLDER } from "../../model/constants.ts";
import { PHASE_COUNT } from "../../model/phases.ts";
import { tenantProgram } from "../../stacks/tenant-program.ts";
import { emptyChangeSummary } from "../core/change-summary.ts";
import { DataDirLayout } from "../core/data-dir.ts";
import { PlanMismatchError, StackNotFoundError, UpdateFailedError } from "../core/errors.ts";
import type { JobContext, PulumiJob, PulumiJobRequest } from "../isolation/protocol.ts";
import { checkLastPhase, statusOf, stopReason, type OperationOutcome } from "../core/operation.ts";
import { PhaseTracker } from "../core/phase-tracker.ts";
import { checkPlan, newPlan, sealPlan } from "../core/plans.ts";
import { plainText, redactSecrets, secretValues } from "../core/redact.ts";
import type { ChangeSummary, DriftCheckResult, DriftedResource, PreviewResult, ProvisionResult, SavedPlan, StackSecretsSettings, SubStepStatus, TeardownResult, TierChangePreview } from "../core/types.ts";
import { errorLines, mapPulumiError } from "./error-mapping.ts";
import { PulumiEventMapper } from "./event-mapper.ts";
import type { LockRelease } from "./file-backend.ts";
import { withLockHandling } from "./locks.ts";
import { planDifferences, plannedSteps, PreviewSteps } from "./plan-check.ts";
import { installPlugins, requiredPlugins } from "./plugins.ts";
import { isTier, type Tier } from "../../model/tiers.ts";
import { contractChanges } from "../../model/tier-change.ts";
import { phaseByNumber, phaseOfUrn } from "../../model/phases.ts";
import { phaseRef } from "../core/phase-tracker.ts";
import { workspaceOptions, type TenantStack, type WorkspaceFactory } from "./workspace.ts";
import { assertPlanHoldsAfterExpand, dataMoveOf, expandAndMove, isEgressPolicyUpdate, movePreview, oldDataRemoval, type TierMoveContext } from "./tier-move.ts";

export interface PulumiJobDeps extends JobContext {
  readonly factory: WorkspaceFactory;
  readonly env: NodeJS.ProcessEnv;
  /** First wait between lock retries; tests shorten it. */
  readonly lockPollMs?: number;
  /** Default TAKEOVER_MARGIN_MS; tests shorten it. */
  readonly takeoverMarginMs?: number;
}

/**
 * Added to the cancel grace before a takeover breaks a dead run's lock: the
 * orphaned worker's kill must have taken effect, on a host as busy as ours.
 */
export const TAKEOVER_MARGIN_MS = 5_000;

/** Every operation's update message, so `pulumi stack history` says who ran what. */
function updateMessage(operation: string, slug: string, lastPhase?: number): string {
  return `matih tenant service: ${operation} ${slug}${lastPhase ? ` (phases 1-${lastPhase})` : ""}`;
}

/**
 * The tenant program as an inline program. Credentials come from the engine's
 * environment here, at the edge, and reach the program as arguments.
 */
export function inlineProgram(spec: TenantSpec, settings: PlatformSettings, lastPhase: number, env: NodeJS.ProcessEnv, options: InlineProgramOptions = {}): InlineProgramArgs {
  const postgresAdminPassword = env[settings.postgres.adminPasswordEnv];
  return {
    stackName: spec.slug,
    projectName: PROJECT_NAME,
    program: async () => {
      const tierChangeFrom = options.tierChangeFrom?.() ?? null;
      return tenantProgram(spec, settings, {
        lastPhase, credentials: postgresAdminPassword ? { postgresAdminPassword } : {}, readBack: options.readBack ?? true, ...(tierChangeFrom ? { tierChangeFrom } : {}),
        ...(options.moveDatabaseTo ? { moveDatabaseTo: options.moveDatabaseTo } : {}),
      });
    },
  };
}

export interface InlineProgramOptions {
  /** TenantProgramOptions.readBack. Default: true. */
  readonly readBack?: boolean;
  /**
   * TenantProgramOptions.tierChangeFrom, asked when the program runs: the
   * stack is opened with the program before its outputs say which tier it was
   * last applied with. Default: none.
   */
  readonly tierChangeFrom?: () => Tier | null;
  /** TenantProgramOptions.moveDatabaseTo: the expand of a tier change whose data moves (tier-move.ts). Default: none. */
  readonly moveDatabaseTo?: Tier;
}

/**
 * The tier the stack was last applied with (its `tier` output), or null for a
 * stack that has none yet (never updated) or an unknown value.
 */
function appliedTier(outputs: OutputMap): Tier | null {
  const value = outputs.tier?.value;
  return isTier(value) ? value : null;
}

/** The tier a change comes from when the stack was last applied with another tier than the spec's; else null. */
async function tierChangeOf(stack: TenantStack, spec: TenantSpec): Promise<Tier | null> {
  return tierChangeIn(await stack.outputs(), spec);
}

function tierChangeIn(outputs: OutputMap, spec: TenantSpec): Tier | null {
  const applied = appliedTier(outputs);
  return applied !== null && applied !== spec.tier ? applied : null;
}

const DATABASE_PHASE = phaseRef(phaseByNumber(2));

/** What the Pulumi engine's change of tier runs, for the review (PreviewResult.tierChange). */
export function pulumiTierChange(from: Tier, to: Tier): TierChangePreview {
  const contract = contractChanges(from, to);
  const move = dataMoveOf(from, to);
  if (move) {
    return {
      steps: ["expand", "move", "verify", "switch", "contract"],
      move,
      data: null,
      note: [
        `an update first creates the ${move.to} target beside the ${move.from} one (expand); the tenant's writes stop on the ${move.from} server, its schema is copied to the ${move.to} one and verified (move, verify); `,
        `then this update points the credentials Secret at it and rolls the workloads (switch), deleting last what the ${to} tier no longer declares`,
        move.from === "shared" ? `; after it the tenant is removed from the shared server (contract)` : `, the dedicated server included`,
        contract.length > 0 ? `; a second update (contract): ${contract.join("; ")}` : "",
      ].join(""),
    };
  }
  return {
    steps: contract.length > 0 ? ["switch", "contract"] : ["switch"],
    move: null,
    data: null,
    note: [
      `this update points the credentials Secret at the ${to} tier's connection settings and rolls the workloads`,
      contract.length > 0 ? `; a second update after it (contract): ${contract.join("; ")}` : "",
    ].join(""),
  };
}

/**
 * The second update of a tier change: the program without the change's
 * allowances, once the first has rolled every workload. Previewed first: it may
 * only lower what the first update widened and remove what it kept (updates
 * and deletes in phases 1 and 2); anything else means the stack is not where
 * the reviewed change left it, and nothing is applied. False when there is
 * nothing to contract (a change up to a wider tier).
 */
async function contractTierChange(
  job: PulumiJob, deps: PulumiJobDeps, request: PulumiJobRequest, from: Tier, lastPhase: number, onEvent: PulumiEventMapper["handle"],
  oldData: { describe: string; run: () => Promise<void> } | null = null,
): Promise<boolean> {
  const { spec } = request;
  const step = (status: SubStepStatus, message: string) => deps.emit({ type: "phase-step", phase: DATABASE_PHASE, step: "contract", status, message });
  const contract = contractChanges(from, spec.tier);
  const lines = oldData ? [...contract, oldData.describe] : contract;
  if (lines.length === 0) return false;
  step("started", lines.join("; "));
  try {
    if (contract.length === 0) {
      // Nothing for a second update to lower: only the old data to remove, the workloads having rolled off it.
      await oldData!.run();
      step("succeeded", lines.join("; "));
      return false;
    }
    const stack = await deps.factory.selectStack(inlineProgram(spec, request.settings, lastPhase, deps.env), workspaceOptions(job.config, spec.slug));
    const message = updateMessage(`contract of the change ${from} -> ${spec.tier}:`, spec.slug, lastPhase);
    const planned = new PreviewSteps();
    await stack.preview({ onEvent: planned.handle, signal: deps.signal, color: "never", message });
    // Updates and deletes in phases 1-2, and phase 4's egress narrowed to the new tier's server: nothing else.
    const outside = [...planned.steps].filter(([urn, kind]) => !isEgressPolicyUpdate(urn, kind)
      && ((kind !== "update" && kind !== "delete") || (phaseOfUrn(urn)?.number ?? 0) > DATABASE_PHASE.number || phaseOfUrn(urn) === null));
    if (outside.length > 0) {
      throw new UpdateFailedError(`the contract of the change ${from} -> ${spec.tier} would also ${outside.slice(0, 3).map(([urn, kind]) => `${kind} ${urn}`).join(", ")}${outside.length > 3 ? ` and ${outside.length - 3} more` : ""}; nothing of it was applied: preview the tenant and retry`);
    }
    await stack.up({ onEvent, signal: deps.signal, color: "never", message });
    if (oldData) await oldData.run();
    step("succeeded", lines.join("; "));
    return true;
  } catch (error) {
    step("failed", error instanceof Error ? error.message : String(error));
    throw error;
  }
}

export function redactOutputs(outputs: OutputMap): Record<string, unknown> {
  return Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, v.secret ? SECRET_PLACEHOLDER : v.value]));
}

const SECRETS_KEYS = ["secretsProvider", "encryptedKey", "encryptionSalt"] as const;

/** The secrets part of a stack's settings (provider, wrapped key, salt); null when there is none. */
export function secretsSettingsOf(settings: StackSettings | StackSecretsSettings | null | undefined): StackSecretsSettings | null {
  if (!settings) return null;
  const picked: Record<string, string> = {};
  for (const key of SECRETS_KEYS) {
    const value = settings[key];
    if (typeof value === "string" && value !== "") picked[key] = value;
  }
  return Object.keys(picked).length > 0 ? picked : null;
}

function sameSecrets(a: StackSecretsSettings | null, b: StackSecretsSettings | null): boolean {
  return SECRETS_KEYS.every((key) => (a?.[key] ?? "") === (b?.[key] ?? ""));
}

/** The stack's settings file in this work directory, or null when there is none (or it cannot be read). */
async function localStackSettings(stack: TenantStack, slug: string): Promise<StackSettings | null> {
  try {
    return await stack.workspace.stackSettings(slug);
  } catch {
    return null;
  }
}

/**
 * Before a command on an existing stack: the settings file in this work
 * directory must hold the secrets settings the service recorded for the
 * stack. Without them the CLI would make new ones (a new passphrase salt, or
 * the passphrase provider in place of a key vault), write the checkpoint with
 * them, and fail to decrypt a plan another process saved. Written when the
 * file is missing or says otherwise; its other keys are kept.
 */
async function restoreStackSettings(stack: TenantStack, slug: string, recorded: StackSecretsSettings | null | undefined, deps: PulumiJobDeps): Promise<void> {
  const wanted = secretsSettingsOf(recorded);
  if (!wanted) return;
  const current = await localStackSettings(stack, slug);
  if (current && sameSecrets(secretsSettingsOf(current), wanted)) return;
  const { secretsProvider: _provider, encryptedKey: _key, encryptionSalt: _salt, ...rest } = current ?? {};
  await stack.workspace.saveStackSettings(slug, { ...rest, ...wanted });
  deps.log("info", `${slug}: the stack's secrets settings (${Object.keys(wanted).join(", ")}) were ${current ? "replaced" : "written"} in this work directory from the service's record`);
}

/** Selects an existing stack (rejects with the SDK's StackNotFoundError) and restores its recorded secrets settings. */
async function openExisting(factory: WorkspaceFactory, args: InlineProgramArgs, options: LocalWorkspaceOptions, recorded: StackSecretsSettings | null | undefined, deps: PulumiJobDeps): Promise<TenantStack> {
  const stack = await factory.selectStack(args, options);
  await restoreStackSettings(stack, args.stackName, recorded, deps);
  return stack;
}

const isSdkStackNotFound = (error: unknown) => error instanceof Error && error.name === "StackNotFoundError";

/** What every stack command's result adds: the stack's secrets settings as the command left them. */
type WithSettings<Extras> = Extras & { stackSettings: StackSecretsSettings | null };

interface RunSpec<Extras, T> {
  /** The command refreshes before it updates or previews (`--refresh`). */
  readonly refreshFirst?: boolean;
  /** Opens the stack; one that existed before has its recorded secrets settings restored (openExisting). */
  readonly open: (factory: WorkspaceFactory) => Promise<TenantStack>;
  readonly run: (stack: TenantStack, onEvent: PulumiEventMapper["handle"], tracker: PhaseTracker) => Promise<T>;
  readonly lockOwnerDead?: boolean;
  readonly succeeded: (value: T, mapper: PulumiEventMapper, tracker: PhaseTracker, stack: TenantStack) => Promise<Extras> | Extras;
  readonly failedExtras: Extras;
  readonly summary?: (tracker: PhaseTracker, extras: Extras) => ChangeSummary;
}

/**
 * Opens the stack, runs one command under lock handling, maps events and
 * errors; reports the stack's secrets settings as the command left them
 * (null when the stack was never opened or is gone).
 */
async function runStackCommand<Extras, T>(job: PulumiJob, deps: PulumiJobDeps, spec: RunSpec<Extras, T>): Promise<OperationOutcome<WithSettings<Extras>>> {
  const request = job.request!;
  const clean = cleaner(deps.env, request.settings);
  const tracker = new PhaseTracker(deps.emit);
  const mapper = new PulumiEventMapper(tracker, { clean, secrets: secretValues(deps.env, request.settings), emit: deps.emit, refreshStepsAreProgress: !spec.refreshFirst });
  const slug = request.spec.slug;
  let opened: TenantStack | undefined;
  const settingsNow = async () => (opened ? secretsSettingsOf(await localStackSettings(opened, slug)) : null);
  try {
    const stack = await spec.open(deps.factory);
    opened = stack;
    const value = await withLockHandling(() => spec.run(stack, mapper.handle, tracker), {
      ownerDead: spec.lockOwnerDead ?? false,
      staleLockGraceMs: (job.config.cancelGraceMs ?? 0) + (deps.takeoverMarginMs ?? TAKEOVER_MARGIN_MS),
      lockWaitMs: request.lockWaitMs ?? job.config.lockWaitMs,
      signal: deps.signal,
      ...(deps.lockPollMs !== undefined ? { pollMs: deps.lockPollMs } : {}),
      cancelStaleLock: () => stack.cancel(),
      backendUrl: job.config.backendUrl,
      stackName: slug,
      onNotice: (message) => deps.emit({ type: "diagnostic", severity: "warning", message, urn: null, phase: null }),
    });
    mapper.flush();
    const extras = await spec.succeeded(value, mapper, tracker, stack);
    tracker.finish("succeeded", "");
    return { status: "succeeded", changeSummary: spec.summary?.(tracker, extras) ?? tracker.changeSummary(), phases: tracker.reports(), error: null, extras: { ...extras, stackSettings: await settingsNow() } };
  } catch (thrown) {
    mapper.flush();
    const error = mapPulumiError(thrown, { slug, signal: deps.signal, tracker, mapper, clean });
    tracker.finish(statusOf(error), stopReason(error));
    // A failed command still leaves the settings a new stack got from `stack init`: the service keeps them.
    return { status: statusOf(error), changeSummary: tracker.changeSummary(), phases: tracker.reports(), error: error.toInfo(), extras: { ...spec.failedExtras, stackSettings: await settingsNow() } };
  }
}

/** Pulumi's own check of a plan's contents: a plan file whose steps are all this tenant's stack's. */
function pulumiPlanFor(slug: string) {
  const prefix = `urn:pulumi:${slug}::${PROJECT_NAME}::`;
  return (content: string, plan: SavedPlan): void => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(content);
    } catch {
      throw new PlanMismatchError(`the plan ${plan.id} for tenant "${slug}" is not a Pulumi plan file; preview again`);
    }
    const steps = parsed !== null && typeof parsed === "object" ? (parsed as { resourcePlans?: unknown }).resourcePlans ?? {} : null;
    if (steps === null || typeof steps !== "object") throw new PlanMismatchError(`the plan ${plan.id} for tenant "${slug}" is not a Pulumi plan file; preview again`);
    const foreign = Object.keys(steps).find((urn) => !urn.startsWith(prefix));
    if (foreign) throw new PlanMismatchError(`the plan ${plan.id} holds steps of another stack (${foreign}), not of tenant "${slug}"; preview again`);
  };
}

async function removeTenantFiles(layout: DataDirLayout, slug: string): Promise<void> {
  await rm(layout.workspace(slug), { recursive: true, force: true });
  await rm(layout.plansDir(slug), { recursive: true, force: true });
}

/**
 * The CLI holds an update to its plan step by step, so a plan that no longer
 * holds would fail after the steps before the first difference were applied.
 * A refreshed preview first: any resource whose step differs from the
 * reviewed one refuses the whole update before anything changes.
 */
async function assertPlanHolds(stack: TenantStack, planFile: string, signal: AbortSignal): Promise<void> {
  const now = new PreviewSteps();
  await stack.preview({ onEvent: now.handle, signal, color: "never", refresh: true, message: "matih tenant service: checking the reviewed plan still holds" });
  const differences = planDifferences(plannedSteps(await readFile(planFile, "utf8")), now.steps);
  if (differences.length > 0) {
    throw new PlanMismatchError(`the update does not match the reviewed plan, and nothing was applied: ${differences.slice(0, 5).join("; ")}${differences.length > 5 ? `; and ${differences.length - 5} more` : ""}; preview again and review the new plan`);
  }
}

/** The preview's account of a change of tier; what a move would copy is measured on a shared source. */
async function tierChangeForPreview(from: Tier, request: PulumiJobRequest, lastPhase: number, env: NodeJS.ProcessEnv): Promise<TierChangePreview> {
  const base = pulumiTierChange(from, request.spec.tier);
  if (!base.move || lastPhase < DATABASE_PHASE.number) return base;
  const measured = await movePreview(from, request.spec.tier, request.spec.slug, request.settings, env);
  return { ...base, data: measured.data, note: measured.note ? `${base.note}. ${measured.note}` : base.note };
}

/** The stack commands of a moving change's expand: the stack's own tier's program with the new target beside it. */
function tierMoveContext(job: PulumiJob, deps: PulumiJobDeps, request: PulumiJobRequest, from: Tier, lastPhase: number, tracker: PhaseTracker, outputsBefore: OutputMap): TierMoveContext {
  const { spec } = request;
  const message = updateMessage(`expand of the change ${from} -> ${spec.tier}:`, spec.slug, lastPhase);
  const open = () => deps.factory.selectStack(inlineProgram({ ...spec, tier: from }, request.settings, lastPhase, deps.env, { moveDatabaseTo: spec.tier }), workspaceOptions(job.config, spec.slug));
  const clean = cleaner(deps.env, request.settings);
  // The CLI's failure as the run's errors are reported: its `error:` lines, without secrets; a lock conflict as it is, for the lock handling.
  const cliFailure = (error: unknown): never => {
    if (error instanceof Error && error.name === "ConcurrentUpdateError") throw error;
    throw new Error(errorLines(error instanceof Error ? error.message : String(error), clean).join("; ") || "the pulumi command failed");
  };
  return {
    slug: spec.slug, from, to: spec.tier, settings: request.settings, env: deps.env, signal: deps.signal, emit: deps.emit,
    failPhase: (text) => tracker.failPhase(DATABASE_PHASE.number, { urn: null, type: null, message: text }),
    readOutputs: async () => outputsBefore,
    previewExpand: async () => {
      const planned = new PreviewSteps();
      await (await open()).preview({ onEvent: planned.handle, signal: deps.signal, color: "never", message }).catch(cliFailure);
      return planned.steps;
    },
    applyExpand: async () => {
      const stack = await open();
      // Its engine events are not the run's phases: every phase would show as done before the data moved.
      await stack.up({ signal: deps.signal, color: "never", message }).catch(cliFailure);
      return stack.outputs();
    },
  };
}

function provision(job: PulumiJob, deps: PulumiJobDeps, request: PulumiJobRequest, layout: DataDirLayout) {
  const lastPhase = checkLastPhase(request.lastPhase ?? request.plan?.lastPhase);
  let planFile: string | undefined;
  // Read from the stack once it is open; the program asks for it when it runs.
  let tierChangeFrom: Tier | null = null;
  let appliedOutputs: OutputMap = {};
  const openForProvision = async (factory: WorkspaceFactory): Promise<TenantStack> => {
    if (request.plan) {
      // Written to this data directory from the contents the service kept, wherever the preview ran.
      const file = await checkPlan(request.plan, { slug: request.spec.slug, engine: "pulumi", layout, checkContent: pulumiPlanFor(request.spec.slug) });
      // A plan whose update already ran in part cannot be held to: the CLI would refuse the steps that are now no-ops.
      if (request.planMode !== "resume") planFile = file;
    }
    const args = inlineProgram(request.spec, request.settings, lastPhase, deps.env, { tierChangeFrom: () => tierChangeFrom });
    const options = workspaceOptions(job.config, request.spec.slug);
    if (secretsSettingsOf(request.stackSettings)) {
      // The service has settings for this tenant's stack, so it existed: select it and restore them.
      try {
        return await openExisting(factory, args, options, request.stackSettings, deps);
      } catch (error) {
        // Gone since (removed outside the service): created afresh below, with settings of its own, which are reported.
        if (!isSdkStackNotFound(error)) throw error;
        deps.log("warn", `${request.spec.slug}: the service had secrets settings for this tenant's stack, but the backend has no such stack; a new one is created`);
        // A settings file left here belongs to the stack that is gone; `stack init` would take its secrets settings over.
        for (const ext of [".yaml", ".yml", ".json"]) await rm(path.join(layout.workspace(request.spec.slug), `Pulumi.${request.spec.slug}${ext}`), { force: true });
      }
    }
    return factory.createOrSelectStack(args, options);
  };
  return runStackCommand<Pick<ProvisionResult, "lastPhase" | "outputs">, Awaited<ReturnType<TenantStack["up"]>>>(job, deps, {
    open: async (factory) => {
      const stack = await openForProvision(factory);
      // Outside the lock handling's retries: reading outputs takes no lock.
      appliedOutputs = await stack.outputs();
      tierChangeFrom = tierChangeIn(appliedOutputs, request.spec);
      return stack;
    },
    // --refresh: read every resource from its provider first, so one deleted
    // out of band (a namespace, a DNS record) shows as missing and is created
    // again instead of staying "same" in the checkpoint forever.
    // A change of tier runs as two updates: this one with both tiers' allowances, then the contract (model/tier-change.ts).
    run: async (stack, onEvent, tracker) => {
      if (planFile) await assertPlanHolds(stack, planFile, deps.signal);
      const from = tierChangeFrom;
      // A change between the shared server and a dedicated one: expand, move and verify before the switch (tier-move.ts).
      // The CLI would refuse the plan's creates that expand already made (`--plan`); the rest of it is checked after expand instead.
      const reviewed = planFile;
      const checkPlan = reviewed
        ? async (expanded: ReadonlySet<string>) => {
          const now = new PreviewSteps();
          await stack.preview({ onEvent: now.handle, signal: deps.signal, color: "never", refresh: true, message: "matih tenant service: checking the reviewed plan still holds after expand" });
          assertPlanHoldsAfterExpand(plannedSteps(await readFile(reviewed, "utf8")), now.steps, expanded);
        }
        : undefined;
      const moved = from && lastPhase >= DATABASE_PHASE.number && dataMoveOf(from, request.spec.tier)
        ? await expandAndMove({ ...tierMoveContext(job, deps, request, from, lastPhase, tracker, appliedOutputs), ...(checkPlan ? { checkPlan } : {}) })
        : null;
      if (from) deps.emit({ type: "phase-step", phase: DATABASE_PHASE, step: "switch", status: "started", message: moved ? `pointing the credentials Secret at the ${moved.move.to} server, where the verified copy is` : pulumiTierChange(from, request.spec.tier).note ?? "" });
      const up = await stack.up({ onEvent, signal: deps.signal, color: "never", refresh: true, message: updateMessage("provision", request.spec.slug, lastPhase), ...(planFile && !moved ? { plan: planFile } : {}) })
        .catch((error: unknown) => {
          if (from) {
            deps.emit({ type: "phase-step", phase: DATABASE_PHASE, step: "switch", status: "failed", message: moved
              ? `the update stopped before every workload rolled; the ${moved.move.from} server keeps the tenant's data, its writes stopped (docs/operations.md)`
              : "the update stopped before every workload rolled; the old tier's allowances stay until a retry completes it" });
          }
          throw error;
        });
      if (!from) return up;
      deps.emit({ type: "phase-step", phase: DATABASE_PHASE, step: "switch", status: "succeeded", message: moved
        ? `the workloads run on the ${moved.move.to} server with the ${request.spec.tier} tier's sizes${moved.move.from === "dedicated" ? "; the dedicated server was deleted last in this update, after every phase rolled" : ""}`
        : `the workloads run on the ${request.spec.tier} tier's connection settings and sizes` });
      // The outputs after the contract's update: the same values, as the stack now holds them.
      const removal = moved ? oldDataRemoval(moved, request.spec.slug) : null;
      return (await contractTierChange(job, deps, request, from, lastPhase, onEvent, removal)) ? { ...up, outputs: await stack.outputs() } : up;
    },
    refreshFirst: true,
    lockOwnerDead: request.ownerDead ?? false,
    succeeded: (up) => ({ lastPhase, outputs: redactOutputs(up.outputs) }),
    failedExtras: { lastPhase, outputs: {} },
  });
}

function preview(job: PulumiJob, deps: PulumiJobDeps, request: PulumiJobRequest, layout: DataDirLayout) {
  const lastPhase = checkLastPhase(request.lastPhase);
  let saved: SavedPlan | null = null;
  let tierChangeFrom: Tier | null = null;
  return runStackCommand<Pick<PreviewResult, "lastPhase" | "changes" | "plan" | "tierChange">, unknown>(job, deps, {
    // A preview never creates a stack: asking about an unknown tenant is stack_not_found and leaves nothing behind.
    open: async (factory) => {
      const stack = await openExisting(factory, inlineProgram(request.spec, request.settings, lastPhase, deps.env, { tierChangeFrom: () => tierChangeFrom }), workspaceOptions(job.config, request.spec.slug), request.stackSettings, deps);
      // The same program as the update it reviews: a change of tier previews its first update (expand and switch).
      tierChangeFrom = await tierChangeOf(stack, request.spec);
      if (request.savePlan) saved = await newPlan(layout, request.spec.slug, "pulumi", lastPhase);
      return stack;
    },
    // Refreshed like the provision it reviews, so the plan sees what was deleted out of band.
    run: (stack, onEvent) =>
      stack.preview({ onEvent, signal: deps.signal, color: "never", diff: true, refresh: true, message: updateMessage("preview", request.spec.slug, lastPhase), ...(saved ? { plan: saved.file } : {}) }),
    refreshFirst: true,
    // The plan goes back with its contents, so that any process can apply it (core/plans.ts).
    succeeded: async (_value, mapper) => ({
      lastPhase, changes: mapper.resourceChanges(), plan: saved ? await sealSaved(saved) : null,
      ...(tierChangeFrom ? { tierChange: await tierChangeForPreview(tierChangeFrom, request, lastPhase, deps.env) } : {}),
    }),
    failedExtras: { lastPhase, changes: [], plan: null },
  });
}

async function sealSaved(saved: SavedPlan): Promise<SavedPlan> {
  try {
    return await sealPlan(saved);
  } catch (error) {
    throw new UpdateFailedError(`the preview saved no plan at ${saved.file}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

async function teardown(job: PulumiJob, deps: PulumiJobDeps, request: PulumiJobRequest, layout: DataDirLayout) {
  const slug = request.spec.slug;
  let absent = false;
  const outcome = await runStackCommand<Pick<TeardownResult, "stackRemoved" | "alreadyAbsent">, boolean>(job, deps, {
    open: async (factory) => openExisting(factory, inlineProgram(request.spec, request.settings, request.lastPhase ?? PHASE_COUNT, deps.env, { readBack: false }), workspaceOptions(job.config, slug), request.stackSettings, deps),
    // --run-program: providers are configured by the program as it is now, not from the credentials old state recorded.
    run: async (stack, onEvent) => {
      await stack.destroy({ onEvent, signal: deps.signal, color: "never", runProgram: true, message: updateMessage("teardown", slug) });
      return true;
    },
    lockOwnerDead: request.ownerDead ?? false,
    succeeded: async (_value, _mapper, _tracker, stack) => {
      // Destroy first, then forget the stack: removing a stack that still has resources would orphan them.
      await stack.workspace.removeStack(slug);
      await removeTenantFiles(layout, slug);
      return { stackRemoved: true, alreadyAbsent: false };
    },
    failedExtras: { stackRemoved: false, alreadyAbsent: false },
  });
  if (outcome.status === "failed" && outcome.error?.code === "stack_not_found") {
    // Nothing to tear down: a retried teardown job after a crash lands here.
    absent = true;
    await removeTenantFiles(layout, slug);
  }
  return absent
    ? { status: "succeeded" as const, changeSummary: emptyChangeSummary(), phases: [], error: null, extras: { stackRemoved: false, alreadyAbsent: true, stackSettings: null } }
    : outcome;
}

function driftSummary(tracker: PhaseTracker, drifted: readonly DriftedResource[]): ChangeSummary {
  const seen = tracker.changeSummary();
  const total = seen.create + seen.update + seen.replace + seen.delete + seen.same;
  const changed = drifted.filter((d) => d.drift === "changed").length;
  const gone = drifted.filter((d) => d.drift === "gone").length;
  return { create: 0, update: changed, replace: 0, delete: gone, same: Math.max(total - changed - gone, 0) };
}

function driftCheck(job: PulumiJob, deps: PulumiJobDeps, request: PulumiJobRequest) {
  return runStackCommand<Pick<DriftCheckResult, "drifted">, unknown>(job, deps, {
    open: (factory) => openExisting(factory, inlineProgram(request.spec, request.settings, request.lastPhase ?? PHASE_COUNT, deps.env), workspaceOptions(job.config, request.spec.slug), request.stackSettings, deps),
    // A preview of a refresh: compare with the real resources, write nothing to state
    // (`refresh({ previewOnly })` is deprecated in this SDK).
    // --run-program: the providers read the real resources with the program's configuration (a rotated database password
    // or kubeconfig), not with the credentials old state recorded, which would fail every check after a rotation.
    run: (stack, onEvent) => stack.previewRefresh({ onEvent, signal: deps.signal, color: "never", runProgram: true, message: updateMessage("drift check", request.spec.slug) }),
    succeeded: (_value, mapper) => ({ drifted: mapper.driftedResources() }),
    summary: (tracker, extras) => driftSummary(tracker, extras.drifted),
    failedExtras: { drifted: [] },
  });
}

/** For commands that only read or unlock the stack. */
function noProgram(slug: string, what: string): InlineProgramArgs {
  return {
    stackName: slug,
    projectName: PROJECT_NAME,
    program: async () => {
      throw new Error(`${what} never runs the program`);
    },
  };
}

/** After the engine killed this stack's CLI: cancel its update (removes the lock) and report what was in flight. */
async function releaseLock(job: PulumiJob, deps: PulumiJobDeps): Promise<LockRelease> {
  const slug = job.slug!;
  try {
    const stack = await deps.factory.selectStack(noProgram(slug, "releasing a lock"), workspaceOptions(job.config, slug));
    await stack.cancel();
    const exported = await stack.exportStack();
    const pending = ((exported.deployment as { pending_operations?: { resource?: { urn?: string; type?: string }; type?: string }[] } | undefined)?.pending_operations ?? []);
    return { removed: [], kept: [], pendingOperations: pending.map((op) => ({ urn: op.resource?.urn ?? "", type: op.resource?.type ?? "", operation: op.type ?? "" })) };
  } catch (error) {
    throw mapPulumiError(error, { slug, signal: deps.signal, clean: cleaner(deps.env) });
  }
}

async function outputs(job: PulumiJob, deps: PulumiJobDeps): Promise<Record<string, unknown>> {
  const slug = job.slug!;
  const args = noProgram(slug, "reading outputs");
  try {
    const stack = await deps.factory.selectStack(args, workspaceOptions(job.config, slug));
    return redactOutputs(await stack.outputs());
  } catch (error) {
    throw mapPulumiError(error, { slug, signal: deps.signal, clean: cleaner(deps.env) });
  }
}

function cleaner(env: NodeJS.ProcessEnv, settings?: PlatformSettings): (text: string) => string {
  const secrets = secretValues(env, settings);
  return (text) => redactSecrets(plainText(text), secrets);
}

export async function runPulumiWorkerJob(job: PulumiJob, deps: PulumiJobDeps): Promise<unknown> {
  const layout = new DataDirLayout(job.config.dataDir);
  if (job.operation === "install-plugins") {
    await mkdir(layout.pluginWorkspace, { recursive: true, mode: 0o700 });
    try {
      const workspace = await deps.factory.createWorkspace(workspaceOptions(job.config, null));
      return await installPlugins(workspace, requiredPlugins(), { signal: deps.signal, pluginDir: job.config.pluginDir ?? null });
    } catch (error) {
      throw mapPulumiError(error, { slug: "", signal: deps.signal, clean: cleaner(deps.env) });
    }
  }
  if (job.operation === "release-lock") {
    await mkdir(layout.workspace(job.slug!), { recursive: true });
    return releaseLock(job, deps);
  }
  if (job.operation === "outputs") {
    const workDir = layout.workspace(job.slug!);
    await mkdir(workDir, { recursive: true, mode: 0o700 });
    try {
      return await outputs(job, deps);
    } catch (error) {
      if (error instanceof StackNotFoundError) await rm(workDir, { recursive: true, force: true });
      throw error;
    }
  }
  const request = job.request;
  if (!request) throw new Error(`the ${job.operation} job has no request`);
  const workDir = layout.workspace(request.spec.slug);
  await mkdir(workDir, { recursive: true, mode: 0o700 });
  const outcome = await (() => {
    switch (job.operation) {
      case "provision":
        return provision(job, deps, request, layout);
      case "preview":
        return preview(job, deps, request, layout);
      case "teardown":
        return teardown(job, deps, request, layout);
      case "drift-check":
        return driftCheck(job, deps, request);
    }
  })();
  // Asking about a tenant that does not exist must not leave a work directory behind for it.
  if (outcome.error?.code === "stack_not_found") await rm(workDir, { recursive: true, force: true });
  return outcome;
}
