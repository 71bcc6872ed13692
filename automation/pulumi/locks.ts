/**
 * What to do when the stack is locked (ConcurrentUpdateError).
 *
 * A lock is broken only when its owner is known to be dead; never because a
 * run's job was taken over. A job is taken over when its heartbeat lapsed,
 * and that happens to live runs too (a database failover stops every
 * heartbeat for half a minute while the `pulumi up` goes on): breaking their
 * lock would let two updates write one checkpoint. So:
 *
 * - A run that is not a takeover waits for the lock up to `lockWaitMs`, then
 *   reports StackLockedError.
 * - A takeover (`ownerDead`: the run's previous attempt stopped heart-beating)
 *   on a `file://` backend reads each lock's owner (host and pid, as the CLI
 *   writes them) and removes only those of this host whose process is gone,
 *   then retries at once. A lock whose process is alive, or that another host
 *   holds, is waited on like any other. The wait is at least
 *   `staleLockGraceMs`: the old run's worker stops its CLI within that grace
 *   (it is cancelled when its job's claim is lost, and kills its process group
 *   when its service died), and its lock is then released or its owner dead.
 * - A takeover on any other backend cannot tell a live owner from a dead one,
 *   so it waits the same way and then reports StackLockedError; it never runs
 *   `pulumi cancel`, which removes the lock whoever holds it.
 * - Only a caller that knows the owner is dead (`ownerKnownDead`, e.g. it
 *   killed that process itself) may have the lock cancelled, after
 *   `staleLockGraceMs`, on a backend whose locks cannot be read. (The engine's
 *   own recovery after it killed a run's CLI, in engine.ts, does this outside
 *   of this function.)
 */
import { PROJECT_NAME } from "../../model/constants.ts";
import { sleep } from "../core/abort.ts";
import { StackLockedError } from "../core/errors.ts";
import { fileBackendDir, readLocks, releaseDeadOwnersLocks, type LockOwner, type LockRelease } from "./file-backend.ts";

export interface LockHandling {
  /**
   * The run is taken over from a previous attempt that stopped heart-beating
   * (the request's `ownerDead`). Its owner is presumed dead, not known dead:
   * only locks whose owner is seen dead are released.
   */
  readonly ownerDead: boolean;
  /**
   * The caller knows the lock's owner is dead (it killed it). On a backend
   * whose locks cannot be read, `cancelStaleLock` then runs after
   * `staleLockGraceMs`. Default false.
   */
  readonly ownerKnownDead?: boolean;
  readonly lockWaitMs: number;
  /**
   * For a takeover: the least time to wait for the previous attempt's lock,
   * measured from the first conflict; must exceed the worker's orphan grace
   * (the engine's cancel grace). Default 0.
   */
  readonly staleLockGraceMs?: number;
  readonly signal: AbortSignal;
  /** First wait between attempts; doubles up to 15 s. */
  readonly pollMs?: number;
  /** The state backend's URL: on a `file://` backend each lock names its owner's host and pid. */
  readonly backendUrl?: string;
  /** The stack (the tenant's slug), for reading its locks and for the error. */
  readonly stackName?: string;
  /** Default PROJECT_NAME. */
  readonly project?: string;
  /** This host's name as the CLI writes it into a lock; default os.hostname(). Tests set it. */
  readonly hostname?: string;
  /** Only with `ownerKnownDead`: removes the stack's lock whoever holds it (`pulumi cancel`). */
  readonly cancelStaleLock?: () => Promise<void>;
  /** Told about waits and released locks, for the event stream and the logs. */
  readonly onNotice?: (message: string) => void;
}

export function isLockConflict(error: unknown): boolean {
  return error instanceof Error && error.name === "ConcurrentUpdateError";
}

function owner(lock: LockOwner): string {
  return `${lock.username || "?"}@${lock.hostname || "?"} (pid ${Number.isNaN(lock.pid) ? "?" : lock.pid}) since ${lock.timestamp || "?"}`;
}

