/**
 * Admission of operations in this process: one operation per tenant at a time
 * (later ones queue behind it, in order), and at most `maxConcurrent`
 * operations across tenants. Each admitted operation gets a signal that fires
 * when the caller's signal fires or when `cancel(slug)` is called, whether the
 * operation is still queued or already running.
 */
import { EngineError, OperationCancelledError } from "./errors.ts";

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

/** A counting semaphore whose waiters can give up. */
class Slots {
  private free: number;
  private readonly waiters: Waiter[] = [];

  constructor(size: number) {
    this.free = size;
  }

  acquire(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve: () => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        },
        reject,
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next.resolve();
    else this.free++;
  }
}

function waitFor(promise: Promise<unknown>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      },
      () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      },
    );
  });
}

export class OperationGate {
  readonly maxConcurrent: number;
  private readonly slots: Slots;
  private readonly tails = new Map<string, Promise<void>>();
  private readonly controllers = new Map<string, Set<AbortController>>();
  private running = 0;

  constructor(options: { maxConcurrent: number }) {
    if (!Number.isInteger(options.maxConcurrent) || options.maxConcurrent < 1) {
      throw new RangeError(`maxConcurrent must be a whole number of at least 1, got ${options.maxConcurrent}`);
    }
    this.maxConcurrent = options.maxConcurrent;
    this.slots = new Slots(options.maxConcurrent);
  }

  /** Operations running right now (not counting queued ones). */
  get active(): number {
    return this.running;
  }

  /**
   * Runs `work` once it is this tenant's turn and a slot is free. Rejects with
   * the abort reason (OperationCancelledError unless the caller gave another)
   * when cancelled while queued; once running, `work` sees the abort through
   * its signal and decides how to end.
   */
  async run<T>(slug: string, callerSignal: AbortSignal | undefined, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    // A plain abort() gives a DOMException; anything that is not one of ours means "cancelled".
    const forward = () => controller.abort(callerSignal?.reason instanceof EngineError ? callerSignal.reason : new OperationCancelledError());
    if (callerSignal?.aborted) forward();
    else callerSignal?.addEventListener("abort", forward, { once: true });
    this.register(slug, controller);

    const previous = this.tails.get(slug) ?? Promise.resolve();
    let releaseTurn!: () => void;
    const turn = new Promise<void>((resolve) => (releaseTurn = resolve));
    const tail = previous.then(() => turn);
    this.tails.set(slug, tail);

    let holdsSlot = false;
    try {
      await waitFor(previous, controller.signal);
      await this.slots.acquire(controller.signal);
      holdsSlot = true;
      this.running++;
      return await work(controller.signal);
    } finally {
      if (holdsSlot) {
        this.running--;
        this.slots.release();
      }
      releaseTurn();
      if (this.tails.get(slug) === tail) this.tails.delete(slug);
      this.unregister(slug, controller);
      callerSignal?.removeEventListener("abort", forward);
    }
  }

  /** Cancels this tenant's running and queued operations; true when there was one. */
  cancel(slug: string, reason: unknown = new OperationCancelledError(`the operation for tenant "${slug}" was cancelled`)): boolean {
    const set = this.controllers.get(slug);
    if (!set || set.size === 0) return false;
    for (const controller of set) controller.abort(reason);
    return true;
  }

  /** Cancels everything. */
  cancelAll(reason: unknown = new OperationCancelledError("the engine is shutting down")): void {
    for (const slug of this.controllers.keys()) this.cancel(slug, reason);
  }

  /** Resolves when nothing is queued or running. */
  async idle(): Promise<void> {
    while (this.tails.size > 0) await Promise.allSettled([...this.tails.values()]);
  }

  private register(slug: string, controller: AbortController): void {
    let set = this.controllers.get(slug);
    if (!set) this.controllers.set(slug, (set = new Set()));
    set.add(controller);
  }

  private unregister(slug: string, controller: AbortController): void {
    const set = this.controllers.get(slug);
    set?.delete(controller);
    if (set && set.size === 0) this.controllers.delete(slug);
  }
}
