/**
 * The provisioning status a client sees: the tenant, its latest run that
 * changes infrastructure, and that run's phases in registry order.
 */
import { PHASE_COUNT, PHASES } from "../../model/phases.ts";
import type { PhaseRow, RunRow } from "../db/runs.ts";
import type { TenantRow } from "../db/tenants.ts";

export interface PhaseView {
  number: number;
  name: string;
  status: PhaseRow["status"];
  attempts: number;
  startedAt: string | null;
  completedAt: string | null;
  durationMs: number | null;
  error: string | null;
  resources: { done: number; pending: number };
  /** Sub-steps inside the phase (a tier change's expand, move, verify, switch, contract in phase 2), as last reported. */
  steps: PhaseRow["steps"];
}

export interface StatusView {
  tenantId: string;
  slug: string;
  status: TenantRow["status"];
  run: {
    id: string; kind: RunRow["kind"]; status: RunRow["status"]; attempt: number; maxAttempts: number; targetPhase: number;
    startedAt: string | null; completedAt: string | null; durationMs: number | null;
  } | null;
  currentPhase: { number: number; name: string } | null;
  /** Percent (0-100) of the run's phases that are finished; for a rollback, of the ten phases those in place. */
  progress: number;
  phases: PhaseView[];
  startedAt: string | null;
  completedAt: string | null;
  durationMs: number | null;
  error: string | null;
  /** Why a RUNNING run makes no progress: its worker stopped, and another takes it over once that one times out. */
  waiting: StatusWaiting | null;
}

export interface StatusWaiting {
  reason: "previous-worker";
  message: string;
  /** At most this many seconds from the answer until another attempt takes the run over (or it fails, at its last attempt). */
  upToSeconds: number;
  lastHeartbeatAt: string | null;
}

/** The view of a RUNNING run whose worker stopped (db/job-queue.ts previousWorkerWait), with what it waits for. */
export function withPreviousWorkerWait(view: StatusView, wait: { lastHeartbeatAt: Date | null; upToSeconds: number }): StatusView {
  const since = wait.lastHeartbeatAt ? ` (no heartbeat since ${iso(wait.lastHeartbeatAt)})` : "";
  return {
    ...view,
    waiting: {
      reason: "previous-worker",
      message: `the worker running this ${view.run?.kind ?? "run"} stopped${since}: waiting for the previous worker to time out, up to ${wait.upToSeconds} s, before another takes the run over`,
      upToSeconds: wait.upToSeconds,
      lastHeartbeatAt: iso(wait.lastHeartbeatAt),
    },
  };
}

/** Rows give Dates; formatted without a copy (the status read formats some 25 per answer). */
const iso = (d: Date | null): string | null => (!d ? null : d instanceof Date ? d.toISOString() : new Date(d).toISOString());

export function phaseView(row: PhaseRow): PhaseView {
  return {
    number: row.number,
    name: row.name,
    status: row.status,
    attempts: row.attempts,
    startedAt: iso(row.startedAt),
    completedAt: iso(row.completedAt),
    durationMs: row.startedAt && row.completedAt ? new Date(row.completedAt).getTime() - new Date(row.startedAt).getTime() : null,
    error: row.error,
    resources: { done: row.resourcesDone, pending: row.resourcesPending },
    steps: row.steps ?? [],
  };
}

export function buildStatusView(tenant: TenantRow, run: RunRow | undefined, phaseRows: PhaseRow[]): StatusView {
  const byNumber = new Map(phaseRows.map((p) => [p.number, p]));
  const phases = PHASES.map((p) => {
    const row = byNumber.get(p.number);
    return row ? phaseView(row) : { number: p.number, name: p.name, status: "PENDING" as const, attempts: 0, startedAt: null, completedAt: null, durationMs: null, error: null, resources: { done: 0, pending: 0 }, steps: [] };
  });
  const running = phases.find((p) => p.status === "RUNNING");
  const failed = phases.find((p) => p.status === "FAILED");
  const lastDone = [...phases].reverse().find((p) => p.status === "SUCCEEDED");
  const current = running ?? failed ?? lastDone ?? null;
  // A teardown's scope is every phase; a provision's is up to its target phase. A rollback's is every
  // phase too: it leaves the phases up to its target in place, and a tenant rolled back to phase 5
  // has half its phases, not all of them (progress 50, not the 100 of "phases up to the target").
  const scope = run?.kind === "teardown" || run?.kind === "rollback" ? PHASE_COUNT : Math.max(run?.targetPhase ?? PHASE_COUNT, 1);
  const finished = run?.kind === "teardown"
    ? phases.filter((p) => p.status === "ROLLED_BACK").length
    : phases.filter((p) => p.number <= scope && p.status === "SUCCEEDED").length;
  const startedAt = iso(tenant.provisioningStartedAt);
  const completedAt = iso(tenant.provisioningCompletedAt);
  return {
    tenantId: tenant.id,
    slug: tenant.slug,
    status: tenant.status,
    // The run's own times: a teardown's duration is the teardown's, not the provisioning's.
    run: run ? {
      id: run.id, kind: run.kind, status: run.status, attempt: run.attempt, maxAttempts: run.maxAttempts, targetPhase: run.targetPhase,
      startedAt: iso(run.startedAt), completedAt: iso(run.completedAt), durationMs: run.durationMs === null ? null : Math.round(run.durationMs),
    } : null,
    currentPhase: current ? { number: current.number, name: current.name } : null,
    progress: Math.round((100 * finished) / scope),
    phases,
    startedAt,
    completedAt,
    durationMs: startedAt && completedAt ? Date.parse(completedAt) - Date.parse(startedAt) : null,
    error: tenant.provisioningError,
    waiting: null,
  };
}
