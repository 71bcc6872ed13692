/**
 * Live progress of one tenant over its WebSocket (/ws/provisioning/{id}):
 * on a terminal a block redrawn in place (one line per phase with a spinner
 * and a resource bar, elapsed times), elsewhere one plain line per
 * transition, so that logs and pipes get a readable record. Ends with the
 * final result; the caller turns it into the exit code.
 */
import spinners from "cli-spinners";
import { createLogUpdate } from "log-update";
import WebSocket from "ws";
import { CliError, seg, type Api } from "./client.ts";
import { duration, type Colors } from "./output.ts";
import type { LiveMessage, Phase, ProvisioningStatus as ApiStatus } from "./types.ts";

/** The status as the watch keeps it: the run's status also takes the live-only values ("RETRYING"). */
type ProvisioningStatus = Omit<ApiStatus, "run"> & { run: (Omit<NonNullable<ApiStatus["run"]>, "status"> & { status: string }) | null };

export interface WatchResult {
  /** The tenant's status when the run ended (ACTIVE, FAILED, DELETED, ...). */
  tenantStatus: string;
  runStatus: string | null;
  error: string | null;
  /** The last status seen, with every phase. */
  status: ProvisioningStatus;
  /** The failing phase's message in plain words, when one failed. */
  failure: string | null;
}

export interface WatchOptions {
  api: Api;
  tenant: string;
  /** Where the progress goes. */
  stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  colors: Colors;
  /** Redraw in place (a terminal) or print one line per transition; false prints nothing but the final line. */
  mode: "live" | "lines" | "quiet";
  /** Connections tried before giving up when the socket drops without the final message. */
  maxReconnects?: number;
}

const SPINNER = spinners.dots;
const BAR_WIDTH = 10;
const FINISHED = new Set(["SUCCEEDED", "FAILED", "ROLLED_BACK"]);

/** A phase name as words: DEPLOY_INGRESS_CONTROLLER -> "deploy ingress controller". */
export const phaseWords = (name: string) => name.toLowerCase().replace(/_/g, " ");

/**
 * A phase's error as a person reads it: the engine appends the failing
 * resource's URN in parentheses, which becomes its type and name.
 */
export function plainError(error: string): string {
  return error.replace(/\s*\((urn:pulumi:[^)]+)\)\s*$/, (_all, urn: string) => {
    const parts = urn.split("::");
    const name = parts.at(-1) ?? urn;
    const type = (parts.at(-2) ?? "").split("$").at(-1) ?? "";
    return ` (resource ${name}${type ? `, ${type}` : ""})`;
  });
}

/** "phase 6 DEPLOY_INGRESS_CONTROLLER (deploy ingress controller) failed: ..." for the failed phase, else the run's error. */
export function failureInWords(status: Pick<ApiStatus, "phases">, runError: string | null): string | null {
  const failed = status.phases.find((p) => p.status === "FAILED");
  if (failed) return `phase ${failed.number} ${failed.name} (${phaseWords(failed.name)}) failed: ${plainError(failed.error ?? runError ?? "no message")}`;
  return runError ? plainError(runError) : null;
}

/** "queued", or "running, attempt 2 of 3": a queued run has made no attempt yet. */
function runState(run: NonNullable<ProvisioningStatus["run"]>): string {
  const state = run.status.toLowerCase();
  return run.attempt > 0 ? `${state}, attempt ${run.attempt} of ${run.maxAttempts}` : state;
}

function bar(done: number, pending: number): string {
  const total = done + pending;
  if (total === 0) return "";
  const filled = Math.round((done / total) * BAR_WIDTH);
  return `[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}] ${done}/${total}`;
}

class Progress {
  status!: ProvisioningStatus;
  frame = 0;
  retryNote: string | null = null;
  readonly started = Date.now();
  private readonly options: WatchOptions;
  constructor(options: WatchOptions) {
    this.options = options;
  }

  private get c() {
    return this.options.colors;
  }

  /** Phases worth a line: those the run goes up to, and any that moved (a teardown's). */
  visiblePhases(): Phase[] {
    const target = this.status.run?.targetPhase ?? this.status.phases.length;
    return this.status.phases.filter((p) => p.number <= target || p.status !== "PENDING");
  }

  runElapsed(): number {
    const started = this.status.run?.startedAt ?? this.status.startedAt;
    const from = started ? Math.min(Date.parse(started), this.started) : this.started;
    return Date.now() - from;
  }

