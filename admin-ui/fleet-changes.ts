/**
 * The fleet change page's and the rollout page's state (issue 23). A fleet
 * change is read once with the current settings (its "before", while it is
 * the version the change was previewed on) and again after a decision. A
 * rollout is read once and then follows the fleet stream's `rollout` and
 * `rollout-tenant` messages: each moves what it names at once, and a read
 * shortly after a burst brings the counts, the waves' states and the skipped
 * and held lists along, so the page neither polls nor misses a transition.
 */
import { ApiProblem, type Api } from "./api.ts";
import { refusalInWords } from "./review.ts";
import type { FleetChange, FleetRollout, LiveMessage, PlatformSettingsVersion, RolloutWaves } from "./types.ts";

/** The service's defaults (docs/operations.md, "Waves"), shown in the approval form. */
export const WAVE_DEFAULTS: Required<RolloutWaves> = { canary: 2, growth: 2, concurrency: 4, canaryMaxFailures: 0, waveFailurePercent: 10 };
export type WaveField = keyof RolloutWaves;

/** How often a fleet change still previewing in the background is read again. */
const PREVIEW_POLL_MS = 3_000;

/** Messages come in bursts (several tenants of a wave at once): one read for a burst. */
const DEBOUNCE_MS = 300;

const FLEET_REFUSALS: Record<string, string> = {
  same_principal: "You proposed this fleet change yourself, and this service requires another admin to approve it.",
  plan_stale: "Another settings version became current after this change was previewed, so its preview no longer shows what would happen. Propose it again.",
  destructive_change: "This change deletes or replaces resources that hold data or credentials on some tenants; it can only be approved with “allow destructive changes” ticked.",
  change_not_pending: "This fleet change is no longer awaiting review.",
  invalid_transition: "The rollout is not in a state this applies to (someone else may have acted on it meanwhile).",
};

function inWords(error: unknown): { text: string; detail?: string } {
  if (error instanceof ApiProblem && FLEET_REFUSALS[error.code]) return { text: FLEET_REFUSALS[error.code]!, detail: error.message };
  return refusalInWords(error);
}

export interface PageNotice {
  text: string;
  detail?: string;
  tone: "good" | "bad";
}

export class FleetChangePage {
  readonly id: string;
  change: FleetChange | null = null;
  /** The current settings version, for the old values of the changed paths. */
  current: PlatformSettingsVersion | null = null;
  missing = false;
  error: string | null = null;
  busy: "approve" | "reject" | null = null;
  notice: PageNotice | null = null;
  /** The approval form's fields as typed; "" takes the default. */
  waves: Record<WaveField, string> = { canary: "", growth: "", concurrency: "", canaryMaxFailures: "", waveFailurePercent: "" };
  allowDestructive = false;
  rejectReason = "";
  private previewPoll: ReturnType<typeof setTimeout> | undefined;
  private disposed = false;
  private readonly api: Api;
  private readonly render: () => void;
  private readonly decided: (rolloutId: string | null) => void;

  constructor(api: Api, id: string, render: () => void, decided: (rolloutId: string | null) => void) {
    this.api = api;
    this.id = id;
    this.render = render;
    this.decided = decided;
  }

  async load(): Promise<void> {
    clearTimeout(this.previewPoll);
    try {
      const [change, current] = await Promise.all([this.api.fleetChange(this.id), this.api.platformSettings().catch(() => null)]);
      this.change = change;
      this.current = current;
      this.error = null;
    } catch (error) {
      if (error instanceof ApiProblem && error.status === 404) this.missing = true;
      else this.error = (error as Error).message;
    }
    // Previewed in the background (the Pulumi engine, stack by stack): read again until the preview is done.
    // No stream carries its progress, and it moves in seconds per tenant, so a read every few seconds is enough.
    if (this.change?.status === "PREVIEWING" && !this.disposed) this.previewPoll = setTimeout(() => void this.load(), PREVIEW_POLL_MS);
    this.render();
  }

  /** Stops reading a change still being previewed (the page was left). */
  dispose(): void {
    this.disposed = true;
    clearTimeout(this.previewPoll);
  }

  /** The wave options typed, as numbers; empty fields are left to the service's defaults. */
  private typedWaves(): RolloutWaves | string {
    const waves: RolloutWaves = {};
    for (const field of Object.keys(WAVE_DEFAULTS) as WaveField[]) {
      const text = this.waves[field].trim();
      if (text === "") continue;
      const n = Number(text);
      if (!Number.isFinite(n)) return `${field}: not a number`;
      waves[field] = n;
    }
    return waves;
  }

