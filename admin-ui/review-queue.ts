/**
 * The fleet's review queue: how many changes await review (the header's
 * count, on every view) and, while the Reviews page is open, one page of
 * them with its filters.
 *
 * Kept current three ways, because no single one sees everything: the fleet
 * stream's run messages (a preview run ending makes a change reviewable, an
 * approval starts an update run) re-read it at once; this tab's own
 * requests, approvals and rejections re-read it when they are answered; and
 * a poll every few seconds catches what no stream message announces: another
 * tab's rejection, a four-eyes teardown or rollback request, an expiry.
 */
import type { Api } from "./api.ts";
import type { ReviewQueuePage } from "./types.ts";

export const REVIEW_PAGE_SIZE = 25;
/** Often enough that a decision made elsewhere shows within seconds; each poll is one small query (two with filters). */
const POLL_MS = 5000;
/** Stream messages come in bursts (a run's start and end, several tenants at once): one read for a burst. */
const DEBOUNCE_MS = 300;

export interface ReviewFilters {
  /** The tenant's current tier, "" for any. */
  tier: string;
  /** A principal, matched exactly by the service; "" for anyone. */
  requestedBy: string;
  /** A tenant's slug (or id), "" for every tenant. */
  tenant: string;
}

export class ReviewQueue {
  /** Changes awaiting review across the fleet, whatever the filters; null until first read. */
  pending: number | null = null;
  filters: ReviewFilters = { tier: "", requestedBy: "", tenant: "" };
  page = 0;
  data: ReviewQueuePage | null = null;
  loading = false;
  error: string | null = null;

  private showing = false;
  private readonly api: Api;
  private readonly render: () => void;
  private pollTimer: number | undefined;
  private soonTimer: number | undefined;
  private reading: Promise<void> | null = null;
  private readAgain = false;
  private disposed = false;
  private readonly onVisible = () => {
    if (!document.hidden) void this.refresh();
  };

  constructor(api: Api, render: () => void) {
    this.api = api;
    this.render = render;
    document.addEventListener("visibilitychange", this.onVisible);
    void this.refresh();
  }

  /** The Reviews page opened or closed: while it is open, its page is read with the count. */
  show(showing: boolean): void {
    this.showing = showing;
    if (showing) void this.refresh();
  }

  get filtered(): boolean {
    return this.filters.tier !== "" || this.filters.requestedBy.trim() !== "" || this.filters.tenant.trim() !== "";
  }

  /** Reads the count (and the open page); a read asked for while one is going happens once more after it, never twice at once. */
  refresh(): Promise<void> {
    if (this.reading) {
      this.readAgain = true;
      return this.reading;
    }
    this.reading = (async () => {
      do {
        this.readAgain = false;
        await this.read();
      } while (this.readAgain && !this.disposed);
    })().finally(() => {
      this.reading = null;
      this.schedulePoll();
      this.render();
    });
    return this.reading;
  }

  /** After a stream message: soon, once for a burst. */
  soon(): void {
    window.clearTimeout(this.soonTimer);
    this.soonTimer = window.setTimeout(() => void this.refresh(), DEBOUNCE_MS);
  }

  setFilter(change: Partial<ReviewFilters>): void {
    this.filters = { ...this.filters, ...change };
    this.page = 0;
    void this.refresh();
  }

  setPage(page: number): void {
    this.page = Math.max(0, page);
    void this.refresh();
  }

  dispose(): void {
    this.disposed = true;
    window.clearTimeout(this.pollTimer);
    window.clearTimeout(this.soonTimer);
    document.removeEventListener("visibilitychange", this.onVisible);
  }

  private async read(): Promise<void> {
    const showing = this.showing;
    if (showing) {
      this.loading = true;
      this.render();
    }
    try {
      const { tier, requestedBy, tenant } = this.filters;
      const page = this.page;
      const [list, all] = await Promise.all([
        showing ? this.api.reviewQueue({ tier, requestedBy: requestedBy.trim(), tenant: tenant.trim(), limit: REVIEW_PAGE_SIZE, offset: page * REVIEW_PAGE_SIZE }) : null,
        // Without filters the page's total is the count: one query.
        showing && !this.filtered ? null : this.api.reviewQueue({ limit: 1, offset: 0 }),
      ]);
      if (this.disposed) return;
      this.pending = (all ?? list)!.total;
      if (list) {
        // A page past the end (reviews were decided meanwhile): the last page instead.
        if (list.items.length === 0 && list.total > 0 && page > 0) {
          this.page = Math.max(0, Math.ceil(list.total / REVIEW_PAGE_SIZE) - 1);
          this.readAgain = true;
          return;
        }
        this.data = list;
      }
      this.error = null;
    } catch (error) {
      if (this.disposed) return;
      this.error = (error as Error).message;
    } finally {
      this.loading = false;
    }
  }

  private schedulePoll(): void {
    window.clearTimeout(this.pollTimer);
    if (this.disposed) return;
    // A hidden tab does not poll; it reads again when it is shown.
    this.pollTimer = window.setTimeout(() => {
      if (!document.hidden) void this.refresh();
      else this.schedulePoll();
    }, POLL_MS);
  }
}
