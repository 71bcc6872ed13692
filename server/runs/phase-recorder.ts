/**
 * Turns an engine's progress events into phase rows, audit rows and live
 * messages. Events arrive synchronously from the engine; they are written in
 * order, one at a time, each phase transition in one transaction with its
 * audit row.
 */
import type pg from "pg";
import type { ProgressEvent } from "../../automation/index.ts";
import { appendAudit } from "../db/audit.ts";
import { withTransaction } from "../db/pool.ts";
import { phasesOf, updatePhase, type PhaseRow, type PhaseStatus } from "../db/runs.ts";
import type { ProgressBus } from "../live/progress-bus.ts";
import { phaseView } from "../domain/status-view.ts";
import { recordPhaseStep, withStep } from "./phase-steps.ts";

export interface PhaseRecorderContext {
  pool: pg.Pool;
  bus: ProgressBus;
  tenantId: string;
  runId: string;
  actor: string;
  attempt: number;
  /**
   * The run's kind. A change's preview (and a drift check) walks the phases as an update would, and its
   * events say `apply`; its audit rows say what the run was, so that a preview never reads as a change made.
   */
  runKind?: string;
  onPhaseFinished?: (phase: PhaseRow, durationMs: number | null) => void;
  onError?: (error: Error) => void;
}

export class PhaseRecorder {
  private readonly ctx: PhaseRecorderContext;
  private chain: Promise<void> = Promise.resolve();
  private phases = new Map<number, PhaseRow>();
  /** Phases this run had already finished; a resumed or retried update passes over them unchanged. */
  private readonly untouched = new Set<number>();

  private constructor(ctx: PhaseRecorderContext) {
    this.ctx = ctx;
  }

  static async start(ctx: PhaseRecorderContext): Promise<PhaseRecorder> {
    const recorder = new PhaseRecorder(ctx);
    for (const row of await phasesOf(ctx.pool, ctx.runId)) recorder.phases.set(row.number, row);
    return recorder;
  }

  /** For the engine's onEvent: queues the event; never throws. */
  readonly onEvent = (event: ProgressEvent): void => {
    this.chain = this.chain.then(() => this.handle(event)).catch((error: Error) => this.ctx.onError?.(error));
  };

  /** Waits until every event received so far is written. */
  flush(): Promise<void> {
    return this.chain;
  }

  private async transition(number: number, to: PhaseStatus, change: Omit<Parameters<typeof updatePhase>[3], "status">, message: string, details: Record<string, unknown> = {}): Promise<void> {
    const before = this.phases.get(number);
    const row = await withTransaction(this.ctx.pool, async (db) => {
      const updated = await updatePhase(db, this.ctx.runId, number, { ...change, status: to });
      await appendAudit(db, {
        tenantId: this.ctx.tenantId,
        runId: this.ctx.runId,
        entity: "phase",
        phase: number,
        actor: this.ctx.actor,
        from: before?.status ?? null,
        to,
        message,
        details: { attempt: this.ctx.attempt, ...details },
      });
      return updated;
    });
    this.phases.set(number, row);
    await this.ctx.bus.publish({ type: "phase", tenantId: this.ctx.tenantId, runId: this.ctx.runId, phase: phaseView(row) });
    if (to === "SUCCEEDED" || to === "ROLLED_BACK" || to === "FAILED") {
      const ms = row.startedAt && row.completedAt ? new Date(row.completedAt).getTime() - new Date(row.startedAt).getTime() : null;
      this.ctx.onPhaseFinished?.(row, ms);
    }
  }