  async approve(): Promise<void> {
    if (this.busy) return;
    const waves = this.typedWaves();
    if (typeof waves === "string") {
      this.notice = { text: waves, tone: "bad" };
      this.render();
      return;
    }
    this.busy = "approve";
    this.notice = null;
    this.render();
    try {
      const rollout = await this.api.approveFleetChange(this.id, { ...(this.allowDestructive ? { allowDestructive: true } : {}), ...(Object.keys(waves).length ? { waves } : {}) });
      this.notice = { text: "Approved: the settings version is current and the rollout has started.", tone: "good" };
      await this.load();
      this.decided(rollout.id);
    } catch (error) {
      this.notice = { ...inWords(error), tone: "bad" };
      // A stale change is marked so by the refusal: read it again to show its new status.
      if (error instanceof ApiProblem && error.code === "plan_stale") await this.load();
    } finally {
      this.busy = null;
      this.render();
    }
  }

  async reject(): Promise<void> {
    if (this.busy) return;
    this.busy = "reject";
    this.notice = null;
    this.render();
    try {
      this.change = await this.api.rejectFleetChange(this.id, this.rejectReason.trim());
      this.notice = { text: "Rejected: nothing was changed.", tone: "good" };
      this.decided(null);
    } catch (error) {
      this.notice = { ...inWords(error), tone: "bad" };
    } finally {
      this.busy = null;
      this.render();
    }
  }
}

export class RolloutPage {
  readonly id: string;
  rollout: FleetRollout | null = null;
  missing = false;
  error: string | null = null;
  busy: "pause" | "resume" | "abort" | null = null;
  notice: PageNotice | null = null;
  /** Abort asks first: it cannot be undone (the tenants not started are skipped for good). */
  confirmingAbort = false;
  private readonly api: Api;
  private readonly render: () => void;
  private soonTimer: number | undefined;
  private disposed = false;

  constructor(api: Api, id: string, render: () => void) {
    this.api = api;
    this.id = id;
    this.render = render;
  }

  async load(): Promise<void> {
    try {
      const rollout = await this.api.rollout(this.id);
      if (this.disposed) return;
      this.rollout = rollout;
      this.error = null;
    } catch (error) {
      if (error instanceof ApiProblem && error.status === 404) this.missing = true;
      else this.error = (error as Error).message;
    }
    this.render();
  }

  /** A fleet stream message: moves what it names now, and reads the whole rollout once the burst is over. */
  apply(message: LiveMessage): void {
    if ((message.type !== "rollout" && message.type !== "rollout-tenant") || message.rolloutId !== this.id) return;
    const r = this.rollout;
    if (r && message.type === "rollout") {
      this.rollout = { ...r, status: message.status, currentWave: message.currentWave, waveCount: message.waveCount, haltedReason: message.haltedReason };
    }
    if (r && message.type === "rollout-tenant") {
      const move = <T extends { tenantId: string; status: string; reason: string | null }>(t: T): T => (t.tenantId === message.tenantId ? { ...t, status: message.status, reason: message.reason } : t);
      this.rollout = { ...r, waves: r.waves.map((w) => ({ ...w, tenants: w.tenants.map(move) })) };
    }
    this.render();
    window.clearTimeout(this.soonTimer);
    this.soonTimer = window.setTimeout(() => void this.load(), DEBOUNCE_MS);
  }

  askAbort(asking: boolean): void {
    this.confirmingAbort = asking;
    this.render();
  }

  async control(verb: "pause" | "resume" | "abort"): Promise<void> {
    if (this.busy) return;
    this.confirmingAbort = false;
    this.busy = verb;
    this.notice = null;
    this.render();
    try {
      this.rollout = await this.api.controlRollout(this.id, verb);
      this.notice = {
        text: verb === "pause" ? "Paused: no tenant starts until it is resumed; those under way finish."
          : verb === "resume" ? "Resumed." : "Aborted: no tenant starts any more; the version stays current.",
        tone: "good",
      };
    } catch (error) {
      this.notice = { ...inWords(error), tone: "bad" };
      await this.load();
    } finally {
      this.busy = null;
      this.render();
    }
  }

  dispose(): void {
    this.disposed = true;
    window.clearTimeout(this.soonTimer);
  }
}
