/**
 * The sub-steps of a phase (a tier change's expand, move, verify, switch and
 * contract in phase 2) in run_phases.steps: one entry per step, replaced in
 * place as it moves on, in the order the steps first appeared.
 */
import type { Queryable } from "../db/pool.ts";
import { PHASE_COLUMNS, type PhaseRow, type PhaseStepRow } from "../db/runs.ts";

/** The phase's steps with `entry` put in its step's place (or added after the others). */
export function withStep(steps: readonly PhaseStepRow[], entry: PhaseStepRow): PhaseStepRow[] {
  const at = steps.findIndex((s) => s.step === entry.step);
  return at < 0 ? [...steps, entry] : steps.map((s, i) => (i === at ? entry : s));
}

export async function recordPhaseStep(db: Queryable, runId: string, number: number, steps: readonly PhaseStepRow[]): Promise<PhaseRow> {
  const { rows } = await db.query(`UPDATE run_phases SET steps = $3::jsonb WHERE run_id = $1 AND number = $2 RETURNING ${PHASE_COLUMNS}`, [runId, number, JSON.stringify(steps)]);
  return rows[0];
}