  phaseLine(p: Phase, live: boolean): string {
    const c = this.c;
    const label = `${String(p.number).padStart(2)} ${p.name}`;
    const resources = bar(p.resources.done, p.resources.pending);
    switch (p.status) {
      case "SUCCEEDED":
        return `${c.green("✔")} ${label.padEnd(30)} ${c.dim(duration(p.durationMs))}`;
      case "ROLLED_BACK":
        return `${c.cyan("↺")} ${label.padEnd(30)} ${c.dim(`removed ${duration(p.durationMs)}`)}`;
      case "FAILED":
        return `${c.red("✖")} ${label.padEnd(30)} ${c.red(`failed ${duration(p.durationMs)}`)}`;
      case "RUNNING": {
        const mark = live ? c.yellow(SPINNER.frames[this.frame % SPINNER.frames.length]!) : c.yellow("…");
        const elapsed = p.startedAt ? duration(Math.max(0, Date.now() - Date.parse(p.startedAt))) : "";
        return `${mark} ${label.padEnd(30)} ${resources.padEnd(17)} ${c.dim(elapsed)}`.trimEnd();
      }
      default:
        return `${c.dim("·")} ${c.dim(label)}`;
    }
  }

  header(): string {
    const run = this.status.run;
    const what = run ? `${run.kind} run ${runState(run)}` : "no run";
    return `${this.c.bold(this.status.slug)}  ${what}  ${this.c.dim(`elapsed ${duration(this.runElapsed())}`)}`;
  }

  /** The whole block, for the live display. */
  block(): string {
    const failed = this.status.phases.find((p) => p.status === "FAILED" && p.error);
    const lines = [this.header(), ...this.visiblePhases().map((p) => `  ${this.phaseLine(p, true)}`)];
    if (failed) lines.push(this.c.red(`  phase ${failed.number} failed: ${plainError(failed.error!)}`));
    if (this.retryNote) lines.push(this.c.yellow(`  ${this.retryNote}`));
    if (this.status.waiting) lines.push(this.c.yellow(`  ${this.status.waiting.message}`));
    return lines.join("\n");
  }
}

