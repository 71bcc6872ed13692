/**
 * Fleet changes through review (issue 23): a JSON merge patch of the platform
 * settings is checked, previewed on every selected tenant (the engine's fleet
 * preview, in the warm workers) and kept with the change as groups of tenants
 * with identical changes. Nothing runs on the proposed settings until an
 * admin approves: approval records them as the next settings version and
 * starts a rollout (domain/fleet-rollout.ts) in the same transaction.
 */
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { previewTenantByTenant, redactValue, type FleetPreviewEntry, type FleetPreviewTarget, type PreviewRequest, type PreviewResult, type ResourceChange } from "../../automation/index.ts";
import { printableLineProblem, ValidationError, type ValidationProblem } from "../../model/spec.ts";
import { resolvePlatformSettings, type PlatformSettings } from "../../model/settings.ts";
import { enqueueOutbox } from "../db/outbox.ts";
import {
  appendFleetAudit, appendSettingsVersionIn, dropFleetPreviewDigests, findFleetChange, finishFleetPreview, fleetPreviewDigests, insertFleetChange, insertRollout, keepFleetPreviewDigest,
  recordFleetPreviewProgress, startFleetPreview, updateFleetChange,
  type FleetChangeRow, type FleetChangeTenant, type FleetPreview, type FleetSelector, type GroupChange, type PreviewGroup, type RolloutConfig, type RolloutRow,
} from "../db/fleet-changes.ts";
import type { FleetPreviewQueue, RolloutQueue } from "../db/fleet-rollout-queue.ts";
import { currentExtent, hasStack } from "../db/runs.ts";
import { findStackSettings } from "../db/stack-settings.ts";
import { findTenant, tenantSpecOf } from "../db/tenants.ts";
import { currentSettingsVersion } from "../db/platform-settings.ts";
import { withTransaction } from "../db/pool.ts";
import { reviewOf } from "./change-service.ts";
import { ApiError, notFound } from "./errors.ts";
import { applyMergePatch } from "./merge-patch.ts";
import { changedSettingPaths, withProcessConnection } from "./platform-settings.ts";

/**
 * The defaults of a rollout's waves (docs/operations.md, "Fleet changes and
 * rollouts"): a canary of 2 tenants, then waves twice as large as the one
 * before, 4 tenants at a time, halted by any failure in the canary or by more
 * than 10 % of a later wave failing.
 */
export const DEFAULT_ROLLOUT: RolloutConfig = { canary: 2, growth: 2, concurrency: 4, canaryMaxFailures: 0, waveFailurePercent: 10, allowDestructive: false };

