/**
 * What the engine reads and removes in Pulumi's local file backend (the
 * default, `file://<data dir>/state`) after it has killed a run's pulumi CLI
 * itself. The layout is the CLI's own (pkg/backend/diy): with project-scoped
 * stacks a stack's locks are `.pulumi/locks/organization/<project>/<stack>/<uuid>.json`,
 * each `{pid, username, hostname, timestamp}` of the CLI that took it, and
 * its checkpoint is `.pulumi/stacks/<project>/<stack>.json` (or `.json.gz`),
 * whose `checkpoint.latest.pending_operations` lists the resource operations
 * that were in flight when the CLI stopped without finishing its update.
 *
 * `pulumi cancel` would remove every lock of the stack, a live one too; here
 * only locks whose owner was a process on this host that is no longer alive
 * are removed, so a lock held by any other run stays.
 */
import { readFileSync } from "node:fs";
import { readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";

export interface LockOwner {
  readonly file: string;
  readonly pid: number;
  readonly username: string;
  readonly hostname: string;
  readonly timestamp: string;
}

export interface PendingOperation {
  readonly urn: string;
  readonly type: string;
  /** `creating`, `updating`, `deleting`, `reading`, `importing`. */
  readonly operation: string;
}

export interface LockRelease {
  readonly removed: readonly LockOwner[];
  /** Locks left in place: held by a live process, or by another host. */
  readonly kept: readonly LockOwner[];
  readonly pendingOperations: readonly PendingOperation[];
}

/** The state directory of a `file://` backend URL, or null for any other backend. */
export function fileBackendDir(backendUrl: string): string | null {
  if (!backendUrl.startsWith("file://")) return null;
  const withoutQuery = backendUrl.split("?")[0]!;
  // file:///abs/path and file://~/path are both in use; the engine's default is the former.
  if (withoutQuery.startsWith("file://~")) return path.join(os.homedir(), withoutQuery.slice("file://~".length));
  return withoutQuery.startsWith("file:///") ? fileURLToPath(withoutQuery) : path.resolve(withoutQuery.slice("file://".length));
}

export function stackLockDir(stateDir: string, project: string, stack: string): string {
  return path.join(stateDir, ".pulumi", "locks", "organization", project, stack);
}

export function checkpointBase(stateDir: string, project: string, stack: string): string {
  return path.join(stateDir, ".pulumi", "stacks", project, stack);
}

/** Alive and not a zombie: a killed CLI whose parent died stays a zombie until something reaps it. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  if (process.platform !== "linux") return true;
  try {
    // Field 3 of /proc/<pid>/stat is the state; the name in field 2 may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false; // gone between the two looks
  }
}

export async function readLocks(stateDir: string, project: string, stack: string): Promise<LockOwner[]> {
  const dir = stackLockDir(stateDir, project, stack);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const locks: LockOwner[] = [];
  for (const name of names.filter((n) => n.endsWith(".json")).sort()) {
    const file = path.join(dir, name);
    try {
      const content = JSON.parse(await readFile(file, "utf8")) as { pid?: unknown; username?: unknown; hostname?: unknown; timestamp?: unknown };
      locks.push({ file, pid: Number(content.pid), username: String(content.username ?? ""), hostname: String(content.hostname ?? ""), timestamp: String(content.timestamp ?? "") });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") continue; // released meanwhile
      // Unreadable: report it with no owner, so it is kept and named.
      locks.push({ file, pid: Number.NaN, username: "", hostname: "", timestamp: "" });
    }
  }
  return locks;
}

export async function readPendingOperations(stateDir: string, project: string, stack: string): Promise<PendingOperation[]> {
  const base = checkpointBase(stateDir, project, stack);
  let text: string | null = null;
  for (const [suffix, decode] of [[".json", (b: Buffer) => b.toString("utf8")], [".json.gz", (b: Buffer) => gunzipSync(b).toString("utf8")]] as const) {
    try {
      text = decode(await readFile(base + suffix));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  if (text === null) return [];
  const checkpoint = JSON.parse(text) as { checkpoint?: { latest?: { pending_operations?: { resource?: { urn?: string; type?: string }; type?: string }[] } } };
  return (checkpoint.checkpoint?.latest?.pending_operations ?? []).map((op) => ({ urn: op.resource?.urn ?? "", type: op.resource?.type ?? "", operation: op.type ?? "" }));
}

/**
 * Removes the stack's locks whose owner was a process on this host that is
 * gone (after the engine killed it), and reports what the dead run left in
 * flight. Waits up to `settleMs` for killed processes to disappear.
 */
export async function releaseDeadOwnersLocks(stateDir: string, project: string, stack: string, options: { hostname?: string; settleMs?: number } = {}): Promise<LockRelease> {
  const hostname = options.hostname ?? os.hostname();
  const deadline = Date.now() + (options.settleMs ?? 5_000);
  const ours = (lock: LockOwner) => lock.hostname === hostname && Number.isInteger(lock.pid) && lock.pid > 0;
  let locks = await readLocks(stateDir, project, stack);
  while (locks.some((l) => ours(l) && processAlive(l.pid)) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    locks = await readLocks(stateDir, project, stack);
  }
  const removed: LockOwner[] = [];
  const kept: LockOwner[] = [];
  for (const lock of locks) {
    if (ours(lock) && !processAlive(lock.pid)) {
      await rm(lock.file, { force: true });
      removed.push(lock);
    } else {
      kept.push(lock);
    }
  }
  return { removed, kept, pendingOperations: await readPendingOperations(stateDir, project, stack) };
}
