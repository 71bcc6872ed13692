/**
 * What to do when the stack is locked (ConcurrentUpdateError). A lock held by
 * a live run is waited on, then reported as StackLockedError; it is never
 * broken. A lock left by a run whose owner the caller knows to be dead (the
 * job's heartbeat stopped) is cancelled (`pulumi cancel`, which on the local
 * file backend removes the lock) and the operation retried once.
 */
import { sleep } from "../core/abort.ts";

export interface LockHandling {
  readonly ownerDead: boolean;
  readonly lockWaitMs: number;
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
  let told = false;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (!isLockConflict(error)) throw error;
      if (handling.ownerDead && !staleLockCancelled) {
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
