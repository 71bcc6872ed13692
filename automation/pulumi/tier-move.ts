/**
 * The Pulumi engine's tier change when the tenant's data moves to another
 * server (shared ↔ dedicated, issue 22): expand → move → verify before the
 * switch, the old target removed after it.
 *
 * - expand: an update of the stack's own tier's program with the new target
 *   declared beside it (TenantProgramOptions.moveDatabaseTo): for a dedicated
 *   target the server, its database, admin password and firewall rules under
 *   the names the new tier gives them, and on either target the tenant role
 *   with its password. Previewed first and refused unless it only creates:
 *   the credentials Secret and everything the workloads use stay as they
 *   are, on the old target.
 * - move, verify: automation/data-move copies the tenant's schema from the
 *   old target to the new one and compares per-table row counts and
 *   checksums, sequences, grants and large objects; the tenant's writes on
 *   the old target are stopped first (freezeWrites) and let go again when
 *   anything before the switch fails.
 * - switch: the caller's update of the reviewed program (the new tier with
 *   tierChangeFrom), held to the reviewed plan minus what expand already did,
 *   which is checked right after expand, before any write is stopped.
 * - contract: after that update (whose deletes Pulumi runs after every
 *   other step, so after every workload rolled) the tenant is removed from
 *   the shared server when it left it; a dedicated server left behind is one
 *   of the update's deletes.
 *
 * The admin logins: the shared server's is the one the engine gives the
 * postgresql provider (settings and the admin password's environment
 * variable); a dedicated server's comes from the expand's secret output
 * `dedicatedDatabaseAdmin`. Neither is logged or put in a message.
 */
import type { OutputMap } from "@pulumi/pulumi/automation/index.js";
import type { PlatformSettings } from "../../model/settings.ts";
import { postgresIdentifier } from "../../model/spec.ts";
import { tierProfile, type Tier } from "../../model/tiers.ts";
import { phaseByNumber, phaseOfUrn } from "../../model/phases.ts";
import {
  DatabaseMoveError, INCOMPLETE_MARKER, freezeWrites, measureSchema, moveTenantSchema, removeTenant, thawWrites, withAdmin, type PostgresEndpoint,
} from "../data-move/index.ts";
import { PlanMismatchError, ResourceFailedError } from "../core/errors.ts";
import { phaseRef } from "../core/phase-tracker.ts";
import type { DatabasePlacement, DataMoveFigures, ProgressEventBody, SubStepStatus, TierChangePreview } from "../core/types.ts";
import { planDifferences, type StepKind } from "./plan-check.ts";

const DATABASE_PHASE = phaseRef(phaseByNumber(2));

export function placementOf(tier: Tier): DatabasePlacement {
  return tierProfile(tier).database.strategy === "database-per-tenant" ? "dedicated" : "shared";
}

/** Where the data moves in a change from `from` to `to`; null when it stays on its server. */
export function dataMoveOf(from: Tier, to: Tier): { from: DatabasePlacement; to: DatabasePlacement } | null {
  const a = placementOf(from);
  const b = placementOf(to);
  return a === b ? null : { from: a, to: b };
}

/** The shared server's admin login, as the engine configures the postgresql provider with it; null without a password. */
export function sharedAdminEndpoint(settings: PlatformSettings, env: NodeJS.ProcessEnv): PostgresEndpoint {
  const password = env[settings.postgres.adminPasswordEnv];
  return {
    host: settings.postgres.host, port: settings.postgres.port, database: settings.postgres.database, user: settings.postgres.adminUser,
    ...(password ? { password } : {}), sslMode: settings.postgres.sslMode,
  };
}

/** The dedicated server's admin login from the expand's secret output; throws when the stack has none. */
export function dedicatedAdminEndpoint(outputs: OutputMap): PostgresEndpoint {
  const value = outputs.dedicatedDatabaseAdmin?.value as Partial<Record<"host" | "database" | "user" | "password" | "sslMode", unknown> & { port: unknown }> | undefined;
  if (!value || typeof value.host !== "string" || value.host === "" || typeof value.database !== "string" || typeof value.user !== "string" || typeof value.password !== "string") {
    throw new Error("the stack has no dedicated server admin connection (output dedicatedDatabaseAdmin) after expand");
  }
  const sslMode = value.sslMode === "disable" || value.sslMode === "require" || value.sslMode === "verify-full" || value.sslMode === "verify-ca" || value.sslMode === "prefer" ? value.sslMode : "require";
  return { host: value.host, port: Number(value.port ?? 5432), database: value.database, user: value.user, password: value.password, sslMode };
}

