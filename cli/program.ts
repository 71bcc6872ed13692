/**
 * The `matih` command tree (commander): tenants, watch, changes, drift and
 * completion, each with examples in its --help. Every command answers in
 * the format of `--output` (table, json or yaml); tables are for people,
 * json and yaml carry the API's own answer for scripts.
 */
import { createInterface } from "node:readline/promises";
import { Command, InvalidArgumentError, Option } from "commander";
import { TIERS } from "../model/tiers.ts";
import { Api, CliError, query, resolveConnection, seg } from "./client.ts";
import { bytes, renderChange, showValue } from "./change-view.ts";
import { completionScript } from "./completion.ts";
import { colorsFor, duration, fields, formatData, OUTPUT_FORMATS, shorterTime, shortTime, statusColor, table, type Colors, type OutputFormat } from "./output.ts";
import type {
  ActionAccepted, BackupList, Change, ChangeAccepted, ChangeList, DriftCheckNow, DriftHistory, DriftRun, DriftSummary, FleetPage, ProvisioningStatus, RestoreApproved, RunAccepted, Tenant,
} from "./types.ts";
import { finalLine, plainError, watchTenant } from "./watch.ts";

export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
}

interface GlobalOptions {
  url?: string;
  token?: string;
  output: OutputFormat;
  color: boolean;
  progress: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RUN_DONE = new Set(["SUCCEEDED", "FAILED"]);
const CHANGE_WAITING = new Set(["PREVIEWING"]);

const integer = (what: string, min: number, max: number) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${what} must be a whole number from ${min} to ${max}`);
  return n;
};

const examples = (lines: string[]) => `\nExamples:\n${lines.map((l) => `  ${l}`).join("\n")}\n`;

export function buildProgram(io: Io): Command {
  const program = new Command("matih");
  // Before any subcommand is added, so that they inherit it: usage errors throw (exit 2 in matih.ts) instead of exiting 1.
  program.exitOverride();
  program.configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) });

  /** What every action needs: the API, colours, the format and where to write. */
  const context = (command: Command) => {
    const options = command.optsWithGlobals<GlobalOptions>();
    const api = new Api(resolveConnection({ url: options.url, token: options.token }, io.env, io.cwd));
    const colors = colorsFor(io.stdout, io.env, options.color && options.output === "table");
    const errColors = colorsFor(io.stderr, io.env, options.color);
    const out = (text: string) => io.stdout.write(text.endsWith("\n") || text === "" ? text : `${text}\n`);
    /** JSON or YAML of `data`, or `asTable()` for people. */
    const emit = (data: unknown, asTable: () => string) => out(options.output === "table" ? asTable() : formatData(data, options.output));
    return { api, colors, errColors, out, emit, format: options.output, progress: options.progress };
  };
  type Context = ReturnType<typeof context>;

  /** Follows the tenant's run to its end; the exit code says how it ended. */
  async function follow(ctx: Context, tenant: string): Promise<void> {
    const started = Date.now();
    const asTable = ctx.format === "table";
    // Redrawing needs a terminal of a known size; one without (rows 0) gets plain lines.
    const live = asTable && ctx.progress && io.stdout.isTTY === true && io.env.TERM !== "dumb" && (io.stdout as { rows?: number }).rows !== 0 && io.stdout.columns !== 0;
    const result = await watchTenant({
      api: ctx.api, tenant, stream: io.stdout, colors: ctx.colors,
      mode: !asTable ? "quiet" : live ? "live" : "lines",
    });
    const { text, exitCode } = finalLine(result, ctx.colors, Date.now() - started);
    if (asTable) ctx.out(text);
    else ctx.out(formatData({ tenantStatus: result.tenantStatus, runStatus: result.runStatus, failure: result.failure, status: result.status }, ctx.format as "json" | "yaml"));
    process.exitCode = exitCode;
  }

  /** A teardown or rollback answer: its run queued (then followed with --watch), or the request awaiting another admin. */
  async function actionOutcome(ctx: Context, answer: ActionAccepted, what: string, watch: boolean): Promise<void> {
    if ("approval" in answer) {
      ctx.emit(answer, () => `${answer.message}\nrequest: ${answer.change.id}; another admin approves it with: matih changes approve ${answer.change.tenantId} ${answer.change.id}`);
      return;
    }
    if (watch) {
      if (ctx.format === "table") ctx.out(`${what} of ${answer.tenant.slug} queued (run ${answer.run.id})`);
      await follow(ctx, answer.tenant.id);
      return;
    }
    ctx.emit(answer, () => `${what} of ${answer.tenant.slug} queued (run ${answer.run.id}); follow it with: matih watch ${answer.tenant.slug}`);
  }

  program
    .description("Provision, review and check matih tenants from the command line, through the tenant-provisioning service's API.")
    .version("0.1.0")
    .option("--url <url>", "the service's base URL (env MATIH_URL; default http://127.0.0.1:8080)")
    .option("--token <token>", "a bearer token (env MATIH_TOKEN; default: .matih/admin-token beside a default `npm start`)")
    .addOption(new Option("-o, --output <format>", "output format").choices(OUTPUT_FORMATS).default("table"))
    .option("--no-color", "no colours (also with NO_COLOR set, or when not writing to a terminal)")
    .option("--no-progress", "with --watch on a terminal, print one line per transition instead of redrawing")
    .showHelpAfterError("(run with --help for usage)")
    .addHelpText("after", examples([
      "matih tenants create acme --tier professional --region eastus --admin-email ops@acme.example --watch",
      "matih tenants list",
      "matih changes request acme --tier enterprise --wait",
      "matih changes show acme 1b2c",
      "matih changes approve acme 1b2c --allow-destructive --watch",
      "matih tenants delete acme --confirm acme --watch",
      "matih drift status",
      "MATIH_URL=https://matih.example MATIH_TOKEN=... matih tenants list -o json",
      "source <(matih completion bash)",
    ]));

  // ---- tenants
  const tenants = program.command("tenants").description("create, list, inspect, retry, roll back and delete tenants");

  tenants.command("list").alias("ls")
    .description("one line per tenant, newest first, with its run's progress and drift")
    .addOption(new Option("--status <status>", "only tenants in this status (DELETED ones only when asked for)").choices(["PROVISIONING", "ACTIVE", "UPDATING", "FAILED", "DEPROVISIONING", "DELETED"]))
    .addOption(new Option("--tier <tier>", "only this tier").choices(TIERS))
    .option("--search <text>", "part of the slug")
    .option("--limit <n>", "at most this many", integer("--limit", 1, 200), 50)
    .option("--offset <n>", "skip this many", integer("--offset", 0, Number.MAX_SAFE_INTEGER), 0)
    .addHelpText("after", examples(["matih tenants list --status FAILED", "matih tenants list -o json | jq '.items[].slug'"]))
    .action(async (options: { status?: string; tier?: string; search?: string; limit: number; offset: number }, command: Command) => {
      const ctx = context(command);
      const page = await ctx.api.get<FleetPage>(`/api/v1/fleet${query({ status: options.status, tier: options.tier, search: options.search, limit: options.limit, offset: options.offset })}`);
      ctx.emit(page, () => {
        if (page.items.length === 0) return "no tenants\n";
        const rows = page.items.map((t) => [
          t.slug, t.tier, t.region, statusColor(t.status, ctx.colors),
          t.run && !RUN_DONE.has(t.run.status) ? `${t.progress}%${t.currentPhase ? ` p${t.currentPhase.number}` : ""}` : t.status === "ACTIVE" ? "100%" : `${t.progress}%`,
          t.drift ? statusColor(t.drift.state, ctx.colors) : ctx.colors.dim("-"),
          duration(t.durationMs),
        ]);
        const shown = page.offset + page.items.length;
        return table(["SLUG", "TIER", "REGION", "STATUS", "PROGRESS", "DRIFT", "TOOK"], rows, ctx.colors) + (shown < page.total ? ctx.colors.dim(`${page.items.length} of ${page.total}; --offset ${shown} for more\n`) : "");
      });
    });

  tenants.command("get").argument("<tenant>", "the tenant's slug or id")
    .description("a tenant, its tier's profile and every phase of its latest run")
    .addHelpText("after", examples(["matih tenants get acme", "matih tenants get acme -o yaml"]))
    .action(async (tenant: string, _options: object, command: Command) => {
      const ctx = context(command);
      const [t, status] = await Promise.all([
        ctx.api.get<Tenant>(`/api/v1/tenants/${seg(tenant)}`),
        ctx.api.get<ProvisioningStatus>(`/api/v1/tenants/${seg(tenant)}/provisioning/status`),
      ]);
      ctx.emit({ tenant: t, status }, () => {
        const c = ctx.colors;
        const head = fields([
          ["slug", t.slug], ["id", t.id], ["name", t.displayName], ["tier", t.tier], ["region", t.region], ["admin email", t.adminEmail],
          ["status", statusColor(t.status, c)],
          ["requested", `${t.requestedBy} at ${shortTime(t.requestedAt)}`],
          ["run", status.run ? `${status.run.kind} ${statusColor(status.run.status, c)}, attempt ${status.run.attempt} of ${status.run.maxAttempts}, ${status.progress}%` : "-"],
          ["took", status.durationMs !== null ? duration(status.durationMs) : undefined],
          ["error", t.provisioningError ? plainError(t.provisioningError) : undefined],
        ], c);
        const rows = status.phases.map((p) => [String(p.number), p.name, statusColor(p.status, c), String(p.attempts), duration(p.durationMs), `${p.resources.done}/${p.resources.done + p.resources.pending}`]);
        return `${head}\n${table(["#", "PHASE", "STATUS", "TRIES", "TOOK", "RESOURCES"], rows, c)}`;
      });
    });

  tenants.command("create").argument("<slug>", "lower-case letters, digits and dashes")
    .description("request a tenant; provisioning runs in the service")
    .addOption(new Option("--tier <tier>", "the tier").choices(TIERS).makeOptionMandatory())
    .requiredOption("--region <region>", "an Azure region, e.g. eastus")
    .requiredOption("--admin-email <email>", "the tenant admin's email")
    .option("--display-name <name>", "the tenant's name as people read it (default: the slug)")
    .option("--last-phase <n>", "provision phases 1 to n only", integer("--last-phase", 1, 10))
    .option("--idempotency-key <key>", "send the request once whatever the retries: the same key answers the first response again")
    .option("-w, --watch", "follow the progress live until ACTIVE (exit 0) or FAILED (exit 1)")
    .addHelpText("after", examples([
      "matih tenants create acme --tier professional --region eastus --admin-email ops@acme.example --watch",
      "matih tenants create beta --tier free --region westeurope --admin-email a@beta.example --display-name 'Beta Ltd'",
    ]))
    .action(async (slug: string, options: { tier: string; region: string; adminEmail: string; displayName?: string; lastPhase?: number; idempotencyKey?: string; watch?: boolean }, command: Command) => {
      const ctx = context(command);
      const body = { slug, displayName: options.displayName ?? slug, tier: options.tier, region: options.region, adminEmail: options.adminEmail, ...(options.lastPhase ? { lastPhase: options.lastPhase } : {}) };
      const accepted = options.idempotencyKey
        ? await ctx.api.request<RunAccepted>("POST", "/api/v1/tenants", body, { "idempotency-key": options.idempotencyKey })
        : await ctx.api.post<RunAccepted>("/api/v1/tenants", body);
      if (options.watch) {
        if (ctx.format === "table") ctx.out(`${accepted.tenant.slug} requested (${accepted.tenant.tier}, ${accepted.tenant.region}); provisioning:`);
        await follow(ctx, accepted.tenant.id);
        return;
      }
      ctx.emit(accepted, () => `${accepted.tenant.slug} requested (${accepted.tenant.tier}, ${accepted.tenant.region}), id ${accepted.tenant.id}; provisioning run ${accepted.run.id} queued.\nfollow it with: matih watch ${accepted.tenant.slug}`);
    });

  tenants.command("retry").argument("<tenant>", "slug or id of a FAILED tenant")
    .description("retry a FAILED tenant from its failed phase; finished phases stay finished")
    .option("-w, --watch", "follow the run live")
    .addHelpText("after", examples(["matih tenants retry acme --watch"]))
    .action(async (tenant: string, options: { watch?: boolean }, command: Command) => {
      const ctx = context(command);
      const accepted = await ctx.api.post<RunAccepted>(`/api/v1/tenants/${seg(tenant)}/provisioning/retry`);
      await actionOutcome(ctx, accepted, "retry", options.watch === true);
    });

  tenants.command("rollback").argument("<tenant>", "slug or id of a FAILED tenant")
    .description("roll a FAILED tenant back to the end of a phase, deleting the later phases")
    .requiredOption("--to-phase <n>", "the last phase kept (1-9)", integer("--to-phase", 1, 9))
    .option("--skip-backup", "do not back the database up first when the rollback removes it (recorded in the audit log)")
    .option("-w, --watch", "follow the run live")
    .addHelpText("after", examples(["matih tenants rollback acme --to-phase 5 --watch"]))
    .action(async (tenant: string, options: { toPhase: number; skipBackup?: boolean; watch?: boolean }, command: Command) => {
      const ctx = context(command);
      const answer = await ctx.api.post<ActionAccepted>(`/api/v1/tenants/${seg(tenant)}/rollback`, { targetPhase: options.toPhase, ...(options.skipBackup ? { skipBackup: true } : {}) });
      await actionOutcome(ctx, answer, `rollback to phase ${options.toPhase}`, options.watch === true);
    });

  tenants.command("delete").alias("rm").argument("<tenant>", "slug or id")
    .description("tear a tenant down, phases undone in reverse order; an ACTIVE tenant needs its slug as confirmation")
    .option("--confirm <slug>", "the tenant's slug, to delete an ACTIVE tenant (asked for on a terminal when missing)")
    .option("--skip-backup", "tear down without the database backup taken first (recorded in the audit log)")
    .option("-w, --watch", "follow the teardown live")
    .addHelpText("after", examples(["matih tenants delete acme --confirm acme --watch", "matih tenants delete acme     # asks for the slug on a terminal"]))
    .action(async (tenant: string, options: { confirm?: string; skipBackup?: boolean; watch?: boolean }, command: Command) => {
      const ctx = context(command);
      let confirm = options.confirm;
      if (confirm === undefined) {
        const current = await ctx.api.get<Tenant>(`/api/v1/tenants/${seg(tenant)}`);
        if (current.status === "ACTIVE") {
          if (io.stdin.isTTY !== true || io.stderr.isTTY !== true) throw new CliError(`${current.slug} is ACTIVE: deleting it needs its slug as confirmation: --confirm ${current.slug}`, { exitCode: 2 });
          const rl = createInterface({ input: io.stdin, output: io.stderr });
          try {
            confirm = (await rl.question(`${current.slug} is ACTIVE; everything of it will be deleted. Type its slug to confirm: `)).trim();
          } finally {
            rl.close();
          }
          if (confirm !== current.slug) throw new CliError("not confirmed; nothing was deleted", { exitCode: 1 });
        }
      }
      let answer: ActionAccepted;
      try {
        answer = await ctx.api.delete<ActionAccepted>(`/api/v1/tenants/${seg(tenant)}${query({ confirm, skipBackup: options.skipBackup ? true : undefined })}`);
      } catch (error) {
        if (error instanceof CliError && error.code === "confirmation_required") throw new CliError(`${error.message.replace(/send \?confirm=(\S+).*/, "pass --confirm $1")}`, { code: error.code, exitCode: 2 });
        throw error;
      }
      await actionOutcome(ctx, answer, "teardown", options.watch === true);
    });

  tenants.command("backups").argument("<tenant>", "slug or id (a deleted tenant's too)")
    .description("the tenant's database backups, newest first: when, why, size, until when they are kept")
    .option("--limit <n>", "at most this many", integer("--limit", 1, 200), 50)
    .addHelpText("after", examples(["matih tenants backups acme", "matih tenants backups acme -o json"]))
    .action(async (tenant: string, options: { limit: number }, command: Command) => {
      const ctx = context(command);
      const list = await ctx.api.get<BackupList>(`/api/v1/tenants/${seg(tenant)}/backups?limit=${options.limit}`);
      ctx.emit(list, () => list.items.length === 0 ? "no backups\n" : table(["ID", "REASON", "TAKEN", "SIZE", "KEPT UNTIL"], list.items.map((b) => [
        b.id.slice(0, 8), b.reason, shorterTime(b.createdAt), bytes(b.sizeBytes), b.removedAt ? ctx.colors.dim(`removed ${shorterTime(b.removedAt)}`) : shorterTime(b.expiresAt),
      ]), ctx.colors));
    });

  tenants.command("restore").argument("<tenant>", "slug or id").argument("<backup>", "the backup's id (matih tenants backups)")
    .description("ask for a backup to be restored into the tenant's database; another admin (or you) approves it with matih changes approve")
    .option("--skip-backup", "do not back up what the restore replaces first (part of what the reviewer approves)")
    .addHelpText("after", examples(["matih tenants restore acme 5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"]))
    .action(async (tenant: string, backupId: string, options: { skipBackup?: boolean }, command: Command) => {
      const ctx = context(command);
      if (!UUID.test(backupId)) throw new CliError(`the backup must be its whole id (as matih tenants backups ${tenant} -o json shows it), not ${JSON.stringify(backupId)}`, { exitCode: 2 });
      const change = await ctx.api.post<Change>(`/api/v1/tenants/${seg(tenant)}/restore`, { backupId, ...(options.skipBackup ? { skipBackup: true } : {}) });
      ctx.emit(change, () => `restore request ${change.id} awaits review; nothing is restored until it is approved.\nreview it with: matih changes show ${tenant} ${change.id.slice(0, 8)}\napprove it with: matih changes approve ${tenant} ${change.id.slice(0, 8)}`);
    });

  program.command("watch").argument("<tenant>", "slug or id")
    .description("follow a tenant's run live until it ends: exit 0 when it succeeded, 1 when it failed")
    .addHelpText("after", examples(["matih watch acme", "matih watch acme --no-progress | tee acme.log"]))
    .action(async (tenant: string, _options: object, command: Command) => {
      await follow(context(command), tenant);
    });

  // ---- changes
  const changes = program.command("changes").description("changes through review: request, show the reviewed diff, approve or reject");

  /** A change id, or a unique prefix of one (as `changes list` shows them). */
  async function changeId(ctx: Context, tenant: string, id: string): Promise<string> {
    if (UUID.test(id)) return id;
    const { items } = await ctx.api.get<ChangeList>(`/api/v1/tenants/${seg(tenant)}/changes?limit=200`);
    const matches = items.filter((c) => c.id.startsWith(id.toLowerCase()));
    if (matches.length === 1) return matches[0]!.id;
    throw new CliError(matches.length === 0 ? `no change of ${tenant} starts with ${id}` : `${matches.length} changes of ${tenant} start with ${id}; give more of the id`, { exitCode: 2 });
  }

  changes.command("list").alias("ls").argument("<tenant>", "slug or id")
    .description("the tenant's changes, newest first")
    .option("--limit <n>", "at most this many", integer("--limit", 1, 200), 50)
    .addHelpText("after", examples(["matih changes list acme"]))
    .action(async (tenant: string, options: { limit: number }, command: Command) => {
      const ctx = context(command);
      const list = await ctx.api.get<ChangeList>(`/api/v1/tenants/${seg(tenant)}/changes?limit=${options.limit}`);
      ctx.emit(list, () => list.items.length === 0 ? "no changes\n" : table(["ID", "KIND", "STATUS", "TARGET", "BY", "CREATED", "DESTROYS"], list.items.map((c) => [
        c.id.slice(0, 8), c.kind, statusColor(c.status, ctx.colors), `${c.target.tier} 1-${c.target.lastPhase}`, c.createdBy, shorterTime(c.createdAt),
        c.preview ? (c.preview.destructive ? ctx.colors.red("yes") : "no") : "-",
      ]), ctx.colors));
    });

  changes.command("show").argument("<tenant>", "slug or id").argument("<change>", "the change's id, or a unique prefix")
    .description("the reviewed diff: destructive resources first, then every change by phase (secrets masked)")
    .addHelpText("after", examples(["matih changes show acme 1b2c", "matih changes show acme 1b2c | less -R", "matih changes show acme 1b2c -o json"]))
    .action(async (tenant: string, id: string, _options: object, command: Command) => {
      const ctx = context(command);
      const change = await ctx.api.get<Change>(`/api/v1/tenants/${seg(tenant)}/changes/${seg(await changeId(ctx, tenant, id))}`);
      ctx.emit(change, () => renderChange(change, ctx.colors));
    });

  changes.command("request").argument("<tenant>", "slug or id")
    .description("request a change (tier, last phase; none converges to the recorded spec); the service previews it")
    .addOption(new Option("--tier <tier>", "the new tier").choices(TIERS))
    .option("--last-phase <n>", "provision up to this phase", integer("--last-phase", 1, 10))
    .option("--reason <text>", "why, for the reviewer and the audit log")
    .option("--wait", "wait for the preview and show it")
    .addHelpText("after", examples(["matih changes request acme --tier enterprise --reason 'more users' --wait"]))
    .action(async (tenant: string, options: { tier?: string; lastPhase?: number; reason?: string; wait?: boolean }, command: Command) => {
      const ctx = context(command);
      let change = await ctx.api.post<Change>(`/api/v1/tenants/${seg(tenant)}/changes`, {
        ...(options.tier ? { tier: options.tier } : {}), ...(options.lastPhase ? { lastPhase: options.lastPhase } : {}), ...(options.reason ? { reason: options.reason } : {}),
      });
      if (options.wait) {
        while (CHANGE_WAITING.has(change.status)) {
          await new Promise((r) => setTimeout(r, 500));
          change = await ctx.api.get<Change>(`/api/v1/tenants/${seg(change.tenantId)}/changes/${seg(change.id)}`);
        }
        ctx.emit(change, () => renderChange(change, ctx.colors));
        if (change.status === "PREVIEW_FAILED") process.exitCode = 1;
        return;
      }
      ctx.emit(change, () => `change ${change.id} requested; its preview is running.\nshow it with: matih changes show ${tenant} ${change.id.slice(0, 8)}`);
    });

  changes.command("approve").argument("<tenant>", "slug or id").argument("<change>", "the change's id, or a unique prefix")
    .description("approve a reviewed change: an update run applies exactly its saved plan")
    .option("--allow-destructive", "approve although it deletes or replaces resources holding data or credentials")
    .option("-w, --watch", "follow the update run live")
    .addHelpText("after", examples(["matih changes approve acme 1b2c --watch", "matih changes approve acme 1b2c --allow-destructive"]))
    .action(async (tenant: string, id: string, options: { allowDestructive?: boolean; watch?: boolean }, command: Command) => {
      const ctx = context(command);
      let accepted: ChangeAccepted | RestoreApproved;
      try {
        accepted = await ctx.api.post<ChangeAccepted | RestoreApproved>(`/api/v1/tenants/${seg(tenant)}/changes/${seg(await changeId(ctx, tenant, id))}/approve`, options.allowDestructive ? { allowDestructive: true } : {});
      } catch (error) {
        if (error instanceof CliError && error.code === "destructive_change") throw new CliError(`${error.message} (review it with matih changes show, then approve with --allow-destructive)`, { code: error.code });
        throw error;
      }
      if (accepted.run === null) {
        // A restore request: performed in the approval itself, so there is no run to follow (--watch has nothing to watch).
        const done = accepted as RestoreApproved;
        ctx.emit(done, () => `change ${done.change.id.slice(0, 8)} approved: backup ${done.restored.id} (${done.restored.reason}, taken ${done.restored.createdAt}) restored into ${done.tenant.slug}'s database.\n${done.safetyBackup
          ? `what it replaced was backed up first: backup ${done.safetyBackup.id}; undo with: matih tenants restore ${done.tenant.slug} ${done.safetyBackup.id}`
          : "what it replaced was not backed up (skipBackup, or there was nothing)."}`);
        return;
      }
      if (options.watch) {
        if (ctx.format === "table") ctx.out(`change ${accepted.change.id.slice(0, 8)} approved; ${accepted.run.kind} run:`);
        await follow(ctx, accepted.tenant.id);
        return;
      }
      ctx.emit(accepted, () => `change ${accepted.change.id.slice(0, 8)} approved; ${accepted.run.kind} run ${accepted.run.id} queued.\nfollow it with: matih watch ${accepted.tenant.slug}`);
    });

  changes.command("reject").argument("<tenant>", "slug or id").argument("<change>", "the change's id, or a unique prefix")
    .description("reject a change awaiting review; nothing changes")
    .option("--reason <text>", "why, for the requester and the audit log")
    .addHelpText("after", examples(["matih changes reject acme 1b2c --reason 'not this quarter'"]))
    .action(async (tenant: string, id: string, options: { reason?: string }, command: Command) => {
      const ctx = context(command);
      const change = await ctx.api.post<Change>(`/api/v1/tenants/${seg(tenant)}/changes/${seg(await changeId(ctx, tenant, id))}/reject`, options.reason ? { reason: options.reason } : {});
      ctx.emit(change, () => `change ${change.id.slice(0, 8)} ${statusColor(change.status, ctx.colors)}`);
    });

  // ---- drift
  const drift = program.command("drift").description("drift: resources whose real state differs from the recorded one");

  drift.command("status")
    .description("the fleet's drift: the last run, counts, each ACTIVE tenant's state")
    .addOption(new Option("--state <state>", "only tenants in this state").choices(["IN_SYNC", "DRIFTED", "CHECK_FAILED"]))
    .addHelpText("after", examples(["matih drift status", "matih drift status --state DRIFTED -o json"]))
    .action(async (options: { state?: string }, command: Command) => {
      const ctx = context(command);
      const summary = await ctx.api.get<DriftSummary>(`/api/v1/drift${query({ state: options.state })}`);
      ctx.emit(summary, () => {
        const c = ctx.colors;
        const run = summary.lastRun;
        const head = fields([
          ["last run", run ? `${statusColor(run.status, c)} ${shortTime(run.finishedAt ?? run.startedAt ?? run.createdAt)} (${run.trigger}): ${run.checked}/${run.total} checked, ${run.drifted} drifted, ${run.failed} failed` : "none yet"],
          ["tenants", `${c.green(`${summary.counts.inSync} in sync`)}, ${c.red(`${summary.counts.drifted} drifted`)}, ${summary.counts.checkFailed} check failed, ${summary.counts.unchecked} unchecked`],
        ], c);
        const rows = summary.tenants.map((t) => [t.slug, t.tier, t.state ? statusColor(t.state, c) : c.dim("unchecked"), shortTime(t.since), shortTime(t.lastCheckedAt)]);
        return `${head}${rows.length ? `\n${table(["SLUG", "TIER", "STATE", "SINCE", "LAST CHECKED"], rows, c)}` : ""}`;
      });
    });

  drift.command("run").argument("[tenant]", "check only this tenant, now (default: a fleet run of every ACTIVE tenant)")
    .description("check for drift now: one tenant at once, or the whole fleet in the background")
    .option("--wait", "for a fleet run, wait until it has finished and show its counts")
    .addHelpText("after", examples(["matih drift run acme", "matih drift run --wait"]))
    .action(async (tenant: string | undefined, options: { wait?: boolean }, command: Command) => {
      const ctx = context(command);
      if (tenant) {
        const result = await ctx.api.post<DriftCheckNow>(`/api/v1/tenants/${seg(tenant)}/drift-check`);
        ctx.emit(result, () => {
          const c = ctx.colors;
          const lines = [`${tenant}: ${statusColor(result.state, c)}, ${result.drifted.length} resource${result.drifted.length === 1 ? "" : "s"} drifted (${duration(result.durationMs)})${result.recorded ? "" : c.dim(`; not kept: ${result.notRecordedReason}`)}`];
          for (const r of result.drifted) lines.push(`  ${c.red(r.drift)} ${r.urn.split("::").at(-1)}  ${c.dim(r.type)}${r.properties.length ? `: ${r.properties.join(", ")}` : ""}`);
          return lines.join("\n");
        });
        if (result.state === "DRIFTED") process.exitCode = 3;
        return;
      }
      const { id } = await ctx.api.post<{ id: string }>("/api/v1/drift/runs");
      let run = await ctx.api.get<DriftRun>(`/api/v1/drift/runs/${seg(id)}`);
      while (options.wait && !RUN_DONE.has(run.status)) {
        await new Promise((r) => setTimeout(r, 1000));
        run = await ctx.api.get<DriftRun>(`/api/v1/drift/runs/${seg(id)}`);
      }
      ctx.emit(run, () => `fleet drift run ${run.id} ${statusColor(run.status, ctx.colors)}: ${run.checked}/${run.total} checked, ${run.drifted} drifted, ${run.failed} failed, ${run.skipped} skipped${run.error ? `\n${run.error}` : ""}${options.wait ? "" : "\nsee the fleet with: matih drift status"}`);
      if (run.status === "FAILED") process.exitCode = 1;
    });

  drift.command("show").argument("<tenant>", "slug or id")
    .description("a tenant's drift checks, newest first, with each drifted property's recorded and actual value (secrets masked)")
    .option("--limit <n>", "at most this many checks", integer("--limit", 1, 500), 5)
    .addHelpText("after", examples(["matih drift show acme", "matih drift show acme --limit 1 -o yaml"]))
    .action(async (tenant: string, options: { limit: number }, command: Command) => {
      const ctx = context(command);
      const history = await ctx.api.get<DriftHistory>(`/api/v1/tenants/${seg(tenant)}/drift?limit=${options.limit}`);
      ctx.emit(history, () => renderDriftHistory(history, ctx.colors));
    });

  // ---- completion
  program.command("completion").argument("<shell>", "bash or zsh")
    .description("print a shell completion script")
    .addHelpText("after", examples(["source <(matih completion bash)            # in ~/.bashrc", "matih completion zsh > \"${fpath[1]}/_matih\"   # then restart zsh"]))
    .action((shell: string) => {
      if (shell !== "bash" && shell !== "zsh") throw new CliError(`no completion for ${shell}: bash or zsh`, { exitCode: 2 });
      io.stdout.write(completionScript(program, shell));
    });

  // For shell completion: the slugs, one a line; silent when the service cannot answer.
  program.command("__tenants", { hidden: true }).action(async (_options: object, command: Command) => {
    try {
      const page = await context(command).api.get<FleetPage>("/api/v1/fleet?limit=200");
      io.stdout.write(page.items.map((t) => `${t.slug}\n`).join(""));
    } catch {
      // Completion offers nothing rather than an error in the middle of the command line.
    }
  });

  return program;
}

function renderDriftHistory(history: DriftHistory, colors: Colors): string {
  const c = colors;
  const lines = [fields([
    ["tenant", history.slug],
    ["state", history.state ? statusColor(history.state, c) : c.dim("never checked")],
    ["since", shortTime(history.since)],
    ["drifted since", history.driftedSince ? shortTime(history.driftedSince) : undefined],
    ["checks", `${history.items.length} of ${history.total}`],
  ], c).trimEnd()];
  for (const check of history.items) {
    lines.push("", `${shortTime(check.checkedAt)}  ${statusColor(check.state, c)}  ${c.dim(check.driftRunId ? "fleet run" : "one-off check")}${check.reason ? `: ${check.reason}` : ""}`);
    for (const r of check.resources) {
      lines.push(`  ${c.red(r.drift)} ${r.urn.split("::").at(-1)}  ${c.dim(r.type)}${r.phase ? c.dim(`  phase ${r.phase.number}`) : ""}`);
      for (const d of r.differences ?? []) lines.push(`      ${d.path}: ${showValue(d.recorded, c)} ${c.dim("recorded, actual")} ${showValue(d.actual, c)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