export async function withLockHandling<T>(attempt: () => Promise<T>, handling: LockHandling): Promise<T> {
  const stateDir = handling.backendUrl ? fileBackendDir(handling.backendUrl) : null;
  const project = handling.project ?? PROJECT_NAME;
  const stack = handling.stackName ?? "";
  const graceMs = handling.staleLockGraceMs ?? 0;
  // A takeover gives the previous attempt's worker its grace to stop the CLI, however short the lock wait.
  const waitMs = handling.ownerDead || handling.ownerKnownDead ? Math.max(handling.lockWaitMs, graceMs) : handling.lockWaitMs;
  let pollMs = handling.pollMs ?? 2_000;
  let firstConflict: number | null = null;
  let cancelled = false;
  let told = false;
  let inspectionFailed = false;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (!isLockConflict(error)) throw error;
      firstConflict ??= Date.now();

      if ((handling.ownerDead || handling.ownerKnownDead) && stateDir && stack) {
        const release = await releaseDeadOwnersLocks(stateDir, project, stack, { settleMs: 0, ...(handling.hostname ? { hostname: handling.hostname } : {}) }).catch((problem: unknown) => {
          // Unreadable locks are no owner seen dead: the lock is waited on like any other.
          if (!inspectionFailed) handling.onNotice?.(`the stack's locks could not be read: ${problem instanceof Error ? problem.message : String(problem)}`);
          inspectionFailed = true;
          return null;
        });
        if (release && release.removed.length > 0) {
          noticeRelease(release, handling);
          continue;
        }
      } else if (handling.ownerKnownDead && !stateDir && handling.cancelStaleLock && !cancelled) {
        const left = firstConflict + graceMs - Date.now();
        if (left <= 0) {
          cancelled = true;
          handling.onNotice?.("the stack was locked by a run whose process is known to be dead; cancelling its lock and retrying");
          await handling.cancelStaleLock();
          continue;
        }
      }

      const left = firstConflict + waitMs - Date.now();
      if (left <= 0) {
        if (!handling.ownerDead) throw error;
        throw await takeoverLocked(stack, stateDir, project, waitMs);
      }
      if (!told) {
        handling.onNotice?.(
          handling.ownerDead
            ? `the stack is locked, possibly by this run's previous attempt, which stopped heart-beating but may still be running; waiting up to ${Math.ceil(left / 1000)}s for it to stop and release the lock`
            : `the stack is locked by another run; waiting up to ${Math.ceil(left / 1000)}s for it to finish`,
        );
      }
      told = true;
      await sleep(Math.min(pollMs, left), handling.signal);
      pollMs = Math.min(pollMs * 2, 15_000);
    }
  }
}

function noticeRelease(release: LockRelease, handling: LockHandling): void {
  handling.onNotice?.(`the stack was locked by a run whose process is gone (${release.removed.map(owner).join(", ")}); its lock was removed and the operation retried`);
  const creates = release.pendingOperations.filter((op) => op.operation === "creating");
  if (creates.length > 0) {
    handling.onNotice?.(
      `${creates.length} resource(s) were being created when that run stopped and may exist without being in the stack's state: ` +
        `${creates.map((op) => `${op.urn} (${op.type})`).join(", ")}. If this update fails where the name is taken, ` +
        "check each in the cluster or Azure, then delete it or import it (`pulumi refresh --import-pending-creates <urn> <id>`)",
    );
  }
}

/** The error of a takeover that found the stack still locked after its wait, saying who holds it and what to do. */
async function takeoverLocked(stack: string, stateDir: string | null, project: string, waitMs: number): Promise<StackLockedError> {
  const waited = `after ${Math.ceil(waitMs / 1000)}s`;
  if (stateDir) {
    const locks = await readLocks(stateDir, project, stack).catch(() => [] as LockOwner[]);
    const holders = locks.length > 0 ? `held by ${locks.map(owner).join(", ")}` : "held";
    return new StackLockedError(
      stack,
      `the lock is still ${holders} ${waited}, and its owner is not known to be dead (alive, or on another host), so it was left in place. ` +
        "If no pulumi process of that run is still running, remove the lock (`pulumi cancel`) and retry the tenant",
    );
  }
  return new StackLockedError(
    stack,
    `the lock is still held ${waited}. The state backend cannot tell whether its owner, possibly this run's previous attempt, is still running, so it was left in place. ` +
      "If no pulumi process of that run is still running, remove the lock (`pulumi cancel`) and retry the tenant",
  );
}