/** Watches until the tenant's run ends; resolves with how it ended. */
export async function watchTenant(options: WatchOptions): Promise<WatchResult> {
  const progress = new Progress(options);
  const { colors: c, stream, mode } = options;
  const log = mode === "live" ? createLogUpdate(stream as NodeJS.WriteStream, { showCursor: false }) : null;
  const line = (text: string) => {
    if (mode === "lines") stream.write(`${text}\n`);
  };
  let timer: NodeJS.Timeout | undefined;
  const redraw = () => {
    if (log && progress.status) log(progress.block());
  };
  const onInterrupt = () => {
    if (timer) clearInterval(timer);
    log?.done();
    stream.write("stopped watching; the run goes on in the service (matih watch <tenant> follows it again)\n");
    process.exit(130);
  };
  process.once("SIGINT", onInterrupt);
  try {
    if (log) timer = setInterval(() => {
      progress.frame += 1;
      redraw();
    }, SPINNER.interval);
    const maxReconnects = options.maxReconnects ?? 5;
    for (let attempt = 0; ; attempt += 1) {
      const final = await connectOnce(options, progress, line, redraw);
      if (final) {
        if (timer) clearInterval(timer);
        redraw();
        log?.done();
        const failure = final.tenantStatus === "ACTIVE" || final.runStatus === "SUCCEEDED" ? null : failureInWords(progress.status, final.error);
        return { tenantStatus: final.tenantStatus, runStatus: final.runStatus, error: final.error, status: progress.status, failure };
      }
      if (attempt >= maxReconnects) throw new CliError(`the live connection to ${options.api.connection.url} kept dropping; the run goes on (matih watch ${options.tenant})`);
      line(c.dim("connection dropped; reconnecting"));
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    if (timer) clearInterval(timer);
    process.off("SIGINT", onInterrupt);
  }
}

type Final = Extract<LiveMessage, { type: "final" }>;

/** One connection: resolves with the final message, or null when the socket closed without one (reconnect). */
function connectOnce(options: WatchOptions, progress: Progress, line: (text: string) => void, redraw: () => void): Promise<Final | null> {
  const { api, colors: c } = options;
  const headers: Record<string, string> = api.connection.token ? { authorization: `Bearer ${api.connection.token}` } : {};
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(api.socketUrl(`/ws/provisioning/${seg(options.tenant)}`), { headers });
    let final: Final | null = null;
    let refused: CliError | null = null;
    socket.on("unexpected-response", (_request, response) => {
      const code = response.statusCode ?? 0;
      let body = "";
      response.on("data", (d: Buffer) => (body += String(d)));
      response.on("end", () => {
        let message = body;
        try {
          message = (JSON.parse(body) as { message?: string }).message ?? body;
        } catch {
          // Not JSON: the text as it came.
        }
        reject(new CliError(code === 401 ? `the service refused the token from ${api.connection.tokenSource} (${message})` : `cannot watch ${options.tenant}: ${code} ${message}`, { status: code }));
      });
    });
    socket.on("message", (data) => {
      let message: LiveMessage;
      try {
        message = JSON.parse(String(data)) as LiveMessage;
      } catch {
        return;
      }
      handle(message);
    });
    socket.on("close", () => (refused ? reject(refused) : resolve(final)));
    socket.on("error", (error) => {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ECONNREFUSED" || code === "ENOTFOUND") reject(new CliError(`cannot reach the service at ${api.connection.url} (${code}); is it running?`));
      // Otherwise "close" follows and the watch reconnects.
    });

    function handle(message: LiveMessage): void {
      switch (message.type) {
        case "snapshot": {
          const first = !progress.status;
          progress.status = message.status;
          if (first) {
            const run = message.status.run;
            line(`${message.status.slug}: ${run ? `${run.kind} run ${runState(run)}` : "no run"}, tenant ${message.status.status}`);
            if (message.status.waiting) line(c.yellow(message.status.waiting.message));
            for (const p of progress.visiblePhases()) if (p.status !== "PENDING") line(`phase ${p.number} ${p.name}: ${p.status.toLowerCase()}${FINISHED.has(p.status) ? ` in ${duration(p.durationMs)}` : ""}`);
          }
          break;
        }
        case "phase": {
          // A message too long for the bus arrives cut, without its phase: the next one, or the final status, tells.
          if (!progress.status || !message.phase) break;
          const p = message.phase;
          const before = progress.status.phases.find((x) => x.number === p.number);
          progress.status = { ...progress.status, phases: progress.status.phases.map((x) => (x.number === p.number ? p : x)) };
          if (before?.status === p.status) break;
          if (p.status === "RUNNING") {
            progress.retryNote = null;
            line(`phase ${p.number} ${p.name}: running`);
          } else if (p.status === "SUCCEEDED") line(`phase ${p.number} ${p.name}: ${c.green("succeeded")} in ${duration(p.durationMs)}${p.resources.done ? ` (${p.resources.done} resources)` : ""}`);
          else if (p.status === "ROLLED_BACK") line(`phase ${p.number} ${p.name}: removed in ${duration(p.durationMs)}`);
          else if (p.status === "FAILED") line(`phase ${p.number} ${p.name}: ${c.red("failed")} after ${duration(p.durationMs)}: ${plainError(p.error ?? "no message")}`);
          break;
        }
        case "progress": {
          if (!progress.status || !message.phase || !message.resources) break;
          const { number } = message.phase;
          progress.status = { ...progress.status, phases: progress.status.phases.map((x) => (x.number === number ? { ...x, resources: message.resources } : x)) };
          break;
        }
        case "run": {
          if (!progress.status?.run) break;
          progress.status = { ...progress.status, run: { ...progress.status.run, status: message.status, attempt: message.attempt } };
          if (message.status === "RETRYING") {
            progress.retryNote = `attempt ${message.attempt} failed; retrying (${plainError(message.error ?? "")})`;
            line(c.yellow(progress.retryNote));
          }
          break;
        }
        case "final":
          final = message;
          if (progress.status) {
            progress.status = { ...progress.status, status: message.tenantStatus as ProvisioningStatus["status"], ...(progress.status.run && message.runStatus ? { run: { ...progress.status.run, status: message.runStatus } } : {}) };
          }
          break;
        case "error":
          refused = new CliError(message.code === "not_found" ? `no tenant ${options.tenant}` : message.message, { code: message.code });
          break;
        default:
          break;
      }
      redraw();
    }
  });
}

/** The closing line of a watch, and the exit code that goes with it: 0 when the run succeeded, 1 when the tenant or run failed. */
export function finalLine(result: WatchResult, colors: Colors, elapsedMs: number): { text: string; exitCode: number } {
  const slug = result.status.slug;
  const ok = result.runStatus === "SUCCEEDED" || (result.runStatus === null && result.tenantStatus !== "FAILED");
  if (ok) return { text: `${colors.green("✔")} ${slug} is ${colors.green(result.tenantStatus)}${result.runStatus ? ` (${result.status.run?.kind ?? "run"} succeeded after ${duration(elapsedMs)})` : ""}`, exitCode: 0 };
  const why = result.failure ?? result.error ?? "the run failed";
  const next = result.tenantStatus === "FAILED" ? `\n  retry with: matih tenants retry ${slug}   or roll back: matih tenants rollback ${slug} --to-phase N` : "";
  return { text: `${colors.red("✖")} ${slug} is ${colors.red(result.tenantStatus)}: ${why}${next}`, exitCode: 1 };
}
