/**
 * A tier change as expand → move → verify → switch → contract inside phase 2
 * (issue 22), derived from the reviewed update plan rather than planned apart
 * from it: the plan's own steps are only put in another order, never added to
 * or left out, so what runs is still exactly what was reviewed.
 *
 * - expand: phase 2's non-Kubernetes steps and its creates (a dedicated
 *   server, its database and admin password; the PgBouncer pool of
 *   professional; the role and schema declared for the new target). The
 *   credentials Secret still points at the old target.
 * - move, verify: the tenant's schema copied from the old target to the new
 *   one with automation/data-move (writes stopped on the source first), then
 *   per-table row counts and checksums compared. Only when the change moves
 *   the data to another server (shared ↔ dedicated).
 * - switch: phase 2's Kubernetes updates and replacements: the Secret now
 *   points at the new target, the pool and Jobs roll on its checksum
 *   annotation; phases 3-10 follow in their order and roll their workloads.
 * - contract: phase 2's deletes (the old server, or PgBouncer going down to
 *   free), run after every later phase has rolled, so no workload is ever
 *   left pointing at a removed target; then the tenant is removed from the
 *   old database.
 *
 * A failure before the switch leaves the Secret on the old target and the
 * old data untouched (the move cleans what it wrote on the target, the write
 * freeze is lifted); after the switch the old target stays until contract,
 * which a retry of the same change runs again.
 */
import { postgresIdentifier } from "../../model/spec.ts";
import { tierProfile, type Tier } from "../../model/tiers.ts";
import { phaseByNumber } from "../../model/phases.ts";
import {
  DatabaseMoveError, ensureRole, freezeWrites, measureSchema, moveTenantSchema, removeTenant, thawWrites, type PostgresEndpoint,
} from "../data-move/index.ts";
import { ResourceFailedError } from "../core/errors.ts";
import { phaseRef } from "../core/phase-tracker.ts";
import type {
  DatabasePlacement, DataMoveFigures, ProgressEventBody, SubStepStatus, TierChangePreview, TierChangeStep,
} from "../core/types.ts";
import type { PhasePlan, PlannedStep, UpdatePlan } from "./steps.ts";

export const DATABASE_PHASE = 2;
const CREDENTIALS_SECRET_TYPE = "kubernetes:core/v1:Secret";
const CREDENTIALS_SECRET_NAME = "database-credentials";

/**
 * Admin connections to where each placement keeps a tenant's schema. The
 * render engine has no tenant database of its own; given these, its tier
 * changes move the data for real (tests point them at two PostgreSQL servers).
 */
export interface TenantDatabaseTargets {
  endpoint(slug: string, placement: DatabasePlacement): PostgresEndpoint;
  /** pg_dump and pg_restore's directory; default MATIH_PG_BIN, else Debian's PostgreSQL 15. */
  readonly clientBinDir?: string;
}

export function placementOf(tier: Tier): DatabasePlacement {
  return tierProfile(tier).database.strategy === "database-per-tenant" ? "dedicated" : "shared";
}

export interface TierChangeSplit {
  /** The plan to walk: phase 2's children ordered expand then switch, its deletes taken out into `contract`. */
  readonly plan: UpdatePlan;
  readonly steps: readonly TierChangeStep[];
  readonly move: { readonly from: DatabasePlacement; readonly to: DatabasePlacement } | null;
  /** Where tenant data is still to be removed from: the move's source, or a switched change's unfinished contract. */
  readonly oldData: DatabasePlacement | null;
  readonly expand: readonly PlannedStep[];
  readonly switchSteps: readonly PlannedStep[];
  readonly contract: readonly PlannedStep[];
}

const changes = (s: PlannedStep) => s.op !== "same" && s.op !== "read";
const isCredentialsSecret = (s: PlannedStep) => s.resource.type === CREDENTIALS_SECRET_TYPE && s.resource.urn.endsWith(`::${CREDENTIALS_SECRET_NAME}`);

/**
 * Splits the plan's phase 2 into the steps of a tier change. Deterministic:
 * the same reviewed plan (recorded state and desired state, which the plan
 * file fingerprints) always gives the same split, so checking the plan
 * checks the steps too. A plan whose phase 2 neither moves the data,
 * switches the Secret nor deletes anything is returned as it is, with no steps.
 */
