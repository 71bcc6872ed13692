/**
 * Gives every operation of a warm worker its own copy of the project's
 * modules. A warm worker keeps the heavy, stateless part loaded (the Pulumi
 * SDK and provider packages under node_modules) but must not carry one
 * tenant's module-level state into the next operation. A resolve hook tags
 * every project module's URL with the operation's number, so the job's
 * `import()` of its implementation evaluates the program, the components and
 * the model afresh; the previous copies are left for the worker's recycling
 * (after N operations or above its memory limit) to reclaim. The parts of
 * one operation (a fleet preview's chunks, JobRunOptions.operation) run on
 * one copy, as the tenants within one job do.
 *
 * Shared on purpose: node_modules, and automation/core + automation/isolation
 * (error classes must stay one class so typed errors survive `instanceof`, and
 * the protocol code is the worker itself).
 */
import { registerHooks } from "node:module";

const SHARED = /\/(node_modules|automation\/core|automation\/isolation)\//;

let operation = 0;
let installed = false;

export function installFreshModules(): void {
  if (installed) return;
  installed = true;
  registerHooks({
    resolve(specifier, context, nextResolve) {
      const resolved = nextResolve(specifier, context);
      if (operation === 0 || !resolved.url.startsWith("file:") || SHARED.test(resolved.url)) return resolved;
      const url = new URL(resolved.url);
      url.searchParams.set("operation", String(operation));
      return { ...resolved, url: url.href };
    },
  });
}

/** Called before each operation: from now on project modules resolve to fresh copies. */
export function beginFreshOperation(): number {
  operation += 1;
  return operation;
}
