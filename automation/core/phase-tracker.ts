/**
 * Turns what happens to individual resources into phase progress: the one
 * place that decides when a phase has started, succeeded, failed or was cut
 * short. Both engines feed it (the Pulumi engine from engine events, the
 * render engine from its planned steps), which is why their event streams
 * have the same shape and order.
 *
 * Rules, from the provisioning flow:
 * - a phase starts when its component or its first child starts;
 * - an applied phase succeeds when its component's outputs arrive (the
 *   component registers its outputs after all its children are done);
 * - a removed phase succeeds when its component is deleted (children are
 *   always deleted before their parent);
 * - a phase fails when one of its resources' operations fails;
 * - phases still running when the operation ends succeed if it succeeded and
 *   are cancelled otherwise.
 */
import { phaseByNumber, phaseByTypeToken, phaseOfUrn, type PhaseDefinition } from "../../model/phases.ts";
import { strongerOp, summarize } from "./change-summary.ts";
import type {
  ChangeSummary,
  OperationStatus,
  PhaseAction,
  PhaseRef,
  PhaseReport,
  ProgressEventBody,
  ResourceCounts,
  ResourceFailure,
  ResourceOp,
} from "./types.ts";

export const STACK_TYPE = "pulumi:pulumi:Stack";

export interface ResourceStep {
  readonly urn: string;
  readonly type: string;
  readonly op: ResourceOp;
}

type PhaseStatus = "pending" | "running" | "succeeded" | "failed" | "cancelled";

interface PhaseState {
  readonly phase: PhaseRef;
  action: PhaseAction;
  status: PhaseStatus;
  readonly known: Set<string>;
  readonly done: Set<string>;
  failure?: ResourceFailure;
  startedAs: number;
}

export function phaseRef(definition: PhaseDefinition): PhaseRef {
  return { number: definition.number, name: definition.name };
}

/** The phase a resource belongs to, or null for providers and the stack. */
export function phaseRefOfUrn(urn: string): PhaseRef | null {
  const definition = phaseOfUrn(urn);
  return definition ? phaseRef(definition) : null;
}

/** True for the ComponentResource of a phase (not a resource inside it). */
export function isPhaseComponent(urn: string, type: string): boolean {
  const byType = phaseByTypeToken(type);
  return byType !== undefined && phaseOfUrn(urn)?.number === byType.number;
}

export class PhaseTracker {
  private readonly emit: (body: ProgressEventBody) => void;
  private readonly phases = new Map<number, PhaseState>();
  private readonly ops = new Map<string, ResourceOp>();
  private started = 0;
  private unphasedFailure: ResourceFailure | null = null;

  constructor(emit: (body: ProgressEventBody) => void) {
    this.emit = emit;
  }

  /** Announces a phase's resources before it starts, so that `pending` counts them from the start. */
  expect(phaseNumber: number, urns: Iterable<string>, action: PhaseAction): void {
    const state = this.state(phaseNumber, action);
    for (const urn of urns) if (!state.done.has(urn)) state.known.add(urn);
  }

  startPhase(phaseNumber: number, action: PhaseAction): void {
    const state = this.state(phaseNumber, action);
    if (state.status !== "pending") return;
    state.status = "running";
    state.action = action;
    state.startedAs = this.started++;
    this.emit({ type: "phase-started", phase: state.phase, action, resources: counts(state) });
  }

  completePhase(phaseNumber: number): void {
    const state = this.phases.get(phaseNumber);
    if (!state || state.status !== "running") return;
    state.status = "succeeded";
    this.emit({ type: "phase-succeeded", phase: state.phase, action: state.action, resources: counts(state) });
  }

  failPhase(phaseNumber: number, failure: ResourceFailure, action: PhaseAction = "apply"): void {
    const state = this.state(phaseNumber, action);
    if (state.status === "pending") this.startPhase(phaseNumber, action);
    if (state.status === "failed") return;
    state.status = "failed";
    state.failure = failure;
    this.emit({ type: "phase-failed", phase: state.phase, action: state.action, resources: counts(state), failure });
  }

