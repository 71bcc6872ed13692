/**
 * Rehearsal faults for the render engine: "phase 6 fails twice, then
 * succeeds". Attempts are counted in the tenant's record in the state store,
 * so the count carries over from one provision call (one job attempt) to the
 * next, as a real retry would see it.
 */
import { PHASE_COUNT } from "../../model/phases.ts";

export interface PhaseFault {
  /** How many provision attempts fail in this phase before it succeeds. */
  readonly failTimes: number;
  /** The failure message; default names the phase and the attempt. */
  readonly message?: string;
  /** Name (or part of the URN) of the resource that fails; default the phase's last resource. */
  readonly resource?: string;
}

/** Keyed by phase number. */
export type FaultPlan = Readonly<Record<number, PhaseFault>>;

/** Checks a fault plan from code or from MATIH_RENDER_FAULTS (JSON); throws listing what is wrong. */
export function validateFaultPlan(input: unknown): FaultPlan {
  if (input === undefined || input === null) return {};
  if (typeof input !== "object" || Array.isArray(input)) throw new RangeError("a fault plan must be an object keyed by phase number");
  const problems: string[] = [];
  const plan: Record<number, PhaseFault> = {};
  for (const [key, value] of Object.entries(input as Record<string, unknown>)) {
    const phase = Number(key);
    if (!Number.isInteger(phase) || phase < 1 || phase > PHASE_COUNT) {
      problems.push(`"${key}" is not a phase number from 1 to ${PHASE_COUNT}`);
      continue;
    }
    const fault = value as Record<string, unknown> | null;
    if (typeof fault !== "object" || fault === null) {
      problems.push(`phase ${phase}: must be an object such as { "failTimes": 2 }`);
      continue;
    }
    if (!Number.isInteger(fault.failTimes) || (fault.failTimes as number) < 1) problems.push(`phase ${phase}: failTimes must be a whole number of at least 1`);
    if (fault.message !== undefined && typeof fault.message !== "string") problems.push(`phase ${phase}: message must be a string`);
    if (fault.resource !== undefined && typeof fault.resource !== "string") problems.push(`phase ${phase}: resource must be a string`);
    plan[phase] = {
      failTimes: fault.failTimes as number,
      ...(typeof fault.message === "string" ? { message: fault.message } : {}),
      ...(typeof fault.resource === "string" ? { resource: fault.resource } : {}),
    };
  }
  if (problems.length > 0) throw new RangeError(`invalid fault plan: ${problems.join("; ")}`);
  return plan;
}

/** Whether this attempt of the phase fails, given how many attempts already failed there. */
export function faultApplies(plan: FaultPlan, phase: number, failuresSoFar: number): PhaseFault | null {
  const fault = plan[phase];
  return fault && failuresSoFar < fault.failTimes ? fault : null;
}
