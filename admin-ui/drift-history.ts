/**
 * One tenant's drift history: the checks kept (by fleet drift runs and
 * one-off checks), newest first, a page at a time, read again when the fleet
 * stream says a new one was kept; and, for admins, a fleet drift run started
 * from here and followed until it ends, when the history is read again.
 */
import { ApiProblem, type Api } from "./api.ts";
import { refusalInWords } from "./review.ts";
import type { DriftHistory, DriftRun } from "./types.ts";

const PAGE = 10;
const FOLLOW_MS = 1000;

export class TenantDriftHistory {
  readonly tenantId: string;
  history: DriftHistory | null = null;
  error: string | null = null;
  /** The fleet run started from here, while it runs and once it has ended. */
  run: DriftRun | null = null;
  busy = false;
  notice: { text: string; detail?: string; tone: "good" | "bad" } | null = null;

  private readonly api: Api;
  private readonly render: () => void;
  private limit = PAGE;
  private followTimer: number | undefined;
  private disposed = false;
  /** Reads may overlap (live messages come in bursts): only the latest one's answer is shown. */
  private reads = 0;

  constructor(api: Api, tenantId: string, render: () => void) {
    this.api = api;
    this.tenantId = tenantId;
    this.render = render;
  }

  async load(): Promise<void> {
    const read = ++this.reads;
    try {
      const history = await this.api.driftHistory(this.tenantId, this.limit);
      if (this.disposed || read !== this.reads) return;
      this.history = history;
      this.error = null;
    } catch (error) {
      if (this.disposed || read !== this.reads) return;
      this.error = (error as Error).message;
    }
    this.render();
  }

  showOlder(): Promise<void> {
    this.limit += PAGE;
    return this.load();
  }

  /** Starts a fleet drift run (or joins the one already going) and follows it. */
  async checkFleet(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    this.notice = null;
    this.render();
    try {
      const { id } = await this.api.startDriftRun();
      this.run = await this.api.driftRun(id);
      this.follow();
    } catch (error) {
      this.busy = false;
      this.notice = { ...refusalInWords(error), tone: "bad" };
    }
    this.render();
  }

  private follow(): void {
    window.clearTimeout(this.followTimer);
    const run = this.run;
    if (this.disposed || !run) return;
    if (run.status === "SUCCEEDED" || run.status === "FAILED") {
      this.busy = false;
      this.notice = run.status === "SUCCEEDED"
        ? { text: `Fleet drift check finished: ${run.checked} of ${run.total} tenants checked, ${run.drifted} drifted${run.failed ? `, ${run.failed} could not be checked` : ""}.`, tone: "good" }
        : { text: `The fleet drift check failed${run.error ? `: ${run.error}` : ""}.`, tone: "bad" };
      void this.load();
      return;
    }
    this.followTimer = window.setTimeout(async () => {
      try {
        this.run = await this.api.driftRun(run.id);
      } catch (error) {
        // Gone (pruned): stop following. Anything else is asked again on the next tick.
        if (error instanceof ApiProblem && error.status === 404) {
          this.busy = false;
          this.run = null;
          void this.load();
          return;
        }
      }
      this.follow();
      this.render();
    }, FOLLOW_MS);
  }

  dispose(): void {
    this.disposed = true;
    window.clearTimeout(this.followTimer);
  }
}