  resourceStarted(step: ResourceStep): void {
    if (step.type === STACK_TYPE) return;
    this.ops.set(step.urn, strongerOp(this.ops.get(step.urn), step.op));
    const phase = phaseOfUrn(step.urn);
    if (!phase) return;
    if (isPhaseComponent(step.urn, step.type)) {
      if (step.op === "delete") {
        // Children go before their parent, so a component's deletion closes its phase.
        this.startPhase(phase.number, "remove");
        this.completePhase(phase.number);
      } else {
        this.startPhase(phase.number, "apply");
      }
      return;
    }
    this.startPhase(phase.number, step.op === "delete" ? "remove" : "apply");
    const state = this.phases.get(phase.number)!;
    if (!state.done.has(step.urn)) state.known.add(step.urn);
  }

  resourceDone(step: ResourceStep): void {
    if (step.type === STACK_TYPE) return;
    this.ops.set(step.urn, strongerOp(this.ops.get(step.urn), step.op));
    const phase = phaseOfUrn(step.urn);
    if (!phase) return;
    if (isPhaseComponent(step.urn, step.type)) {
      if (step.op !== "delete") this.completePhase(phase.number);
      return;
    }
    this.startPhase(phase.number, step.op === "delete" ? "remove" : "apply");
    const state = this.phases.get(phase.number)!;
    state.known.add(step.urn);
    state.done.add(step.urn);
    this.emit({ type: "phase-progress", phase: state.phase, action: state.action, resources: counts(state), resource: { urn: step.urn, type: step.type, op: step.op } });
  }

  resourceFailed(step: { urn: string; type: string }, message: string, options: { injected?: boolean; action?: PhaseAction } = {}): void {
    // A failed step changed nothing the summary should count.
    this.ops.delete(step.urn);
    const failure: ResourceFailure = { urn: step.urn, type: step.type, message, ...(options.injected ? { injected: true } : {}) };
    const phase = phaseOfUrn(step.urn);
    if (!phase) {
      this.unphasedFailure ??= failure;
      return;
    }
    const running = this.phases.get(phase.number);
    this.failPhase(phase.number, failure, options.action ?? running?.action ?? "apply");
  }

  /** Closes phases that are still running when the operation ends. */
  finish(status: OperationStatus, reason: string): void {
    for (const state of this.inStartOrder()) {
      if (state.status !== "running") continue;
      if (status === "succeeded") {
        this.completePhase(state.phase.number);
      } else {
        state.status = "cancelled";
        this.emit({ type: "phase-cancelled", phase: state.phase, action: state.action, resources: counts(state), reason });
      }
    }
  }

  /** Whether any phase has failed so far. */
  get failed(): boolean {
    return [...this.phases.values()].some((s) => s.status === "failed");
  }

  /** The first phase that failed and why; falls back to a failure outside any phase. */
  firstFailure(): { phase: PhaseRef | null; failure: ResourceFailure } | null {
    const failed = this.inStartOrder().find((s) => s.status === "failed" && s.failure);
    if (failed) return { phase: failed.phase, failure: failed.failure! };
    return this.unphasedFailure ? { phase: null, failure: this.unphasedFailure } : null;
  }

  changeSummary(): ChangeSummary {
    return summarize(this.ops.values());
  }

  reports(): PhaseReport[] {
    return this.inStartOrder()
      .filter((s) => s.status === "succeeded" || s.status === "failed" || s.status === "cancelled")
      .map((s) => ({
        phase: s.phase,
        action: s.action,
        status: s.status as PhaseReport["status"],
        resources: counts(s),
        ...(s.failure ? { failure: s.failure } : {}),
      }));
  }

  private inStartOrder(): PhaseState[] {
    return [...this.phases.values()].filter((s) => s.status !== "pending").sort((a, b) => a.startedAs - b.startedAs);
  }

  private state(phaseNumber: number, action: PhaseAction): PhaseState {
    let state = this.phases.get(phaseNumber);
    if (!state) {
      state = { phase: phaseRef(phaseByNumber(phaseNumber)), action, status: "pending", known: new Set(), done: new Set(), startedAs: Number.MAX_SAFE_INTEGER };
      this.phases.set(phaseNumber, state);
    }
    return state;
  }
}

function counts(state: PhaseState): ResourceCounts {
  return { done: state.done.size, pending: state.known.size - state.done.size };
}
