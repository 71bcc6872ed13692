/**
 * One tenant's changes through review: the list (read again while a change
 * moves on its own: its preview runs, its update applies), the request form,
 * and the admin's decisions, approve and reject, with every refusal of the
 * service put in plain words.
 */
import { ApiProblem, type Api } from "./api.ts";
import type { Change, ChangeStatus } from "./types.ts";

/** Statuses that change without anyone acting: the list is read again until none is left. */
const MOVING: ReadonlySet<ChangeStatus> = new Set(["PREVIEWING", "APPROVED", "APPLYING"]);
/** Often enough to follow a preview of a few seconds, seldom enough to cost nothing. */
const POLL_MS = 1500;

export interface ChangeForm {
  /** "" keeps the tenant's tier. */
  tier: string;
  /** "" keeps every phase. */
  lastPhase: string;
  reason: string;
}

export type ChangeDialog =
  | { kind: "approve"; changeId: string; allowDestructive: boolean }
  | { kind: "reject"; changeId: string; reason: string };

export interface ChangeNotice {
  /** The change it is about; null for the request form. */
  changeId: string | null;
  text: string;
  /** The service's own words, for whoever wants the detail. */
  detail?: string;
  tone: "good" | "bad";
}

const REFUSALS: Record<string, string> = {
  change_expired: "This change expired before it was approved. Request it again to get a fresh preview.",
  plan_stale: "The tenant changed after this preview was made, so the preview no longer shows what would happen. Request the change again and review the new preview.",
  destructive_change: "This change deletes or replaces resources that hold data or credentials; it can only be approved with “allow destructive changes” ticked.",
  run_in_progress: "Another run is in progress for this tenant. Try again once it has finished.",
  same_principal: "You requested this change yourself, and this service requires another admin to approve it.",
  request_stale: "The tenant changed after this was requested (another run, or a new status), so it no longer applies as asked. Ask for it again if it is still wanted.",
  change_not_pending: "This change is no longer awaiting review.",
  invalid_transition: "The tenant is not in a state that allows this.",
};

/** A refusal in plain words, with the service's message kept as the detail. */
export function refusalInWords(error: unknown): { text: string; detail?: string } {
  if (error instanceof ApiProblem) {
    const plain = REFUSALS[error.code];
    if (plain) return { text: plain, detail: error.message };
    if (error.fields.length > 0) return { text: error.fields.map((f) => `${f.field}: ${f.message}`).join("; ") };
    return { text: error.message };
  }
  return { text: (error as Error).message };
}

/** A teardown or rollback request does not move on its own: once approved, its run is followed in the tenant's status. */
export const isMoving = (change: Change) => change.kind === "update" && MOVING.has(change.status);

export class ChangeReview {
  readonly tenantId: string;
  items: Change[] = [];
  loaded = false;
  error: string | null = null;
  form: ChangeForm = { tier: "", lastPhase: "", reason: "" };
  /** What is being sent ("request", "approve", "reject"), to disable the buttons meanwhile. */
  busy: string | null = null;
  notice: ChangeNotice | null = null;
  dialog: ChangeDialog | null = null;

  private readonly api: Api;
  private readonly render: () => void;
  private readonly onUpdateQueued: () => Promise<void>;
  private readonly onDecided: () => void;
  private pollTimer: number | undefined;
  private reading: Promise<void> | null = null;
  private readAgain = false;
  private disposed = false;

  /**
   * `onUpdateQueued`: an approval queued the update run; the tenant view follows it. `onDecided`: a request,
   * approval or rejection was answered (accepted or refused), so the fleet's review queue may have changed.
   */
  constructor(api: Api, tenantId: string, render: () => void, onUpdateQueued: () => Promise<void>, onDecided: () => void = () => undefined) {
    this.api = api;
    this.tenantId = tenantId;
    this.render = render;
    this.onUpdateQueued = onUpdateQueued;
    this.onDecided = onDecided;
  }

