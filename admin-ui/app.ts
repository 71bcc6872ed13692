/**
 * The dashboard's state and behaviour: who is signed in, which view is open,
 * what each view shows, and how live messages and actions change it. Views
 * are pure functions of this state; every change asks for one render.
 */
import { Api, ApiProblem, type FieldProblem } from "./api.ts";
import { TenantDriftHistory } from "./drift-history.ts";
import { FleetChangePage, RolloutPage } from "./fleet-changes.ts";
import { FleetStream, watchTenant, type StreamState } from "./live.ts";
import { ChangeReview } from "./review.ts";
import { ReviewQueue } from "./review-queue.ts";
import { duration, phaseTitle, when } from "./format.ts";
import type { ActionRequested, AuditEntry, DriftResult, FleetPage, LiveMessage, Phase, PhaseStep, Platform, PreviewResult, ProvisioningStatus, RunQueued, Session, Tenant } from "./types.ts";

const TOKEN_KEY = "matih.admin.token";
export const PAGE_SIZE = 50;
const FEED_LIMIT = 200;

/** `change`: a change to bring into view on the tenant page (the Reviews page links to it). */
export type Route = { view: "fleet" } | { view: "tenant"; slug: string; change?: string } | { view: "request" } | { view: "reviews" }
  | { view: "fleet-change"; id: string } | { view: "rollout"; id: string };

export interface FeedEntry {
  id: number;
  at: number;
  text: string;
  tone: "info" | "good" | "bad";
}

export interface FleetState {
  status: string;
  tier: string;
  /** A drift state, UNCHECKED, or "" for any. */
  drift: string;
  search: string;
  page: number;
  data: FleetPage | null;
  loading: boolean;
  error: string | null;
}

export interface TenantState {
  slug: string;
  tenant: Tenant | null;
  status: ProvisioningStatus | null;
  audit: AuditEntry[];
  /** The audit panel's page, 0 = the newest entries. */
  auditPage: number;
  feed: FeedEntry[];
  missing: boolean;
  error: string | null;
  /** The action being sent, to disable the buttons meanwhile. */
  busy: string | null;
  notice: { text: string; tone: "good" | "bad" } | null;
  preview: PreviewResult | null;
  drift: DriftResult | null;
  /** Changes through review and the drift history, once the tenant's id is known. */
  review: ChangeReview | null;
  history: TenantDriftHistory | null;
  dialog: "rollback" | "delete" | null;
  rollbackTarget: number;
  deleteConfirmation: string;
  watching: boolean;
}

export interface RequestState {
  values: { slug: string; displayName: string; tier: string; region: string; adminEmail: string };
  errors: Record<string, string[]>;
  formError: string | null;
  sending: boolean;
}

export class App {
  session: Session | null = null;
  api: Api | null = null;
  platform: Platform | null = null;
  signIn = { error: null as string | null, checking: false };
  route: Route = { view: "fleet" };
  live: StreamState = "closed";
  fleet: FleetState = { status: "", tier: "", drift: "", search: "", page: 0, data: null, loading: false, error: null };
  tenant: TenantState | null = null;
  request: RequestState = App.emptyRequest();
  /** The fleet's review queue: the header's count, and the Reviews page. */
  reviews: ReviewQueue | null = null;
  /** The open fleet change page or rollout page (issue 23), while it is open. */
  fleetChange: FleetChangePage | null = null;
  rollout: RolloutPage | null = null;
  /** Set when the route changed, so the next render moves focus to the new view's heading. */
  focusHeading = false;

  private fleetStream: FleetStream | null = null;
  private stopTenantStream: (() => void) | null = null;
  private fleetRefreshTimer: number | undefined;
  private auditRefreshTimer: number | undefined;
  private feedSeq = 0;
  private readonly requestRender: () => void;

  constructor(requestRender: () => void) {
    this.requestRender = requestRender;
  }

  static emptyRequest(): RequestState {
    return { values: { slug: "", displayName: "", tier: "free", region: "eastus", adminEmail: "" }, errors: {}, formError: null, sending: false };
  }