  private async handle(event: ProgressEvent): Promise<void> {
    if (!("phase" in event) || event.phase === null || event.type === "diagnostic") {
      if (event.type === "diagnostic" && event.severity === "error") {
        await this.ctx.bus.publish({ type: "diagnostic", tenantId: this.ctx.tenantId, runId: this.ctx.runId, message: event.message, phase: event.phase });
      }
      return;
    }
    const { number, name } = event.phase;
    const current = this.phases.get(number)?.status ?? "PENDING";
    const inspection = this.ctx.runKind === "preview" ? "preview" : this.ctx.runKind === "drift" ? "drift check" : null;
    const label = inspection ? `${inspection} of phase ${number} ${name}` : `phase ${number} ${name}`;
    // What the audit row's details call the action: the engine's (apply, remove), or what an inspection run did.
    const action = this.ctx.runKind === "preview" || this.ctx.runKind === "drift" ? this.ctx.runKind : "action" in event ? event.action : undefined;
    switch (event.type) {
      case "phase-started": {
        const alreadyDone = event.action === "apply" ? current === "SUCCEEDED" : current === "ROLLED_BACK";
        if (alreadyDone) {
          this.untouched.add(number);
          return;
        }
        this.untouched.delete(number);
        await this.transition(number, "RUNNING", { started: true, countAttempt: true, error: null, resourcesDone: event.resources.done, resourcesPending: event.resources.pending },
          `${label} ${event.action === "remove" ? "removal" : ""} started`.replace("  ", " "), { action });
        return;
      }
      case "phase-progress": {
        if (this.untouched.has(number)) return;
        const row = await updatePhase(this.ctx.pool, this.ctx.runId, number, { status: current, resourcesDone: event.resources.done, resourcesPending: event.resources.pending });
        this.phases.set(number, row);
        await this.ctx.bus.publish({
          type: "progress", tenantId: this.ctx.tenantId, runId: this.ctx.runId,
          phase: { number, name }, resources: event.resources, resource: event.resource,
        });
        return;
      }
      case "phase-succeeded": {
        if (this.untouched.delete(number)) return;
        const to = event.action === "remove" ? "ROLLED_BACK" : "SUCCEEDED";
        await this.transition(number, to, { completed: true, resourcesDone: event.resources.done, resourcesPending: event.resources.pending },
          event.action === "remove" ? `${label} removed` : `${label} succeeded`, { action });
        return;
      }
      case "phase-failed": {
        this.untouched.delete(number);
        const where = event.failure.urn ? ` (${event.failure.urn})` : "";
        await this.transition(number, "FAILED", { completed: true, error: `${event.failure.message}${where}`, resourcesDone: event.resources.done, resourcesPending: event.resources.pending },
          `${label} failed: ${event.failure.message}`, { action, urn: event.failure.urn, resourceType: event.failure.type });
        return;
      }
      case "phase-step": {
        // A sub-step (a tier change's expand, move, verify, switch, contract): kept on the phase row with its audit
        // row in one transaction, and sent live; the phase's own status is left to the phase events.
        const before = this.phases.get(number)?.steps.find((s) => s.step === event.step);
        const entry = { step: event.step, status: event.status, message: event.message, at: event.at, ...(event.data ? { data: { ...event.data } } : {}) };
        const row = await withTransaction(this.ctx.pool, async (db) => {
          const current = this.phases.get(number)?.steps ?? [];
          const updated = await recordPhaseStep(db, this.ctx.runId, number, withStep(current, entry));
          await appendAudit(db, {
            tenantId: this.ctx.tenantId,
            runId: this.ctx.runId,
            entity: "phase",
            phase: number,
            actor: this.ctx.actor,
            from: before ? `${before.step}:${before.status}` : null,
            to: `${event.step}:${event.status}`,
            message: `${label} ${event.step} ${event.status}: ${event.message}`,
            details: { attempt: this.ctx.attempt, step: event.step, status: event.status, ...(event.data ? { data: event.data } : {}) },
          });
          return updated;
        });
        this.phases.set(number, row);
        await this.ctx.bus.publish({ type: "phase-step", tenantId: this.ctx.tenantId, runId: this.ctx.runId, phase: { number, name }, step: entry });
        return;
      }
      case "phase-cancelled": {
        if (this.untouched.delete(number)) return;
        await this.transition(number, "FAILED", { completed: true, error: `stopped: ${event.reason}` }, `${label} stopped: ${event.reason}`, { action });
        return;
      }
    }
  }
}