  /** Reads the list; a read asked for while one is going happens once more after it, never twice at once. */
  load(): Promise<void> {
    if (this.reading) {
      this.readAgain = true;
      return this.reading;
    }
    this.reading = (async () => {
      do {
        this.readAgain = false;
        try {
          const { items } = await this.api.changes(this.tenantId);
          if (this.disposed) return;
          this.items = items;
          this.loaded = true;
          this.error = null;
        } catch (error) {
          if (this.disposed) return;
          this.error = (error as Error).message;
        }
      } while (this.readAgain);
    })().finally(() => {
      this.reading = null;
      this.schedulePoll();
      this.render();
    });
    return this.reading;
  }

  /** While a change moves on its own, the list is read again: the live stream says when runs start and end, this catches the rest. */
  private schedulePoll(): void {
    window.clearTimeout(this.pollTimer);
    if (this.disposed || !this.items.some(isMoving)) return;
    this.pollTimer = window.setTimeout(() => void this.load(), POLL_MS);
  }

  dispose(): void {
    this.disposed = true;
    window.clearTimeout(this.pollTimer);
  }

  get(changeId: string): Change | undefined {
    return this.items.find((c) => c.id === changeId);
  }

  /** Requests the change in the form; with nothing chosen it converges the tenant to its recorded spec. */
  async request(body = this.requestBody()): Promise<void> {
    if (this.busy) return;
    this.busy = "request";
    this.notice = null;
    this.render();
    try {
      const change = await this.api.requestChange(this.tenantId, body);
      this.form = { tier: "", lastPhase: "", reason: "" };
      this.items = [change, ...this.items.filter((c) => c.id !== change.id)];
      this.notice = { changeId: null, text: "Change requested: its preview is running. Nothing changes until it is approved.", tone: "good" };
    } catch (error) {
      this.notice = { changeId: null, ...refusalInWords(error), tone: "bad" };
    } finally {
      this.busy = null;
    }
    this.onDecided();
    await this.load();
  }

  private requestBody(): { tier?: string; lastPhase?: number; reason?: string } {
    const reason = this.form.reason.trim();
    return {
      ...(this.form.tier ? { tier: this.form.tier } : {}),
      ...(this.form.lastPhase ? { lastPhase: Number(this.form.lastPhase) } : {}),
      ...(reason ? { reason } : {}),
    };
  }

  /** Approve: at once for an ordinary change; a destructive one asks first for the explicit "allow destructive changes". */
  startApproval(changeId: string): void {
    const change = this.get(changeId);
    if (change?.preview?.destructive) {
      this.dialog = { kind: "approve", changeId, allowDestructive: false };
      this.render();
      return;
    }
    void this.approve(changeId, false);
  }

  startRejection(changeId: string): void {
    this.dialog = { kind: "reject", changeId, reason: "" };
    this.render();
  }

  closeDialog(): void {
    this.dialog = null;
    this.render();
  }

  async approve(changeId: string, allowDestructive: boolean): Promise<void> {
    if (this.busy) return;
    this.busy = "approve";
    this.dialog = null;
    this.notice = null;
    this.render();
    let queued = false;
    try {
      await this.api.approveChange(this.tenantId, changeId, allowDestructive);
      const kind = this.get(changeId)?.kind ?? "update";
      const text = kind === "update" ? "Approved: an update run applies exactly the reviewed plan."
        : kind === "restore" ? "Approved and restored: the backup is now the tenant's data."
        : `Approved: the ${kind} run is queued.`;
      this.notice = { changeId, text, tone: "good" };
      queued = true;
    } catch (error) {
      this.notice = { changeId, ...refusalInWords(error), tone: "bad" };
      // A refusal may have marked the change (stale, expired): the list shows what it is now.
    } finally {
      this.busy = null;
    }
    this.onDecided();
    if (queued) await this.onUpdateQueued();
    await this.load();
  }

  async reject(changeId: string, reason: string): Promise<void> {
    if (this.busy) return;
    this.busy = "reject";
    this.dialog = null;
    this.notice = null;
    this.render();
    try {
      await this.api.rejectChange(this.tenantId, changeId, reason.trim());
      this.notice = { changeId, text: "Rejected: nothing was changed.", tone: "good" };
    } catch (error) {
      this.notice = { changeId, ...refusalInWords(error), tone: "bad" };
    } finally {
      this.busy = null;
    }
    this.onDecided();
    await this.load();
  }
}