/** The settings a patch may not touch: this process's own cluster connection, never part of a version (domain/platform-settings.ts). */
const PROCESS_CONNECTION_PATHS = new Set(["kubernetes.kubeconfig", "kubernetes.context"]);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * What is wrong with a patch before it is applied: a known secret value
 * anywhere in it (settings name where secrets are, never hold them; the same
 * masking as every stored version's), or the process's cluster connection.
 */
export function patchProblems(patch: Record<string, unknown>): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  const walk = (value: unknown, path: string) => {
    if (PROCESS_CONNECTION_PATHS.has(path)) {
      problems.push({ field: `settings.${path}`, message: "is each process's own cluster connection (its settings file), never part of a settings version" });
      return;
    }
    if (isObject(value)) for (const [k, v] of Object.entries(value)) walk(v, path ? `${path}.${k}` : k);
    else if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${path}.${i}`));
    else if (typeof value === "string" && redactValue(value) !== value) {
      problems.push({ field: `settings.${path}`, message: "holds a secret value; settings name where a secret is (an environment variable, a Kubernetes Secret), never the secret itself" });
    }
  };
  walk(patch, "");
  return problems;
}

const valueAt = (root: unknown, path: string[]): unknown => path.reduce<unknown>((v, k) => (isObject(v) ? v[k] : undefined), root);

/**
 * The current settings with the patch applied, checked as every version is
 * (resolvePlatformSettings: each bad path named). A null that would remove a
 * setting the platform needs is refused rather than quietly put back to its
 * default. Throws ValidationError with paths under `settings.`.
 */
export function patchedSettings(current: PlatformSettings, patch: Record<string, unknown>): PlatformSettings {
  const problems = patchProblems(patch);
  if (problems.length > 0) throw new ValidationError(problems, "settings patch");
  const merged = applyMergePatch(current, patch) as Record<string, unknown>;
  let resolved: PlatformSettings;
  try {
    resolved = resolvePlatformSettings(merged);
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    throw new ValidationError(error.problems.map((p) => ({ ...p, field: `settings.${p.field}` })), "settings patch");
  }
  const removed: ValidationProblem[] = [];
  const nulls = (value: unknown, path: string[]) => {
    if (!isObject(value)) return;
    for (const [k, v] of Object.entries(value)) {
      if (v === null && valueAt(resolved, [...path, k]) !== undefined) removed.push({ field: `settings.${[...path, k].join(".")}`, message: "is a required setting and cannot be removed; give it a value" });
      else nulls(v, [...path, k]);
    }
  };
  nulls(patch, []);
  if (removed.length > 0) throw new ValidationError(removed, "settings patch");
  // As a version stores them: JSON, optional settings left unset absent.
  return JSON.parse(JSON.stringify(resolved)) as PlatformSettings;
}

/** "kubernetes:helm.sh/v3:Release" -> "Release". */
const typeLabel = (type: string) => type.slice(type.lastIndexOf(":") + 1);

interface SelectedTenant {
  id: string;
  slug: string;
  status: string;
}

/** What the grouping keeps of one tenant's preview entry: its group key and changed resources, not its whole change list. */
/** What the grouping keeps of one tenant's preview: its group key and counts, no values (kept in the database while a background preview runs). */
export type PreviewDigest =
  | { ok: false; error: string }
  | { ok: true; key: string; changeSummary: PreviewGroup["changeSummary"]; destructiveResources: FleetPreview["destructive"][number]["resources"] | null; resources: string[] };

/**
 * Groups the selected tenants by identical change: the same operations on the
 * same resource types and properties (names differ by tenant, so they are
 * left out). Destructive tenants are listed apart as well, failed previews and
 * tenants the preview did not reach (no record yet) too.
 *
 * Entries are taken as the fleet preview hands them over, chunk by chunk
 * (`add`), and only a digest of each is kept: a tenant's change list is tens
 * of KB, and a thousand of them held until the last chunk came back were tens
 * of MB of the service's heap at the preview's peak. `finish` lays the groups out in the selected
 * tenants' order, whatever order the chunks finished in.
 */
export class FleetPreviewGrouper {
  private readonly selected: readonly SelectedTenant[];
  private readonly wanted: Set<string>;
  private readonly digests = new Map<string, PreviewDigest>();
  /** One copy of each group's changes, shared by its tenants' digests. */
  private readonly changesByKey = new Map<string, GroupChange[]>();

  constructor(selected: readonly SelectedTenant[]) {
    this.selected = selected;
    this.wanted = new Set(selected.map((t) => t.slug));
  }

  add(entries: readonly FleetPreviewEntry[]): void {
    for (const entry of entries) this.addEntry(entry);
  }

  /** Adds one tenant's preview and returns its digest (null for a tenant not selected). */
  addEntry(entry: FleetPreviewEntry): PreviewDigest | null {
    if (!this.wanted.has(entry.slug)) return null;
    const digest = this.digest(entry);
    this.digests.set(entry.slug, digest);
    return digest;
  }

  /** Adds a digest kept earlier (by a process that stopped mid-preview); its group's changes are in its key. */
  addDigest(slug: string, digest: PreviewDigest): void {
    if (!this.wanted.has(slug)) return;
    if (digest.ok && !this.changesByKey.has(digest.key)) this.changesByKey.set(digest.key, JSON.parse(digest.key) as GroupChange[]);
    this.digests.set(slug, digest);
  }

  private digest(entry: FleetPreviewEntry): PreviewDigest {
    if (!entry.ok) return { ok: false, error: entry.error?.message ?? "the preview failed" };
    const review = reviewOf(entry.changes as ResourceChange[], entry.changeSummary);
    // A property named after the tenant (a ConfigMap key "matih-acme.alloy") is the same change for every tenant.
    const ownName = new RegExp(`(?<![a-z0-9])${entry.slug}(?![a-z0-9])`, "g");
    const perType = new Map<string, GroupChange>();
    for (const c of review.changes) {
      const key = `${c.op}\u0000${c.type}`;
      const g = perType.get(key) ?? { op: c.op, type: c.type, count: 0, paths: [] };
      g.count += 1;
      g.paths = [...new Set([...g.paths, ...c.diffs.map((d) => d.path.replace(ownName, "{slug}"))])].sort();
      perType.set(key, g);
    }
    const changes = [...perType.values()].sort((a, b) => a.op.localeCompare(b.op) || a.type.localeCompare(b.type));
    const key = JSON.stringify(changes);
    if (!this.changesByKey.has(key)) this.changesByKey.set(key, changes);
    return { ok: true, key, changeSummary: { ...review.changeSummary }, destructiveResources: review.destructive ? review.destructiveResources : null, resources: resourceKeys(review.changes) };
  }

  finish(): { preview: FleetPreview; tenants: FleetChangeTenant[]; destructive: boolean } {
    const groups = new Map<string, PreviewGroup>();
    const preview: FleetPreview = { selected: this.selected.length, groups: [], destructive: [], failed: [], notPreviewed: [] };
    const tenants: FleetChangeTenant[] = [];
    const keyOf = new Map<FleetChangeTenant, string>();
    for (const t of this.selected) {
      const digest = this.digests.get(t.slug);
      if (!digest) {
        preview.notPreviewed.push({ tenantId: t.id, slug: t.slug, status: t.status });
        tenants.push({ tenantId: t.id, slug: t.slug, outcome: "not-previewed", group: null, resources: [] });
        continue;
      }
      if (!digest.ok) {
        preview.failed.push({ tenantId: t.id, slug: t.slug, error: digest.error });
        tenants.push({ tenantId: t.id, slug: t.slug, outcome: "failed", group: null, resources: [] });
        continue;
      }
      const changes = this.changesByKey.get(digest.key)!;
      let group = groups.get(digest.key);
      if (!group) {
        group = {
          tenants: 0, slugs: [],
          summary: changes.length === 0 ? "no change" : changes.map((c) => `${c.op} ${c.count} ${typeLabel(c.type)}`).join("; "),
          changeSummary: digest.changeSummary, changes, destructive: false,
        };
        groups.set(digest.key, group);
      }
      group.tenants += 1;
      group.slugs.push(t.slug);
      if (digest.destructiveResources) {
        group.destructive = true;
        preview.destructive.push({ tenantId: t.id, slug: t.slug, resources: digest.destructiveResources });
      }
      const member: FleetChangeTenant = { tenantId: t.id, slug: t.slug, outcome: changes.length === 0 ? "no-change" : "change", group: null, resources: digest.resources };
      tenants.push(member);
      keyOf.set(member, digest.key);
    }
    // Largest group first, "no change" after the changes of its size, then by first slug: the same order every time.
    const ordered = [...groups.entries()].sort(([, a], [, b]) => b.tenants - a.tenants || Number(a.changes.length === 0) - Number(b.changes.length === 0) || a.slugs[0]!.localeCompare(b.slugs[0]!));
    const indexOf = new Map(ordered.map(([key], index) => [key, index]));
    for (const [member, key] of keyOf) member.group = indexOf.get(key)!;
    preview.groups = ordered.map(([, g]) => g);
    return { preview, tenants, destructive: preview.destructive.length > 0 };
  }
}

/** Groups a whole fleet preview at once (FleetPreviewGrouper over every entry). */
export function groupFleetPreview(selected: readonly SelectedTenant[], entries: readonly FleetPreviewEntry[]): { preview: FleetPreview; tenants: FleetChangeTenant[]; destructive: boolean } {
  const grouper = new FleetPreviewGrouper(selected);
  grouper.add(entries);
  return grouper.finish();
}

/** A tenant's changed resources as compared between its fleet preview and its own preview: "op urn", sorted. */
export function resourceKeys(changes: readonly { op: string; urn: string }[]): string[] {
  return changes.filter((c) => c.op !== "same" && c.op !== "read").map((c) => `${c.op} ${c.urn}`).sort();
}

/** The wave each tenant goes in: `canary` first, then each wave `growth` times the one before. */
export function planWaves(count: number, config: Pick<RolloutConfig, "canary" | "growth">): number[] {
  const waves: number[] = [];
  let size = config.canary;
  let wave = 0;
  let inWave = 0;
  for (let i = 0; i < count; i++) {
    if (inWave >= size) {
      wave += 1;
      inWave = 0;
      size = Math.max(size + 1, Math.round(size * config.growth));
    }
    waves.push(wave);
    inWave += 1;
  }
  return waves;
}

export interface FleetChangeBody {
  settings: Record<string, unknown>;
  reason: string;
  selector?: FleetSelector;
}

export interface ApproveFleetBody {
  allowDestructive?: boolean;
  waves?: Partial<Omit<RolloutConfig, "allowDestructive">>;
}

export interface FleetChangeDeps {
  pool: pg.Pool;
  /** The engine: its batch fleet preview (the render engine), else its preview of one tenant, tenant by tenant in the background. */
  engine: {
    kind: string;
    previewFleet?: (settings: PlatformSettings, options?: { signal?: AbortSignal; onEntries?: (entries: FleetPreviewEntry[]) => void }) => Promise<FleetPreviewEntry[]>;
    preview?: (request: PreviewRequest) => Promise<PreviewResult>;
  };
  /** Where background previews are queued; without it only a batch fleet preview is possible. */
  previewQueue?: FleetPreviewQueue;
  /** Tenants a background preview previews at once. Default 1. */
  fleetPreviewConcurrency?: number;
  /** This process's settings, for its own cluster connection (withProcessConnection). */
  processSettings: PlatformSettings;
  queue: RolloutQueue;
  /** MATIH_REQUIRE_SEPARATE_APPROVER */
  requireSeparateApprover: boolean;
  /** Called after a rollout started or changed state, once committed (the live stream). */
  onRolloutChanged?: (rollout: RolloutRow) => void;
}

/** How often a background preview records its count. */
const PROGRESS_EVERY_MS = 2_000;

export class FleetChangeService {
  private readonly deps: FleetChangeDeps;

  constructor(deps: FleetChangeDeps) {
    this.deps = deps;
  }

  /**
   * Checks the patch and records the change with its preview on the selected
   * tenants. An engine with a batch fleet preview (the render engine: tens of
   * milliseconds a tenant in the warm workers) previews before the answer, and
   * the change awaits review at once. An engine that previews one stack at a
   * time (the Pulumi engine: seconds to minutes a tenant) gets the change
   * recorded PREVIEWING and a queued job previews it (previewInBackground);
   * the answer says so and the change awaits review when the job is done.
   */
  async propose(body: FleetChangeBody, principal: string): Promise<FleetChangeRow> {
    const reason = body.reason.trim();
    const reasonProblem = reason === "" ? "must say why" : printableLineProblem(reason);
    if (reasonProblem) throw new ApiError(400, "invalid_request", "the request body is invalid", [{ field: "reason", message: reasonProblem }]);
    const current = await currentSettingsVersion(this.deps.pool);
    if (!current) throw new Error("no platform settings version in the database");
    const proposed = patchedSettings(current.settings, body.settings);
    const changedPaths = changedSettingPaths(current.settings, proposed);
    if (changedPaths.length === 0) {
      throw new ApiError(400, "invalid_request", `the patch changes nothing: the settings would equal version ${current.version}`, [{ field: "settings", message: "changes no setting" }]);
    }
    const previewFleet = this.deps.engine.previewFleet?.bind(this.deps.engine);
    const inBackground = !previewFleet && !!this.deps.engine.preview && !!this.deps.previewQueue;
    if (!previewFleet && !inBackground) throw new ApiError(409, "not_supported", `the ${this.deps.engine.kind} engine has no fleet preview`);
    const selector = normalisedSelector(body.selector);
    const selected = await selectTenants(this.deps.pool, selector);
    const record = { id: randomUUID(), patch: body.settings, settings: proposed, baseVersion: current.version, changedPaths, selector, reason, createdBy: principal };
    if (inBackground) {
      return withTransaction(this.deps.pool, async (db) => {
        const change = await insertFleetChange(db, {
          ...record, status: "PREVIEWING", previewedAt: null, previewProgress: { done: 0, total: selected.length },
          preview: { selected: selected.length, groups: [], destructive: [], failed: [], notPreviewed: [] }, tenants: [], destructive: false,
        });
        await appendFleetAudit(db, {
          actor: principal, from: null, to: "PREVIEWING",
          message: `fleet change ${change.id} proposed on version ${current.version}: ${changedPaths.join(", ")}; ${selected.length} tenants to preview one stack at a time`,
          details: { fleetChangeId: change.id, baseVersion: current.version, changedPaths, selector, reason },
        });
        await this.deps.previewQueue!.schedule(change.id, { db });
        return change;
      });
    }
    // The database's clock, as run start times are: a tenant whose stack changed after this is previewed again at its turn.
    const previewedAt: Date = (await this.deps.pool.query(`SELECT now() AS t`)).rows[0].t;
    // Each chunk's entries are grouped as they come and not kept (FleetPreviewGrouper); an engine that answers with them all at once is grouped the same.
    const grouper = new FleetPreviewGrouper(selected);
    if (selected.length > 0) grouper.add(await previewFleet!(withProcessConnection(proposed, this.deps.processSettings), { onEntries: (entries) => grouper.add(entries) }));
    const { preview, tenants, destructive } = grouper.finish();
    return withTransaction(this.deps.pool, async (db) => {
      const change = await insertFleetChange(db, { ...record, previewedAt, preview, tenants, destructive });
      await appendFleetAudit(db, {
        actor: principal, from: null, to: "PENDING_REVIEW",
        message: `fleet change ${change.id} proposed on version ${current.version}: ${changedPaths.join(", ")}; ${selected.length} tenants previewed in ${preview.groups.length} groups`,
        details: { fleetChangeId: change.id, baseVersion: current.version, changedPaths, selector, reason },
      });
      return change;
    });
  }

  /**
   * The preview job of a change recorded PREVIEWING: each selected tenant
   * whose stack exists is previewed on the proposed settings through the
   * engine's own preview, as far as its stack reaches, a few at a time; the
   * entries are grouped as they come, and the change then awaits review (or
   * PREVIEW_FAILED, with the reason, when the job itself fails). A tenant
   * whose preview fails is listed as failed, as in a batch preview. Started
   * again from the beginning after a restart. Nothing is applied.
   */
  async previewInBackground(changeId: string, signal?: AbortSignal): Promise<void> {
    const preview = this.deps.engine.preview?.bind(this.deps.engine);
    const change = await findFleetChange(this.deps.pool, changeId);
    if (!change || change.status !== "PREVIEWING" || !preview) return;
    try {
      const selected = await selectTenants(this.deps.pool, change.selector);
      // What an earlier process previewed before it stopped is kept: only the rest is previewed again.
      const kept = await fleetPreviewDigests<PreviewDigest>(this.deps.pool, changeId);
      await startFleetPreview(this.deps.pool, changeId, selected.length, { resumed: kept.size > 0 });
      const grouper = new FleetPreviewGrouper(selected);
      for (const [slug, digest] of kept) grouper.addDigest(slug, digest);
      const targets: FleetPreviewTarget[] = [];
      for (const t of selected) {
        if (kept.has(t.slug)) continue;
        // A tenant no operation ever started on has no stack, and nothing to preview (listed as not previewed).
        if (!(await hasStack(this.deps.pool, t.id))) continue;
        const tenant = await findTenant(this.deps.pool, t.id);
        if (tenant) targets.push({ spec: tenantSpecOf(tenant), lastPhase: await currentExtent(this.deps.pool, t.id), stackSettings: await findStackSettings(this.deps.pool, t.slug) });
      }
      let done = selected.length - targets.length;
      let reported = Date.now();
      if (!(await recordFleetPreviewProgress(this.deps.pool, changeId, { done, total: selected.length }))) return;
      const settings = withProcessConnection(change.settings, this.deps.processSettings);
      // Rejected while it previews: the previews under way are cancelled and no more start.
      const withdrawn = new AbortController();
      await previewTenantByTenant(preview, targets, settings, {
        concurrency: this.deps.fleetPreviewConcurrency ?? 1,
        signal: signal ? AbortSignal.any([signal, withdrawn.signal]) : withdrawn.signal,
        onEntry: async (entry) => {
          const digest = grouper.addEntry(entry);
          if (digest && !(await keepFleetPreviewDigest(this.deps.pool, changeId, entry.slug, digest))) {
            withdrawn.abort(new Error(`fleet change ${changeId} is no longer awaiting its preview`));
          }
          done += 1;
          // The count for readers, every few seconds rather than every tenant; it also finds a rejection.
          if (Date.now() - reported >= PROGRESS_EVERY_MS) {
            reported = Date.now();
            if (!(await recordFleetPreviewProgress(this.deps.pool, changeId, { done, total: selected.length }))) withdrawn.abort(new Error(`fleet change ${changeId} is no longer awaiting its preview`));
          }
        },
      }).catch((error) => {
        if (!withdrawn.signal.aborted) throw error;
      });
      if (withdrawn.signal.aborted) return;
      const outcome = grouper.finish();
      await withTransaction(this.deps.pool, async (db) => {
        if (!(await finishFleetPreview(db, changeId, outcome))) return;
        await dropFleetPreviewDigests(db, changeId);
        await appendFleetAudit(db, {
          actor: change.createdBy, from: "PREVIEWING", to: "PENDING_REVIEW",
          message: `fleet change ${changeId} previewed: ${selected.length} tenants in ${outcome.preview.groups.length} groups${outcome.preview.failed.length > 0 ? `, ${outcome.preview.failed.length} failed` : ""}`,
          details: { fleetChangeId: changeId },
        });
      });
    } catch (error) {
      // Shutting down: the job is tried again by the next process.
      if (signal?.aborted) throw error;
      const message = error instanceof Error ? error.message : String(error);
      await withTransaction(this.deps.pool, async (db) => {
        if (!(await finishFleetPreview(db, changeId, { error: message }))) return;
        await dropFleetPreviewDigests(db, changeId);
        await appendFleetAudit(db, { actor: change.createdBy, from: "PREVIEWING", to: "PREVIEW_FAILED", message: `fleet change ${changeId}: its preview failed: ${message}`, details: { fleetChangeId: changeId } });
      });
    }
  }

  async get(id: string): Promise<FleetChangeRow> {
    const change = await findFleetChange(this.deps.pool, id);
    if (!change) throw notFound(`fleet change "${id}"`);
    return change;
  }

  /**
   * Approves a fleet change: its settings become the current version and a
   * rollout starts, in one transaction. Refused when the change is not
   * awaiting review, by its requester under four eyes, once another version
   * became current (the preview no longer describes it), or when it is
   * destructive and the body does not allow it.
   */
  async approve(id: string, principal: string, body: ApproveFleetBody = {}): Promise<RolloutRow> {
    const config = rolloutConfig(body);
    const outcome = await withTransaction(this.deps.pool, async (db) => {
      const change = await findFleetChange(db, id, { forUpdate: true });
      if (!change) throw notFound(`fleet change "${id}"`);
      if (change.status !== "PENDING_REVIEW") throw new ApiError(409, "change_not_pending", `fleet change ${id} is ${change.status} and cannot be approved`);
      if (this.deps.requireSeparateApprover && change.createdBy === principal) {
        throw new ApiError(403, "same_principal", `${principal} proposed fleet change ${id}; another admin must approve it (MATIH_REQUIRE_SEPARATE_APPROVER is on)`);
      }
      // The version lock first: a version recorded at this moment by anyone else is seen below.
      await db.query(`SELECT pg_advisory_xact_lock(hashtext('matih.platform_settings_versions'))`);
      const current = await currentSettingsVersion(db);
      if (current?.version !== change.baseVersion) {
        await updateFleetChange(db, id, { status: "STALE" });
        await appendFleetAudit(db, { actor: principal, from: "PENDING_REVIEW", to: "STALE", message: `fleet change ${id} is stale: version ${current?.version} became current after its preview on ${change.baseVersion}`, details: { fleetChangeId: id } });
        return { refused: new ApiError(409, "plan_stale", `platform settings version ${current?.version} became current after fleet change ${id} was previewed on version ${change.baseVersion}; propose the change again`) };
      }
      if (change.destructive && !body.allowDestructive) {
        const slugs = change.preview.destructive.map((d) => d.slug).join(", ");
        throw new ApiError(409, "destructive_change", `fleet change ${id} deletes or replaces stateful resources of ${slugs}; approve with {"allowDestructive": true} once the data is taken care of`);
      }
      const version = await appendSettingsVersionIn(db, { settings: change.settings, createdBy: principal, reason: `fleet change ${id}: ${change.reason}`, changedPaths: change.changedPaths });
      await updateFleetChange(db, id, { status: "APPROVED", decidedBy: principal, version: version.version });
      // Tenants that change go first, so that the canary wave tries the change; each part in slug order.
      const order = [...change.tenants].sort((a, b) => Number(b.outcome === "change") - Number(a.outcome === "change") || a.slug.localeCompare(b.slug));
      const waves = planWaves(order.length, config);
      const rollout = await insertRollout(
        db,
        { id: randomUUID(), changeId: id, settingsVersion: version.version, config, waveCount: order.length === 0 ? 0 : waves.at(-1)! + 1, createdBy: principal },
        order.map((t, i) => ({ tenantId: t.tenantId, slug: t.slug, wave: waves[i]!, position: i })),
      );
      await appendFleetAudit(db, {
        actor: principal, from: "PENDING_REVIEW", to: "APPROVED",
        message: `fleet change ${id} approved by ${principal}: settings version ${version.version} is current; rollout ${rollout.id} of ${order.length} tenants in ${rollout.waveCount} waves started`,
        details: { fleetChangeId: id, requestedBy: change.createdBy, settingsVersion: version.version, rolloutId: rollout.id, config },
      });
      await enqueueOutbox(db, {
        kind: "event", tenantId: null, type: "fleet.rollout_started",
        payload: { rolloutId: rollout.id, fleetChangeId: id, settingsVersion: version.version, changedPaths: change.changedPaths, tenants: order.length, waves: rollout.waveCount, config, approvedBy: principal },
      });
      await this.deps.queue.schedule(rollout.id, { db });
      return { ok: rollout };
    });
    if ("refused" in outcome) throw outcome.refused;
    this.deps.onRolloutChanged?.(outcome.ok);
    return outcome.ok;
  }

  async reject(id: string, principal: string, reason?: string): Promise<FleetChangeRow> {
    const note = reason?.trim() ? reason.trim() : null;
    if (note) {
      const problem = printableLineProblem(note);
      if (problem) throw new ApiError(400, "invalid_request", "the request body is invalid", [{ field: "reason", message: problem }]);
    }
    return withTransaction(this.deps.pool, async (db) => {
      const change = await findFleetChange(db, id, { forUpdate: true });
      if (!change) throw notFound(`fleet change "${id}"`);
      // One still previewing (or whose preview failed) may be withdrawn too: its preview job stops at its next count.
      if (!["PENDING_REVIEW", "PREVIEWING", "PREVIEW_FAILED"].includes(change.status)) throw new ApiError(409, "change_not_pending", `fleet change ${id} is ${change.status} and cannot be rejected`);
      await updateFleetChange(db, id, { status: "REJECTED", decidedBy: principal, rejectionReason: note });
      await dropFleetPreviewDigests(db, id);
      await appendFleetAudit(db, { actor: principal, from: change.status, to: "REJECTED", message: `fleet change ${id} rejected by ${principal}${note ? `: ${note}` : ""}`, details: { fleetChangeId: id } });
      return (await findFleetChange(db, id))!;
    });
  }
}

function normalisedSelector(selector: FleetSelector | undefined): FleetSelector {
  const out: FleetSelector = {};
  for (const key of ["tiers", "regions", "slugs"] as const) {
    const list = selector?.[key];
    if (list && list.length > 0) out[key] = [...new Set(list)].sort();
  }
  return out;
}

/** Tenants not deleted that match every list of the selector given (none: the whole fleet), in slug order. */
async function selectTenants(pool: pg.Pool, selector: FleetSelector): Promise<SelectedTenant[]> {
  const values: unknown[] = [];
  const where = ["status <> 'DELETED'"];
  if (selector.tiers) where.push(`tier = ANY($${values.push(selector.tiers)}::text[])`);
  if (selector.regions) where.push(`region = ANY($${values.push(selector.regions)}::text[])`);
  if (selector.slugs) where.push(`slug = ANY($${values.push(selector.slugs)}::text[])`);
  const { rows } = await pool.query(`SELECT id, slug, status FROM tenants WHERE ${where.join(" AND ")} ORDER BY slug`, values);
  return rows;
}

/** The body's waves over the defaults, each checked. */
export function rolloutConfig(body: ApproveFleetBody): RolloutConfig {
  const config: RolloutConfig = { ...DEFAULT_ROLLOUT, ...body.waves, allowDestructive: body.allowDestructive ?? false };
  const problems: ValidationProblem[] = [];
  const whole = (field: keyof RolloutConfig, min: number) => {
    const v = config[field] as number;
    if (!Number.isInteger(v) || v < min) problems.push({ field: `waves.${field}`, message: `must be a whole number of at least ${min}` });
  };
  whole("canary", 1);
  whole("concurrency", 1);
  whole("canaryMaxFailures", 0);
  if (!(config.growth >= 1 && config.growth <= 100)) problems.push({ field: "waves.growth", message: "must be a number from 1 to 100" });
  if (!(config.waveFailurePercent >= 0 && config.waveFailurePercent <= 100)) problems.push({ field: "waves.waveFailurePercent", message: "must be a percentage from 0 to 100" });
  if (problems.length > 0) throw new ApiError(400, "invalid_request", "the request body is invalid", problems);
  return config;
}