/** The preview's account of a change whose data moves; `data` measured on the shared source when the engine can reach it. */
export async function movePreview(from: Tier, to: Tier, slug: string, settings: PlatformSettings, env: NodeJS.ProcessEnv): Promise<TierChangePreview> {
  const move = dataMoveOf(from, to)!;
  const base = { steps: ["expand", "move", "verify", "switch", "contract"] as const, move };
  if (move.from === "dedicated") {
    return { ...base, data: null, note: "the dedicated server's admin login is known to the engine only once expand has run; the move measures the data when it runs" };
  }
  const schema = postgresIdentifier(slug);
  try {
    const data = await measureSchema(sharedAdminEndpoint(settings, env), schema);
    return data ? { ...base, data } : { ...base, data: null, note: `schema ${schema} does not exist on the shared server` };
  } catch (error) {
    return { ...base, data: null, note: `the shared server could not be measured: ${redact((error as Error).message, sharedAdminEndpoint(settings, env))}` };
  }
}

function redact(text: string, ...endpoints: (PostgresEndpoint | null)[]): string {
  let out = text;
  for (const e of endpoints) if (e?.password) out = out.split(e.password).join("[secret]");
  return out;
}

/** Whether the tenant role is on the target with a login: expand's role resource made it; the move needs it as owner. */
async function roleCanLogIn(endpoint: PostgresEndpoint, role: string): Promise<boolean | null> {
  return withAdmin(endpoint, "matih-move-expand", async (c) => (await c.query<{ rolcanlogin: boolean }>("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", [role])).rows[0]?.rolcanlogin ?? null);
}

/** What the engine gives the move: the stack commands it runs, so tests can script them. */
export interface TierMoveContext {
  readonly slug: string;
  readonly from: Tier;
  readonly to: Tier;
  readonly settings: PlatformSettings;
  readonly env: NodeJS.ProcessEnv;
  readonly signal: AbortSignal;
  readonly emit: (body: ProgressEventBody) => void;
  /** Records phase 2 as failed (PhaseTracker.failPhase). */
  readonly failPhase: (message: string) => void;
  /** Previews the expand program: the change each resource would get. */
  readonly previewExpand: () => Promise<ReadonlyMap<string, StepKind>>;
  /** The stack's outputs as they are now (an earlier attempt's expand left the dedicated admin login there). */
  readonly readOutputs: () => Promise<OutputMap>;
  /** Applies the expand program; resolves to the stack's outputs after it. */
  readonly applyExpand: () => Promise<OutputMap>;
  /**
   * After expand, before anything is frozen or copied: the switch's reviewed
   * plan must still hold for what expand did not do (assertPlanHoldsAfterExpand).
   * Its error fails the run as it is.
   */
  readonly checkPlan?: (expanded: ReadonlySet<string>) => Promise<void>;
  /** pg_dump/pg_restore's directory; default MATIH_PG_BIN. */
  readonly clientBinDir?: string;
}

/** What expand and move leave for the switch and the contract. */
export interface MovedData {
  readonly move: { readonly from: DatabasePlacement; readonly to: DatabasePlacement };
  /** The resources expand created: the switch's plan no longer creates them. */
  readonly expanded: ReadonlySet<string>;
  readonly source: PostgresEndpoint;
  readonly target: PostgresEndpoint;
  /** What verify compared; null when an earlier attempt of the change did the move. */
  readonly figures: DataMoveFigures | null;
}

/**
 * Runs expand, move and verify. On any failure phase 2 fails: the Secret was
 * never touched (expand may only create), what the move wrote on the target
 * is cleaned by the move, and the write freeze on the old target is lifted.
 */