  /** For views that changed state in place (a typed character, a chosen option). */
  changed(): void {
    this.requestRender();
  }

  get isAdmin(): boolean {
    return this.session?.scope === "admin";
  }

  // ---- session -------------------------------------------------------------

  /** Resumes a session kept in this tab (sessionStorage only: it ends with the tab and is never shared with other tabs). */
  async resume(): Promise<void> {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) await this.signInWith(token, true);
    else this.focusHeading = true;
    this.requestRender();
  }

  async signInWith(token: string, resuming = false): Promise<void> {
    const trimmed = token.trim();
    if (!trimmed) {
      this.signIn = { error: "Enter an access token.", checking: false };
      this.requestRender();
      return;
    }
    this.signIn = { error: null, checking: true };
    this.requestRender();
    const api = new Api(trimmed);
    try {
      this.session = await api.session();
    } catch (error) {
      sessionStorage.removeItem(TOKEN_KEY);
      const refused = error instanceof ApiProblem && error.status === 401;
      this.signIn = {
        error: refused
          ? resuming ? "Your session has ended: the service no longer accepts that token. Sign in again." : "The service refused this token. Check that you pasted the whole token and try again."
          : (error as Error).message,
        checking: false,
      };
      this.requestRender();
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, trimmed);
    api.onUnauthorized = () => this.signOut("Your session has ended: the service no longer accepts your token. Sign in again.");
    this.api = api;
    this.signIn = { error: null, checking: false };
    this.platform = await api.platform().catch(() => null);
    this.reviews = new ReviewQueue(api, this.requestRender);
    this.fleetStream = new FleetStream(() => api.socketUrl("/ws/provisioning"), (m) => this.onFleetMessage(m), (state) => {
      this.live = state;
      // Whatever changed while the stream was down is read again once it is back.
      if (state === "live") this.reloadCurrentView();
      this.requestRender();
    });
    this.focusHeading = true;
    this.enterRoute();
  }

  signOut(message: string | null = null): void {
    sessionStorage.removeItem(TOKEN_KEY);
    this.fleetStream?.close();
    this.fleetStream = null;
    this.stopTenantStream?.();
    this.stopTenantStream = null;
    this.session = null;
    this.api = null;
    this.dropTenant();
    this.reviews?.dispose();
    this.reviews = null;
    this.rollout?.dispose();
    this.rollout = null;
    this.fleetChange?.dispose();
    this.fleetChange = null;
    this.fleet = { ...this.fleet, data: null };
    this.request = App.emptyRequest();
    this.signIn = { error: message, checking: false };
    this.live = "closed";
    this.focusHeading = true;
    this.requestRender();
  }

  // ---- routing ---------------------------------------------------------------

  static parseRoute(hash: string): Route {
    const path = hash.replace(/^#/, "");
    const tenant = /^\/tenants\/([^/]+)(?:\/changes\/([^/]+))?$/.exec(path);
    if (tenant) return { view: "tenant", slug: decodeURIComponent(tenant[1]!), ...(tenant[2] ? { change: decodeURIComponent(tenant[2]) } : {}) };
    if (path === "/new") return { view: "request" };
    if (path === "/reviews") return { view: "reviews" };
    const fleet = /^\/fleet\/(changes|rollouts)\/([^/]+)$/.exec(path);
    if (fleet) return { view: fleet[1] === "changes" ? "fleet-change" : "rollout", id: decodeURIComponent(fleet[2]!) };
    return { view: "fleet" };
  }

  navigate(hash: string): void {
    this.route = App.parseRoute(hash);
    this.focusHeading = true;
    if (this.session) this.enterRoute();
    this.requestRender();
  }

  private enterRoute(): void {
    if (this.route.view !== "tenant" || this.tenant?.slug !== this.route.slug) {
      this.stopTenantStream?.();
      this.stopTenantStream = null;
      this.dropTenant();
    }
    if (this.route.view === "fleet") void this.loadFleet();
    this.reviews?.show(this.route.view === "reviews");
    this.enterFleetPages();
    if (this.route.view === "tenant" && !this.tenant) void this.openTenant(this.route.slug);
    if (this.route.view === "request") this.request = { ...App.emptyRequest(), values: { ...App.emptyRequest().values, region: this.platform?.regions[0] ?? "eastus" } };
    this.requestRender();
  }

  /** Opens the fleet change or rollout page the route names, and drops the one it no longer does. */
  private enterFleetPages(): void {
    const route = this.route;
    const api = this.api;
    if (this.fleetChange && (route.view !== "fleet-change" || route.id !== this.fleetChange.id)) {
      this.fleetChange.dispose();
      this.fleetChange = null;
    }
    if (this.rollout && (route.view !== "rollout" || route.id !== this.rollout.id)) {
      this.rollout.dispose();
      this.rollout = null;
    }
    if (!api) return;
    if (route.view === "fleet-change" && !this.fleetChange) {
      this.fleetChange = new FleetChangePage(api, route.id, this.requestRender, (rolloutId) => {
        void this.reviews?.refresh();
        // An approval's rollout is what the admin wants to watch next.
        if (rolloutId && this.route.view === "fleet-change") location.hash = `#/fleet/rollouts/${encodeURIComponent(rolloutId)}`;
      });
      void this.fleetChange.load();
    }
    if (route.view === "rollout" && !this.rollout) {
      this.rollout = new RolloutPage(api, route.id, this.requestRender);
      void this.rollout.load();
    }
  }

  /** Leaves the tenant view: its timers stop with it. */
  private dropTenant(): void {
    this.tenant?.review?.dispose();
    this.tenant?.history?.dispose();
    this.tenant = null;
  }

  private reloadCurrentView(): void {
    void this.reviews?.refresh();
    if (this.route.view === "fleet") void this.loadFleet();
    if (this.route.view === "tenant" && this.tenant) void this.refreshTenant();
    if (this.route.view === "fleet-change") void this.fleetChange?.load();
    if (this.route.view === "rollout") void this.rollout?.load();
  }

  // ---- fleet -----------------------------------------------------------------

  async loadFleet(): Promise<void> {
    if (!this.api) return;
    const { status, tier, drift, search, page } = this.fleet;
    this.fleet = { ...this.fleet, loading: true };
    this.requestRender();
    try {
      const data = await this.api.fleet({ status, tier, drift, search: search.trim(), limit: PAGE_SIZE, offset: page * PAGE_SIZE });
      // A page past the end (the fleet shrank): show the last one instead.
      if (data.items.length === 0 && data.total > 0 && page > 0) {
        this.fleet = { ...this.fleet, page: Math.max(0, Math.ceil(data.total / PAGE_SIZE) - 1) };
        return this.loadFleet();
      }
      this.fleet = { ...this.fleet, data, loading: false, error: null };
    } catch (error) {
      this.fleet = { ...this.fleet, loading: false, error: (error as Error).message };
    }
    this.requestRender();
  }

  setFleetFilter(change: Partial<Pick<FleetState, "status" | "tier" | "drift" | "search">>): void {
    this.fleet = { ...this.fleet, ...change, page: 0 };
    void this.loadFleet();
  }

  setAuditPage(page: number): void {
    if (!this.tenant) return;
    this.tenant.auditPage = Math.max(0, page);
    this.requestRender();
  }

  setFleetPage(page: number): void {
    this.fleet = { ...this.fleet, page: Math.max(0, page) };
    void this.loadFleet();
  }

  private scheduleFleetRefresh(): void {
    window.clearTimeout(this.fleetRefreshTimer);
    this.fleetRefreshTimer = window.setTimeout(() => {
      if (this.route.view === "fleet") void this.loadFleet();
    }, 400);
  }

  private onFleetMessage(message: LiveMessage): void {
    if (!("tenantId" in message)) return;
    if (message.type === "rollout" || message.type === "rollout-tenant") {
      this.rollout?.apply(message);
      // A rollout's state is no tenant's transition; its tenants' runs come as run messages of their own.
      return;
    }
    // A preview run ending makes a change reviewable; an approval starts the change's run.
    if (message.type === "run" || message.type === "run-finished") this.reviews?.soon();
    if (this.route.view === "fleet") this.applyToFleet(message);
    const tenant = this.tenant;
    if (tenant?.tenant && message.tenantId === tenant.tenant.id) {
      if ((message.type === "run" || message.type === "run-finished") && message.kind === "preview") {
        // A change's preview: the tenant does not move, the change does.
        this.addFeed(message.type === "run" ? "Preview of a requested change started" : `Preview of a requested change ${message.status === "SUCCEEDED" ? "is ready for review" : "failed"}`, message.type === "run-finished" && message.status !== "SUCCEEDED" ? "bad" : "info");
        void tenant.review?.load();
        return;
      }
      // A run started (here or by someone else): follow it on the tenant's own stream.
      if (message.type === "run" && !tenant.watching) this.watch();
      if (message.type === "run-finished") void this.refreshTenant();
      // A drift check of this tenant was kept (a fleet run's, or a one-off check from here or elsewhere): the history is read again.
      if (message.type === "drift") void tenant.history?.load();
    }
  }

  /**
   * Moves a visible row at once on a phase transition or a new drift state;
   * anything else re-reads the page (debounced). A drift state re-reads it
   * too, for the counts and the drift filter.
   */
  private applyToFleet(message: LiveMessage): void {
    const data = this.fleet.data;
    if (!data || !("tenantId" in message)) return;
    const item = data.items.find((i) => i.id === message.tenantId);
    if (item && message.type === "drift") {
      item.drift = { state: message.state, since: message.since, lastCheckedAt: message.lastCheckedAt };
      this.fleet = { ...this.fleet, data: { ...data } };
      this.requestRender();
    }
    if (item && message.type === "phase") {
      item.phases = item.phases.map((s, i) => (i === message.phase.number - 1 ? message.phase.status : s));
      if (message.phase.status === "RUNNING" || message.phase.status === "FAILED") item.currentPhase = { number: message.phase.number, name: message.phase.name };
      // As the service counts it (server/domain/status-view.ts): a rollback's progress is the phases left of ten.
      const scope = item.run?.kind === "teardown" || item.run?.kind === "rollback" ? 10 : Math.max(item.run?.targetPhase ?? 10, 1);
      const finished = item.run?.kind === "teardown"
        ? item.phases.filter((s) => s === "ROLLED_BACK").length
        : item.phases.filter((s, i) => i < scope && s === "SUCCEEDED").length;
      item.progress = Math.round((100 * finished) / scope);
      this.fleet = { ...this.fleet, data: { ...data } };
      this.requestRender();
      return;
    }
    this.scheduleFleetRefresh();
  }

  // ---- tenant ----------------------------------------------------------------

  private async openTenant(slug: string): Promise<void> {
    this.tenant = {
      slug, tenant: null, status: null, audit: [], auditPage: 0, feed: [], missing: false, error: null, busy: null, notice: null,
      preview: null, drift: null, review: null, history: null, dialog: null, rollbackTarget: 1, deleteConfirmation: "", watching: false,
    };
    this.requestRender();
    await this.refreshTenant();
    const status = this.tenant?.status;
    if (status?.run && ["QUEUED", "RUNNING"].includes(status.run.status)) this.watch();
  }

  async refreshTenant(): Promise<void> {
    const state = this.tenant;
    if (!state || !this.api) return;
    try {
      // By id once known: a deleted tenant keeps its id, while its slug may be taken again.
      const key = state.tenant?.id ?? state.slug;
      const [tenant, status] = await Promise.all([this.api.tenant(key), this.api.status(key)]);
      if (this.tenant !== state) return;
      state.tenant = tenant;
      state.status = status;
      state.error = null;
      const api = this.api;
      state.review ??= new ChangeReview(api, tenant.id, this.requestRender, () => this.followUpdate(state), () => void this.reviews?.refresh());
      state.history ??= new TenantDriftHistory(api, tenant.id, this.requestRender);
      await Promise.all([this.refreshAudit(), state.review.load(), state.history.load()]);
    } catch (error) {
      if (this.tenant !== state) return;
      if (error instanceof ApiProblem && error.status === 404) state.missing = true;
      else state.error = (error as Error).message;
    }
    this.requestRender();
  }

  private async refreshAudit(): Promise<void> {
    const state = this.tenant;
    if (!state?.tenant || !this.api) return;
    // The API answers at most 1000 entries at a time: read on until a short page.
    const items: AuditEntry[] = [];
    for (let after = state.audit.at(-1)?.id ?? 0; ;) {
      const page = (await this.api.audit(state.tenant.id, after)).items;
      items.push(...page);
      if (page.length < 1000) break;
      after = page.at(-1)!.id;
    }
    if (this.tenant !== state) return;
    // Two reads may overlap (a transition and a finished run): each entry is kept once, in id order.
    const byId = new Map([...state.audit, ...items].map((a) => [a.id, a]));
    state.audit = [...byId.values()].sort((a, b) => a.id - b.id);
    this.requestRender();
  }

  private scheduleAuditRefresh(): void {
    window.clearTimeout(this.auditRefreshTimer);
    this.auditRefreshTimer = window.setTimeout(() => void this.refreshAudit().catch(() => undefined), 300);
  }

  private addFeed(text: string, tone: FeedEntry["tone"] = "info"): void {
    const state = this.tenant;
    if (!state) return;
    state.feed = [{ id: ++this.feedSeq, at: Date.now(), text, tone }, ...state.feed].slice(0, FEED_LIMIT);
  }

  /** An approved change's update run was queued: the tenant (UPDATING now) and its run are followed live. */
  private async followUpdate(state: TenantState): Promise<void> {
    if (this.tenant !== state) return;
    state.preview = null;
    state.drift = null;
    await this.refreshTenant();
    this.watch();
  }

  /** Follows the tenant's current run on its own stream until the run ends. */
  private watch(): void {
    const state = this.tenant;
    if (!state?.tenant || !this.api || state.watching) return;
    state.watching = true;
    this.stopTenantStream?.();
    this.stopTenantStream = watchTenant(this.api.socketUrl(`/ws/provisioning/${state.tenant.id}`), (m) => this.onTenantMessage(state, m), () => {
      state.watching = false;
      this.stopTenantStream = null;
      if (this.tenant === state) void this.refreshTenant();
    });
    this.requestRender();
  }

  private onTenantMessage(state: TenantState, message: LiveMessage): void {
    if (this.tenant !== state) return;
    switch (message.type) {
      case "snapshot":
        state.status = message.status;
        this.addFeed(`Watching live: ${message.status.run ? `${message.status.run.kind} run ${message.status.run.status.toLowerCase()}, ` : ""}tenant ${message.status.status}${message.status.currentPhase ? `, phase ${message.status.currentPhase.number} ${phaseTitle(message.status.currentPhase.name)}` : ""}`);
        break;
      case "phase": {
        this.replacePhase(state, message.phase);
        this.addFeed(phaseSentence(message.phase), message.phase.status === "FAILED" ? "bad" : message.phase.status === "SUCCEEDED" || message.phase.status === "ROLLED_BACK" ? "good" : "info");
        this.scheduleAuditRefresh();
        break;
      }
      case "progress": {
        const phase = state.status?.phases.find((p) => p.number === message.phase.number);
        if (phase) this.replacePhase(state, { ...phase, resources: message.resources });
        this.addFeed(`Phase ${message.phase.number}: ${message.resource.op} ${shortName(message.resource.urn)} (${message.resources.done} done, ${message.resources.pending} pending)`);
        break;
      }
      case "phase-step": {
        const phase = state.status?.phases.find((p) => p.number === message.phase.number);
        if (phase) this.replacePhase(state, { ...phase, steps: withStep(phase.steps ?? [], message.step) });
        this.addFeed(`Phase ${message.phase.number} ${message.step.step} ${message.step.status}: ${message.step.message}`,
          message.step.status === "failed" ? "bad" : message.step.status === "succeeded" ? "good" : "info");
        break;
      }
      case "run":
        this.addFeed(message.status === "RETRYING"
          ? `Attempt ${message.attempt} of the ${message.kind} failed${message.error ? `: ${message.error}` : ""}; it will be tried again`
          : `${capitalise(message.kind)} run started (attempt ${message.attempt})`, message.status === "RETRYING" ? "bad" : "info");
        if (state.status?.run) state.status.run = { ...state.status.run, status: "RUNNING", attempt: message.attempt };
        break;
      case "run-finished":
        // "Retry queued" and the like are history now; the feed and the status say how it ended.
        if (state.notice?.tone === "good") state.notice = null;
        this.addFeed(`${capitalise(message.kind)} ${message.status === "SUCCEEDED" ? "succeeded" : "failed"}: tenant is ${message.tenantStatus}${message.error ? ` — ${message.error}` : ""}`, message.status === "SUCCEEDED" ? "good" : "bad");
        break;
      case "error":
        this.addFeed(`Live stream: ${message.message}`, "bad");
        break;
      default:
        break;
    }
    this.requestRender();
  }

  private replacePhase(state: TenantState, phase: Phase): void {
    if (!state.status) return;
    state.status = { ...state.status, phases: state.status.phases.map((p) => (p.number === phase.number ? phase : p)) };
    if (phase.status === "RUNNING" || phase.status === "FAILED") state.status.currentPhase = { number: phase.number, name: phase.name };
  }

  // ---- admin actions ----------------------------------------------------------

  /** `done` and `startsRun` may depend on the answer (a teardown may be queued, or only requested under four eyes). */
  private async act<T>(name: string, call: (api: Api, id: string) => Promise<T>, done: string | ((answer: T) => string), options: { startsRun: boolean | ((answer: T) => boolean) }): Promise<void> {
    const state = this.tenant;
    if (!state?.tenant || !this.api || state.busy) return;
    state.busy = name;
    state.notice = null;
    this.requestRender();
    try {
      const answer = await call(this.api, state.tenant.id);
      state.notice = { text: typeof done === "function" ? done(answer) : done, tone: "good" };
      if (typeof options.startsRun === "function" ? options.startsRun(answer) : options.startsRun) {
        state.preview = null;
        state.drift = null;
        await this.refreshTenant();
        this.watch();
      }
    } catch (error) {
      state.notice = { text: `${name} was refused: ${(error as Error).message}`, tone: "bad" };
    } finally {
      state.busy = null;
      this.requestRender();
    }
  }

  retry(): Promise<void> {
    return this.act("Retry", (api, id) => api.retry(id), "Retry queued: finished phases stay finished, the rest run again.", { startsRun: true });
  }

  openDialog(dialog: "rollback" | "delete"): void {
    const state = this.tenant;
    if (!state) return;
    state.dialog = dialog;
    state.deleteConfirmation = "";
    const succeeded = state.status?.phases.filter((p) => p.status === "SUCCEEDED").map((p) => p.number) ?? [];
    state.rollbackTarget = Math.min(9, Math.max(1, ...succeeded));
    this.requestRender();
  }

  closeDialog(): void {
    if (this.tenant) this.tenant.dialog = null;
    this.requestRender();
  }

  async confirmRollback(): Promise<void> {
    const state = this.tenant;
    if (!state) return;
    const target = state.rollbackTarget;
    state.dialog = null;
    await this.actOrRequest("Roll back", (api, id) => api.rollback(id, target), `Roll back queued: phases ${target + 1} to 10 are removed, newest first.`);
  }

  async confirmDelete(): Promise<void> {
    const state = this.tenant;
    if (!state?.tenant || state.deleteConfirmation !== state.tenant.slug) return;
    state.dialog = null;
    const confirmed = state.deleteConfirmation;
    await this.actOrRequest("Delete", (api, id) => api.remove(id, confirmed), "Teardown queued: every phase is removed in reverse order.");
  }

  /**
   * A teardown or rollback: queued at once, or, where the service requires a
   * second admin, only requested. Then nothing runs yet: the notice says who
   * may approve it, and the request is listed with the tenant's changes, where
   * another admin approves or rejects it.
   */
  private async actOrRequest(name: string, call: (api: Api, id: string) => Promise<RunQueued | ActionRequested>, queued: string): Promise<void> {
    const state = this.tenant;
    const requested = (answer: RunQueued | ActionRequested): answer is ActionRequested => "approval" in answer;
    await this.act(name, call, (answer) => {
      if (!requested(answer)) return queued;
      const who = answer.approval.approvers.length > 0 ? answer.approval.approvers.join(" or ") : "another admin";
      return `${name} requested, not started: this service needs a second admin. It waits for ${who} to approve it under “Changes through review”, until ${when(answer.approval.expiresAt)}.`;
    }, { startsRun: (answer) => !requested(answer) });
    // A request is a change of the tenant's, with its own audit row: both lists show it at once.
    if (state && this.tenant === state) await Promise.all([state.review?.load(), this.refreshAudit().catch(() => undefined)]);
  }

  async runPreview(): Promise<void> {
    const state = this.tenant;
    await this.act("Preview", async (api, id) => {
      const result = await api.preview(id);
      if (state) state.preview = result;
    }, "Preview ready: nothing was changed.", { startsRun: false });
  }

  async runDriftCheck(): Promise<void> {
    const state = this.tenant;
    await this.act("Drift check", async (api, id) => {
      try {
        const result = await api.driftCheck(id);
        if (state) state.drift = result;
      } catch (error) {
        // A check the engine could not make is still kept for an ACTIVE tenant, as a failed check.
        const kept = error instanceof ApiProblem && (error.details as { recorded?: unknown } | undefined)?.recorded === true;
        if (kept) throw new ApiProblem(error.status, error.code, `${error.message} (kept in the drift history as a failed check)`);
        throw error;
      }
    }, "Drift check finished: nothing was changed.", { startsRun: false });
  }

  // ---- request form -----------------------------------------------------------

  async submitRequest(): Promise<void> {
    if (!this.api || this.request.sending) return;
    const values = { ...this.request.values, slug: this.request.values.slug.trim(), adminEmail: this.request.values.adminEmail.trim() };
    this.request = { ...this.request, values, sending: true, errors: {}, formError: null };
    this.requestRender();
    try {
      const { tenant } = await this.api.create(values);
      this.request = App.emptyRequest();
      location.hash = `#/tenants/${encodeURIComponent(tenant.slug)}`;
    } catch (error) {
      const errors: Record<string, string[]> = {};
      let formError: string | null = null;
      if (error instanceof ApiProblem) {
        const known = new Set(Object.keys(values));
        const other: FieldProblem[] = [];
        for (const problem of error.fields) {
          if (known.has(problem.field)) (errors[problem.field] ??= []).push(problem.message);
          else other.push(problem);
        }
        if (error.code === "slug_taken") (errors.slug ??= []).push(error.message);
        if (other.length > 0) formError = other.map((p) => `${p.field}: ${p.message}`).join("; ");
        else if (Object.keys(errors).length === 0) formError = error.message;
      } else {
        formError = (error as Error).message;
      }
      this.request = { ...this.request, sending: false, errors, formError };
    }
    this.requestRender();
  }
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The phase's steps with `entry` in its step's place, or added after the others (as the service keeps them). */
export function withStep(steps: readonly PhaseStep[], entry: PhaseStep): PhaseStep[] {
  const at = steps.findIndex((s) => s.step === entry.step);
  return at < 0 ? [...steps, entry] : steps.map((s, i) => (i === at ? entry : s));
}

/** The resource's own name: the last part of its URN. */
export function shortName(urn: string): string {
  return urn.split("::").at(-1) ?? urn;
}

function phaseSentence(phase: Phase): string {
  const title = `Phase ${phase.number} ${phaseTitle(phase.name)}`;
  switch (phase.status) {
    case "RUNNING":
      return `${title} started${phase.attempts > 1 ? ` (attempt ${phase.attempts})` : ""}`;
    case "SUCCEEDED":
      return `${title} succeeded in ${duration(phase.durationMs)}`;
    case "ROLLED_BACK":
      return `${title} removed`;
    case "FAILED":
      return `${title} failed: ${phase.error ?? "no reason given"}`;
    default:
      return `${title} is ${phase.status.toLowerCase()}`;
  }
}
