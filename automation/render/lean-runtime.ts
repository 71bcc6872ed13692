/**
 * Runs a render without the Pulumi SDK's debugging aids, which cost more than
 * the render itself and which a render never reads (measured with
 * `node --cpu-prof bench/profile-render.ts`, see docs/performance.md):
 *
 * - every promise the SDK makes goes through `debuggablePromise`, which
 *   defines three properties on it, captures `new Error().stack`, tracks it in
 *   a leak-candidate set and chains two more promises. The stack and the
 *   leak set are only read by the Automation API's inline-program server and
 *   at process exit; a render is neither.
 * - every resource constructor records the source position of the code that
 *   created it (`Resource.stackTrace`, a full stack trace with no limit,
 *   parsed line by line and turned into file URLs) for the engine's
 *   diagnostics. The mock monitor drops it, and a render keeps nothing of it.
 * - `Error.stackTraceLimit` = 0 for whatever else builds an Error on the way
 *   (a failed render reports messages, not stacks).
 *
 * All three are put back when the render ends, so the worker's next job (a
 * Pulumi engine operation, say) runs with the SDK as shipped. The render
 * stays exact: test/automation/render/render-speedups.test.ts compares it
 * with a plain render on every tier. If an SDK upgrade renames what is
 * replaced here, the replacement is skipped and renders are only slower.
 */
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

interface DebuggableModule {
  debuggablePromise: <T>(promise: Promise<T>, context: unknown) => Promise<T>;
}
interface ResourceClass {
  stackTrace: (skip: number) => unknown[];
}

// The SDK's own module objects (CommonJS, shared with every import of @pulumi/pulumi in this process).
const debuggable = require("@pulumi/pulumi/runtime/debuggable.js") as Partial<DebuggableModule>;
const resource = (require("@pulumi/pulumi/resource.js") as { Resource?: Partial<ResourceClass> }).Resource;

const passThrough = <T>(promise: Promise<T>): Promise<T> => promise;
const noPositions = (): unknown[] => [];

/** Runs `work` with the SDK's debugging aids off, and puts them back afterwards (also when it throws). */
export async function withLeanRuntime<T>(work: () => Promise<T>): Promise<T> {
  const limit = Error.stackTraceLimit;
  const promiseWrapper = debuggable.debuggablePromise;
  const stackTrace = resource?.stackTrace;
  Error.stackTraceLimit = 0;
  if (typeof promiseWrapper === "function") debuggable.debuggablePromise = passThrough;
  if (resource && typeof stackTrace === "function") resource.stackTrace = noPositions;
  try {
    return await work();
  } finally {
    Error.stackTraceLimit = limit;
    if (typeof promiseWrapper === "function") debuggable.debuggablePromise = promiseWrapper;
    if (resource && typeof stackTrace === "function") resource.stackTrace = stackTrace;
  }
}