export async function expandAndMove(ctx: TierMoveContext): Promise<MovedData> {
  const move = dataMoveOf(ctx.from, ctx.to);
  if (!move) throw new Error(`a change from ${ctx.from} to ${ctx.to} moves no data`);
  const schema = postgresIdentifier(ctx.slug);
  const step = (name: "expand" | "move" | "verify", status: SubStepStatus, message: string, data?: DataMoveFigures) =>
    ctx.emit({ type: "phase-step", phase: DATABASE_PHASE, step: name, status, message, ...(data ? { data } : {}) });
  let endpoints: PostgresEndpoint[] = [];
  const fail = (name: "expand" | "move" | "verify", message: string): never => {
    const text = redact(message, ...endpoints);
    step(name, "failed", text);
    const full = `phase 2 ${name} failed: ${text}`;
    ctx.failPhase(full);
    throw new ResourceFailedError(full, { phase: DATABASE_PHASE, urn: null, retryable: false });
  };

  const earlier = await movedEarlier(ctx, move, schema);
  if (earlier) {
    // Moving again would refuse the copy it finds (it never overwrites an unmarked schema), and the workloads may already write there.
    const why = `an earlier attempt of this change copied and verified the data to the ${move.to} server; the tenant's writes on the ${move.from} server have stayed stopped since`;
    for (const name of ["expand", "move", "verify"] as const) step(name, "skipped", why);
    return earlier;
  }

  // expand
  step("expand", "started", `declaring the ${move.to} target beside the ${move.from} one; the credentials Secret stays on the ${move.from} one`);
  let expanded: Set<string>;
  let outputs: OutputMap;
  try {
    const planned = await ctx.previewExpand();
    // Creates, and phase 4's egress widened to the new target (PhaseContext.reachesDedicatedServer): nothing else.
    const other = [...planned].filter(([urn, kind]) => kind !== "create" && !isEgressPolicyUpdate(urn, kind));
    if (other.length > 0) {
      fail("expand", `the expand would also ${other.slice(0, 3).map(([urn, kind]) => `${kind} ${urn}`).join(", ")}${other.length > 3 ? ` and ${other.length - 3} more` : ""}: the stack is not as the ${ctx.from} tier left it; nothing of the expand was applied`);
    }
    expanded = new Set(planned.keys());
    outputs = await ctx.applyExpand();
  } catch (error) {
    if (error instanceof ResourceFailedError) throw error;
    // Another run holds the stack: the run's lock handling waits and runs it all again, nothing having been frozen yet.
    if (error instanceof Error && error.name === "ConcurrentUpdateError") throw error;
    return fail("expand", (error as Error).message);
  }
  let source: PostgresEndpoint;
  let target: PostgresEndpoint;
  try {
    const shared = sharedAdminEndpoint(ctx.settings, ctx.env);
    const dedicated = dedicatedAdminEndpoint(outputs);
    [source, target] = move.from === "shared" ? [shared, dedicated] : [dedicated, shared];
    endpoints = [source, target];
    const login = await roleCanLogIn(target, schema);
    if (login !== true) fail("expand", `the tenant role ${schema} ${login === null ? "is missing" : "cannot log in"} on the ${move.to} server after expand`);
  } catch (error) {
    if (error instanceof ResourceFailedError) throw error;
    return fail("expand", (error as Error).message);
  }
  step("expand", "succeeded", `${expanded.size} resource(s) of the ${move.to} target created; the credentials Secret still points at the ${move.from} one`);
  // A plan that no longer holds stops the change here, with the old target serving and nothing copied.
  await ctx.checkPlan?.(expanded);

  // move and verify
  let ended = 0;
  try {
    ended = await freezeWrites(source, schema);
  } catch (error) {
    step("move", "started", `stopping the tenant's writes on the ${move.from} server`);
    fail("move", `the tenant's writes could not be stopped on the ${move.from} server: ${(error as Error).message}`);
  }
  step("move", "started", `writes stopped on the ${move.from} server (${ended} session(s) ended); copying schema ${schema} to the ${move.to} server`);
  let verifying = false;
  try {
    const report = await moveTenantSchema({
      source, target, schema, role: schema, signal: ctx.signal,
      ...(ctx.clientBinDir ? { clientBinDir: ctx.clientBinDir } : {}),
      onStep: (s) => {
        if (s === "verify" && !verifying) {
          verifying = true;
          step("move", "succeeded", "schema, data, sequences, grants and large objects copied");
          step("verify", "started", "comparing per-table row counts and checksums on both servers");
        }
      },
    });
    const figures = { tables: report.tables.length, rows: report.rows, bytes: report.tables.reduce((n, t) => n + t.bytes, 0) };
    step("verify", "succeeded", `${report.tables.length} table(s), ${report.rows} row(s): counts and checksums equal on both servers`, figures);
    return { move, expanded, source, target, figures };
  } catch (error) {
    const message = error instanceof DatabaseMoveError ? error.message : `database move failed: ${(error as Error).message}`;
    // Before the switch: the old target serves again as it did.
    await thawWrites(source, schema).catch(() => undefined);
    const failed = error instanceof DatabaseMoveError && (error.step === "verify" || error.step === "finish") ? "verify" : "move";
    return fail(failed, `${message}; the ${move.from} server keeps serving, writes allowed again`);
  }
}

/** Whether the tenant role's transactions default to read-only in that database: the move's freeze. */
async function frozen(endpoint: PostgresEndpoint, role: string): Promise<boolean> {
  return withAdmin(endpoint, "matih-move-expand", async (c) => (await c.query(
    `SELECT 1 FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole JOIN pg_database d ON d.oid = s.setdatabase
      WHERE r.rolname = $1 AND d.datname = current_database() AND 'default_transaction_read_only=on' = ANY (s.setconfig)`, [role])).rows.length === 1);
}

