/**
 * What to do when the stack is locked (ConcurrentUpdateError). A lock held by
 * a live run is waited on, then reported as StackLockedError; it is never
 * broken. A lock left by a run whose owner the caller knows to be dead (the
 * job's heartbeat stopped) is cancelled (`pulumi cancel`, which on the local
 * file backend removes the lock) and the operation retried once, but only
 * after `staleLockGraceMs`: the dead service's worker may still be stopping
 * its CLI (SIGINT, in-flight steps such as a Helm wait) and kills its process
 * group once that grace is over, so cancelling earlier would break a live
 * lock and let two updates write one checkpoint.
 */
import { sleep } from "../core/abort.ts";

export interface LockHandling {
  readonly ownerDead: boolean;
  readonly lockWaitMs: number;
  /**
   * With `ownerDead`: how long to keep waiting for the dead run's lock before
   * cancelling it; must exceed the worker's orphan grace (the engine's cancel
   * grace). Measured from the first conflict, which comes after the job was
   * taken over, so after the old service died. Default 0.
   */
  readonly staleLockGraceMs?: number;
  readonly signal: AbortSignal;
  /** First wait between attempts; doubles up to 15 s. */
  readonly pollMs?: number;
  readonly cancelStaleLock: () => Promise<void>;
  /** Told about waits and cancelled locks, for the event stream and the logs. */
  readonly onNotice?: (message: string) => void;
}

export function isLockConflict(error: unknown): boolean {
  return error instanceof Error && error.name === "ConcurrentUpdateError";
}

export async function withLockHandling<T>(attempt: () => Promise<T>, handling: LockHandling): Promise<T> {
  const deadline = Date.now() + handling.lockWaitMs;
  let pollMs = handling.pollMs ?? 2_000;
  let staleLockCancelled = false;
  let staleSince: number | null = null;
  let told = false;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (!isLockConflict(error)) throw error;
      if (handling.ownerDead && !staleLockCancelled) {
        const graceMs = handling.staleLockGraceMs ?? 0;
        staleSince ??= Date.now();
        const left = staleSince + graceMs - Date.now();
        if (left > 0) {
          if (!told) handling.onNotice?.(`the stack is locked by a run the service reports dead; giving its worker ${Math.ceil(left / 1000)}s to stop its CLI before cancelling the lock`);
          told = true;
          await sleep(Math.min(pollMs, left), handling.signal);
          pollMs = Math.min(pollMs * 2, 15_000);
          continue;
        }
        staleLockCancelled = true;
        handling.onNotice?.("the stack was locked by a run the service reports dead; cancelling its lock and retrying");
        await handling.cancelStaleLock();
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw error;
      if (!told) handling.onNotice?.(`the stack is locked by another run; waiting up to ${Math.ceil(left / 1000)}s for it to finish`);
      told = true;
      await sleep(Math.min(pollMs, left), handling.signal);
      pollMs = Math.min(pollMs * 2, 15_000);
    }
  }
}
