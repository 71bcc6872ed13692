/**
 * Signals and waits that end an operation on time: the caller's cancel and the
 * per-operation time limit become one signal whose reason says which it was.
 */
import { EngineError, OperationCancelledError, OperationTimeoutError } from "./errors.ts";

export interface OperationSignal {
  readonly signal: AbortSignal;
  dispose(): void;
}

/**
 * A signal that aborts with the caller's reason (or OperationCancelledError)
 * when `signal` aborts, and with OperationTimeoutError after `timeoutMs`.
 */
export function operationSignal(signal: AbortSignal | undefined, timeoutMs: number): OperationSignal {
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal ? abortReason(signal) : new OperationCancelledError());
  if (signal?.aborted) onAbort();
  else signal?.addEventListener("abort", onAbort, { once: true });
  const timer = Number.isFinite(timeoutMs) && timeoutMs > 0 ? setTimeout(() => controller.abort(new OperationTimeoutError(timeoutMs)), timeoutMs) : undefined;
  timer?.unref?.();
  return {
    signal: controller.signal,
    dispose() {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    },
  };
}

/** Waits `ms`, or rejects with the abort reason as soon as the signal fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The abort reason as an EngineError: ours as they are, anything else (a plain `abort()`) as a cancel. */
export function abortReason(signal: AbortSignal): EngineError {
  return signal.reason instanceof EngineError ? signal.reason : new OperationCancelledError();
}