/** The schema's comment on that server: undefined when the schema is absent, null when it has none. */
async function schemaComment(endpoint: PostgresEndpoint, schema: string): Promise<string | null | undefined> {
  return withAdmin(endpoint, "matih-move-expand", async (c) => {
    const { rows } = await c.query<{ comment: string | null }>("SELECT obj_description(oid, 'pg_namespace') AS comment FROM pg_namespace WHERE nspname = $1", [schema]);
    return rows.length === 0 ? undefined : rows[0]!.comment;
  });
}

/**
 * A retry of a change whose switch failed part-way: the earlier attempt's
 * expand left the dedicated admin login in the outputs, its move a finished
 * copy on the target (no incomplete marker), and the old target still frozen
 * (a failure before the switch lifts the freeze; only a verified move keeps
 * it). Then nothing was written to the old target since the copy, and the
 * change goes on from the switch. Anything else (or a server that does not
 * answer) is not that case: the move runs as usual, and refuses what it must.
 */
async function movedEarlier(ctx: TierMoveContext, move: MovedData["move"], schema: string): Promise<MovedData | null> {
  try {
    const outputs = await ctx.readOutputs();
    if (!outputs.dedicatedDatabaseAdmin) return null;
    const shared = sharedAdminEndpoint(ctx.settings, ctx.env);
    const dedicated = dedicatedAdminEndpoint(outputs);
    const [source, target] = move.from === "shared" ? [shared, dedicated] : [dedicated, shared];
    if (!(await frozen(source, schema))) return null;
    const comment = await schemaComment(target, schema);
    if (comment === undefined || (comment ?? "").startsWith(INCOMPLETE_MARKER)) return null;
    return { move, expanded: new Set(), source, target, figures: null };
  } catch {
    return null;
  }
}

/**
 * Phase 4 following the database egress through a tier change that moves the
 * data: its NetworkPolicies updated (widened in the expand, narrowed in the
 * contract: PhaseContext.reachesDedicatedServer), and its database check Job,
 * named after the policies, replaced and run again under them.
 */
export function isEgressPolicyUpdate(urn: string, kind: StepKind): boolean {
  if (phaseOfUrn(urn)?.number !== NETWORKING_PHASE) return false;
  const type = (urn.split("::")[2] ?? "").split("$").at(-1);
  if (type === "kubernetes:networking.k8s.io/v1:NetworkPolicy") return kind === "update";
  return type === "kubernetes:batch/v1:Job" && (kind === "replace" || kind === "update");
}

const NETWORKING_PHASE = 4;

/**
 * The switch's plan check after expand: the reviewed plan (of the new tier's
 * program) must still hold for everything expand did not do. Expand's
 * creates that the plan has are now done (no change); its own resources that
 * the plan does not have (the role's admin provider and role resource on the
 * new target) are now deleted from the state, which the review did not
 * show; anything else is a difference, and nothing is applied.
 */
export function assertPlanHoldsAfterExpand(planned: ReadonlyMap<string, StepKind>, now: ReadonlyMap<string, StepKind>, expanded: ReadonlySet<string>): void {
  const plan = new Map(planned);
  const current = new Map(now);
  for (const urn of expanded) {
    // What expand created, or updated as the switch would (phase 4's egress), the switch now leaves as it is.
    const kind = plan.get(urn);
    if (kind === "create" || ((kind === "update" || kind === "replace") && !current.has(urn))) plan.delete(urn);
    else if (!plan.has(urn) && current.get(urn) === "delete" && phaseOfUrn(urn)?.number === DATABASE_PHASE.number) current.delete(urn);
  }
  const differences = planDifferences(plan, current);
  if (differences.length > 0) {
    throw new PlanMismatchError(`after expand the update does not match the reviewed plan, and nothing was copied or switched: ${differences.slice(0, 5).join("; ")}${differences.length > 5 ? `; and ${differences.length - 5} more` : ""}; the old target keeps serving; preview again and review the new plan`);
  }
}

/** The contract's share of a moved change: the tenant leaves the shared server it moved off (a dedicated server goes with the switch's deletes). */
export function oldDataRemoval(moved: MovedData, slug: string): { describe: string; run: () => Promise<void> } | null {
  if (moved.move.from !== "shared") return null;
  const schema = postgresIdentifier(slug);
  return {
    describe: `schema ${schema}, its large objects and role are dropped on the shared server`,
    run: async () => {
      try {
        await removeTenant(moved.source, schema, schema);
      } catch (error) {
        throw new Error(redact(`the tenant could not be removed from the shared server: ${(error as Error).message}`, moved.source, moved.target));
      }
    },
  };
}