export function splitTierChange(plan: UpdatePlan, move: TierChangeSplit["move"], unfinishedContract: DatabasePlacement | null = null): TierChangeSplit {
  const phase2 = plan.apply.find((p) => p.phase === DATABASE_PHASE);
  const oldData = move?.from ?? unfinishedContract;
  const none: TierChangeSplit = { plan, steps: move ? ["move", "verify"] : [], move, oldData: null, expand: [], switchSteps: [], contract: [] };
  if (!phase2) return none;
  // A Secret being created (a first provision) switches nothing: there is no old target.
  const switching = phase2.children.some((s) => isCredentialsSecret(s) && (s.op === "update" || s.op === "replace"));
  const contract = phase2.children.filter((s) => s.op === "delete");
  // Deletes alone too: a change retried after its switch still removes the old target only after the later phases.
  if (!switching && !move && contract.length === 0 && !oldData) return none;
  const isSwitch = (s: PlannedStep) => s.op !== "delete" && s.resource.type.startsWith("kubernetes:") && (s.op === "update" || s.op === "replace");
  const switchSteps = phase2.children.filter(isSwitch);
  const expand = phase2.children.filter((s) => s.op !== "delete" && !isSwitch(s));
  const reordered: PhasePlan = { ...phase2, children: [...expand, ...switchSteps] };
  const steps: TierChangeStep[] = [];
  if (expand.some(changes) || move) steps.push("expand");
  if (move) steps.push("move", "verify");
  if (switchSteps.length > 0 || move) steps.push("switch");
  if (contract.length > 0 || oldData) steps.push("contract");
  return {
    plan: { ...plan, apply: plan.apply.map((p) => (p === phase2 ? reordered : p)) },
    steps, move, oldData, expand, switchSteps, contract,
  };
}

/** The preview's account of the change's steps and what the move would copy (measured on the source now). */
export async function previewTierChange(split: TierChangeSplit, slug: string, targets: TenantDatabaseTargets | undefined): Promise<TierChangePreview> {
  const base = { steps: [...split.steps], move: split.move };
  if (!split.move) return { ...base, data: null };
  if (!targets) return { ...base, data: null, note: "this engine has no connection to the tenant's database; the move measures it when it runs" };
  try {
    const data = await measureSchema(targets.endpoint(slug, split.move.from), postgresIdentifier(slug));
    return data ? { ...base, data } : { ...base, data: null, note: `schema ${postgresIdentifier(slug)} does not exist on the ${split.move.from} server` };
  } catch (error) {
    return { ...base, data: null, note: `the ${split.move.from} server could not be measured: ${(error as Error).message}` };
  }
}

export interface TierChangeRunOptions {
  readonly slug: string;
  readonly split: TierChangeSplit;
  readonly targets: TenantDatabaseTargets | undefined;
  readonly emit: (body: ProgressEventBody) => void;
  readonly signal: AbortSignal;
  /** Called as the Secret's step is applied: the record now says the tenant is on the new target. */
  readonly markSwitched: () => void;
  /** Called after the switch's steps were applied, to save that. */
  readonly onSwitched: () => Promise<void>;
  /** Called once the old target is gone, to record that no contract is left to do. */
  readonly onContracted: () => Promise<void>;
  /** Records phase 2 as failed with this message (PhaseTracker.failPhase). */
  readonly failPhase: (message: string) => void;
}

/**
 * Runs the data side of a split tier change as the walk reaches each point:
 * `beforeChild`/`endOfChildren` of phase 2, then `contract` after the phases.
 */
export class TierChangeRun {
  private readonly options: TierChangeRunOptions;
  private expandAnnounced = false;
  private switchAnnounced = false;
  private switched = false;
  private frozenOn: PostgresEndpoint | null = null;
  /** What the move verified; the contract step says what it keeps. */
  figures: DataMoveFigures | null = null;

  constructor(options: TierChangeRunOptions) {
    this.options = options;
  }

  private has(step: TierChangeStep): boolean {
    return this.options.split.steps.includes(step);
  }

  private emit(step: TierChangeStep, status: SubStepStatus, message: string, data?: DataMoveFigures): void {
    this.options.emit({ type: "phase-step", phase: phaseRef(phaseByNumber(DATABASE_PHASE)), step, status, message, ...(data ? { data } : {}) });
  }

  /** The step fails, and with it phase 2 (the tracker records it as the phase's failure). */
  private fail(step: TierChangeStep, message: string): never {
    this.emit(step, "failed", message);
    const text = `phase ${DATABASE_PHASE} ${step} failed: ${message}`;
    this.options.failPhase(text);
    throw new ResourceFailedError(text, { phase: phaseRef(phaseByNumber(DATABASE_PHASE)), urn: null });
  }

  /** Before each of phase 2's steps: expand opens with the first, move and verify run before the first switch step. */
  async beforeChild(phase: PhasePlan, step: PlannedStep): Promise<void> {
    if (phase.phase !== DATABASE_PHASE || phase.action !== "apply") return;
    this.announceExpand();
    if (this.options.split.switchSteps.includes(step)) await this.beforeSwitch();
  }

  /**
   * After each applied step: once the credentials Secret points at the new
   * target the change counts as switched, even if a later step of phase 2
   * fails (a retry must then contract, not move again).
   */
  applied(step: PlannedStep): void {
    if (this.switched || !this.has("switch") || !isCredentialsSecret(step) || step.op === "delete") return;
    this.switched = true;
    this.frozenOn = null;
    this.options.markSwitched();
  }

