/**
 * Plays a planned update through the phase tracker, step by step, as the
 * Pulumi engine would report it: providers, then each phase (component, its
 * resources, the component's outputs), then removed phases from the highest
 * down. Optionally waits between steps (pace), applies each step to a
 * recorded state, persists after each phase, and injects rehearsal faults.
 */
import { phaseByNumber } from "../../model/phases.ts";
import { sleep } from "../core/abort.ts";
import { ResourceFailedError } from "../core/errors.ts";
import { phaseRef, type PhaseTracker } from "../core/phase-tracker.ts";
import type { PhaseFault } from "../core/fault-plan.ts";
import type { PhasePlan, PlannedStep, UpdatePlan } from "./steps.ts";

export interface WalkHooks {
  readonly signal: AbortSignal;
  /** Milliseconds to spend on a phase (spread over its resources); default none. */
  readonly phaseDelayMs?: (phase: number) => number;
  /** Decides whether this phase fails on this attempt; called once per applied phase. */
  readonly faultFor?: (phase: PhasePlan) => { fault: PhaseFault; attempt: number } | null;
  readonly applyStep?: (step: PlannedStep) => void;
  readonly afterPhase?: (phase: PhasePlan) => Promise<void>;
  /** Before each of a phase's resources (a tier change's move runs before phase 2's switch). */
  readonly beforeChild?: (phase: PhasePlan, step: PlannedStep) => Promise<void>;
  /** After a phase's last resource, before the phase completes. */
  readonly endOfChildren?: (phase: PhasePlan) => Promise<void>;
  /** After every phase, before the resources outside phases are deleted (a tier change's contract). */
  readonly afterPhases?: () => Promise<void>;
}

/** Mean of the seed's typical duration range, in milliseconds, scaled by `pace`. */
export function pacedPhaseMs(pace: number, phase: number): number {
  if (!(pace > 0)) return 0;
  const [low, high] = phaseByNumber(phase).typicalSeconds;
  return pace * ((low + high) / 2) * 1000;
}

function asStep(step: PlannedStep) {
  return { urn: step.resource.urn, type: step.resource.type, op: step.op };
}

function failingStep(plan: PhasePlan, fault: PhaseFault): PlannedStep | null {
  const candidates = plan.children.filter((s) => s.op !== "delete");
  if (fault.resource) {
    const wanted = fault.resource;
    return candidates.find((s) => s.resource.name === wanted) ?? candidates.find((s) => s.resource.urn.includes(wanted)) ?? null;
  }
  return candidates.at(-1) ?? null;
}

async function walkPhase(plan: PhasePlan, tracker: PhaseTracker, hooks: WalkHooks): Promise<void> {
  const { phase, action, component, children } = plan;
  tracker.expect(phase, children.map((s) => s.resource.urn), action);
  if (action === "apply" && component) {
    tracker.resourceStarted(asStep(component));
    hooks.applyStep?.(component);
  } else {
    tracker.startPhase(phase, action);
  }

  const injected = action === "apply" ? hooks.faultFor?.(plan) ?? null : null;
  const failing = injected ? failingStep(plan, injected.fault) : null;
  const perStepMs = (hooks.phaseDelayMs?.(phase) ?? 0) / Math.max(children.length, 1);
  const message = injected
    ? injected.fault.message ?? `phase ${phase} ${phaseByNumber(phase).name} failed: rehearsal fault, attempt ${injected.attempt} of ${injected.fault.failTimes}`
    : "";

  for (const step of children) {
    await sleep(perStepMs, hooks.signal);
    hooks.signal.throwIfAborted();
    await hooks.beforeChild?.(plan, step);
    tracker.resourceStarted(asStep(step));
    if (step === failing) {
      tracker.resourceFailed(step.resource, message, { injected: true });
      throw new ResourceFailedError(message, { phase: phaseRef(phaseByNumber(phase)), urn: step.resource.urn });
    }
    hooks.applyStep?.(step);
    tracker.resourceDone(asStep(step));
  }
  if (children.length === 0) await sleep(perStepMs, hooks.signal);
  hooks.signal.throwIfAborted();
  if (!injected) await hooks.endOfChildren?.(plan);

  if (injected) {
    // The phase has nothing declared yet to fail on; it fails as a whole.
    const urn = component?.resource.urn ?? null;
    tracker.failPhase(phase, { urn, type: component?.resource.type ?? null, message, injected: true }, action);
    throw new ResourceFailedError(message, { phase: phaseRef(phaseByNumber(phase)), urn });
  }

  if (component && action === "remove") {
    tracker.resourceStarted(asStep(component));
    hooks.applyStep?.(component);
  } else if (component) {
    tracker.resourceDone(asStep(component));
  } else {
    tracker.completePhase(phase);
  }
  await hooks.afterPhase?.(plan);
}

export async function walkPlan(plan: UpdatePlan, tracker: PhaseTracker, hooks: WalkHooks): Promise<void> {
  for (const step of plan.unphased) {
    hooks.signal.throwIfAborted();
    tracker.resourceStarted(asStep(step));
    hooks.applyStep?.(step);
    tracker.resourceDone(asStep(step));
  }
  for (const phase of [...plan.apply, ...plan.remove]) await walkPhase(phase, tracker, hooks);
  await hooks.afterPhases?.();
  for (const step of plan.unphasedDeletes) {
    hooks.signal.throwIfAborted();
    tracker.resourceStarted(asStep(step));
    hooks.applyStep?.(step);
    tracker.resourceDone(asStep(step));
  }
}
