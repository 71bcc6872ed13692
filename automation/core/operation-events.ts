/**
 * The event stream of one operation as the service sees it: stamps each event
 * with its sequence number, time, operation and tenant, and delivers it to the
 * caller's listener. It also keeps a ledger of the phases the events opened
 * and closed, so that when a worker process is killed mid-phase the stream can
 * still be closed properly and a result can be written from what was seen.
 */
import { strongerOp, summarize } from "./change-summary.ts";
import type {
  ChangeSummary,
  EngineLogger,
  OperationKind,
  PhaseReport,
  ProgressEvent,
  ProgressEventBody,
  ProgressListener,
  ResourceOp,
} from "./types.ts";

type PhaseEventBody = Extract<ProgressEventBody, { phase: unknown; action: unknown }>;

export class OperationEvents {
  readonly operation: OperationKind;
  readonly slug: string;
  private readonly listener: ProgressListener | undefined;
  private readonly logger: EngineLogger | undefined;
  private nextSeq = 0;
  private readonly open = new Map<number, PhaseEventBody>();
  private readonly closed = new Map<number, PhaseReport>();
  private readonly order: number[] = [];
  private readonly ops = new Map<string, ResourceOp>();

  constructor(options: { operation: OperationKind; slug: string; listener?: ProgressListener; logger?: EngineLogger }) {
    this.operation = options.operation;
    this.slug = options.slug;
    this.listener = options.listener;
    this.logger = options.logger;
  }

  /** Stamps and delivers one event. A listener that throws is logged, never allowed to break the operation. */
  readonly emit = (body: ProgressEventBody): ProgressEvent => {
    const event = { ...body, seq: this.nextSeq++, at: new Date().toISOString(), operation: this.operation, slug: this.slug } as ProgressEvent;
    this.observe(body);
    if (this.listener) {
      try {
        this.listener(event);
      } catch (error) {
        this.logger?.warn(`progress listener for ${this.operation} of "${this.slug}" threw: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    return event;
  };

  /** Phases whose start was seen but not their end: cancelled with this reason. */
  closeOpenPhases(reason: string): void {
    for (const open of [...this.open.values()]) {
      this.emit({ type: "phase-cancelled", phase: open.phase, action: open.action, resources: open.resources, reason });
    }
  }

  /** Phase outcomes as the events told them, in the order the phases started. */
  phaseReports(): PhaseReport[] {
    return this.order.map((n) => this.closed.get(n)).filter((r): r is PhaseReport => r !== undefined);
  }

  /** Change summary from the resources the events reported finished (providers are not in events). */
  changeSummary(): ChangeSummary {
    return summarize(this.ops.values());
  }

  private observe(body: ProgressEventBody): void {
    switch (body.type) {
      case "phase-started":
        if (!this.order.includes(body.phase.number)) this.order.push(body.phase.number);
        this.closed.delete(body.phase.number);
        this.open.set(body.phase.number, body);
        return;
      case "phase-progress":
        this.ops.set(body.resource.urn, strongerOp(this.ops.get(body.resource.urn), body.resource.op));
        if (this.open.has(body.phase.number)) this.open.set(body.phase.number, body);
        return;
      case "phase-succeeded":
      case "phase-cancelled":
      case "phase-failed": {
        this.open.delete(body.phase.number);
        const status = body.type === "phase-succeeded" ? "succeeded" : body.type === "phase-failed" ? "failed" : "cancelled";
        this.closed.set(body.phase.number, {
          phase: body.phase,
          action: body.action,
          status,
          resources: body.resources,
          ...(body.type === "phase-failed" ? { failure: body.failure } : {}),
        });
        return;
      }
      default:
        return;
    }
  }
}