  /** After phase 2's last step: the move if nothing switched yet, and the switch's end. */
  async endOfChildren(phase: PhasePlan): Promise<void> {
    if (phase.phase !== DATABASE_PHASE || phase.action !== "apply") return;
    this.announceExpand();
    await this.beforeSwitch();
    if (this.has("switch")) {
      if (!this.switched) {
        this.switched = true;
        this.frozenOn = null;
        this.options.markSwitched();
      }
      await this.options.onSwitched();
      this.emit("switch", "succeeded", this.options.split.move
        ? `the credentials Secret points at the ${this.options.split.move.to} server; the workloads roll on its checksum annotation`
        : "the credentials Secret points at the new connection settings; the workloads roll on its checksum annotation");
    }
  }

  private announceExpand(): void {
    if (this.expandAnnounced || !this.has("expand")) return;
    this.expandAnnounced = true;
    this.emit("expand", "started", this.options.split.move ? `declaring the ${this.options.split.move.to} target beside the ${this.options.split.move.from} one` : "declaring the new connection path beside the old one");
  }

  private async beforeSwitch(): Promise<void> {
    if (this.switchAnnounced) return;
    this.switchAnnounced = true;
    const { split, slug, targets, signal } = this.options;
    const schema = postgresIdentifier(slug);
    if (this.has("expand")) {
      if (split.move && targets) {
        try {
          await ensureRole(targets.endpoint(slug, split.move.to), schema);
        } catch (error) {
          this.fail("expand", `the tenant role could not be made ready on the ${split.move.to} server: ${(error as Error).message}`);
        }
      }
      this.emit("expand", "succeeded", `${split.expand.filter(changes).length} resource(s) of the new target declared; the Secret still points at the old one`);
    }
    if (split.move) {
      if (!targets) {
        // No database to move: the steps stay visible, and say so.
        this.emit("move", "skipped", "this engine has no connection to the tenant's database; nothing was copied");
        this.emit("verify", "skipped", "nothing was copied");
      } else {
        await this.moveAndVerify(targets, schema, signal);
      }
    }
    if (this.has("switch")) this.emit("switch", "started", "pointing the credentials Secret at the new target");
  }

  private async moveAndVerify(targets: TenantDatabaseTargets, schema: string, signal: AbortSignal): Promise<void> {
    const { split, slug } = this.options;
    const source = targets.endpoint(slug, split.move!.from);
    const target = targets.endpoint(slug, split.move!.to);
    let ended = 0;
    try {
      ended = await freezeWrites(source, schema);
      this.frozenOn = source;
    } catch (error) {
      this.emit("move", "started", `stopping the tenant's writes on the ${split.move!.from} server`);
      this.fail("move", `the tenant's writes could not be stopped on the ${split.move!.from} server: ${(error as Error).message}`);
    }
    this.emit("move", "started", `writes stopped on the ${split.move!.from} server (${ended} session(s) ended); copying schema ${schema} to the ${split.move!.to} server`);
    let verifying = false;
    try {
      const report = await moveTenantSchema({
        source, target, schema, role: schema, signal,
        ...(targets.clientBinDir ? { clientBinDir: targets.clientBinDir } : {}),
        onStep: (step) => {
          if (step === "verify" && !verifying) {
            verifying = true;
            this.emit("move", "succeeded", "schema, data, sequences, grants and large objects copied");
            this.emit("verify", "started", "comparing per-table row counts and checksums on both servers");
          }
        },
      });
      this.figures = { tables: report.tables.length, rows: report.rows, bytes: report.tables.reduce((n, t) => n + t.bytes, 0) };
      this.emit("verify", "succeeded", `${report.tables.length} table(s), ${report.rows} row(s): counts and checksums equal on both servers`, this.figures);
    } catch (error) {
      const message = error instanceof DatabaseMoveError ? error.message : `database move failed: ${(error as Error).message}`;
      await this.thaw();
      const step = error instanceof DatabaseMoveError && (error.step === "verify" || error.step === "finish") ? "verify" : "move";
      this.fail(step, `${message}; the ${split.move!.from} server keeps serving`);
    }
  }

  /** Lets the tenant write on the old target again; called when the change stops before its switch. */
  async thaw(): Promise<void> {
    if (!this.frozenOn || this.switched) return;
    const on = this.frozenOn;
    this.frozenOn = null;
    await thawWrites(on, postgresIdentifier(this.options.slug)).catch(() => undefined);
  }

  /** After every phase rolled: phase 2's deletes are applied by the caller, then the tenant leaves the old database. */
  async contract(applyDeletes: () => Promise<void>): Promise<void> {
    if (!this.has("contract")) return;
    const { split, slug, targets } = this.options;
    const from = split.oldData;
    this.emit("contract", "started", from ? `removing the tenant from the ${from} server now that the workloads use the new target` : "removing what the old connection path needed");
    try {
      await applyDeletes();
      if (from && targets) await removeTenant(targets.endpoint(slug, from), postgresIdentifier(slug), postgresIdentifier(slug));
      await this.options.onContracted();
    } catch (error) {
      this.fail("contract", `${(error as Error).message}; the tenant already uses the new target, a retry removes the old one`);
    }
    this.emit("contract", "succeeded", `${split.contract.length} resource(s) of the old target removed${from && targets ? `; schema ${postgresIdentifier(slug)} dropped on the ${from} server` : ""}`);
  }
}
