import type { OpType } from "@pulumi/pulumi/automation/index.js";
import type { ChangeSummary, ResourceOp } from "./types.ts";

export function emptyChangeSummary(): ChangeSummary {
  return { create: 0, update: 0, replace: 0, delete: 0, same: 0 };
}

/**
 * Folds the engine's many step kinds into the five a reviewer cares about.
 * A replacement shows up as several steps on one URN (create-replacement,
 * replace, delete-replaced); all of them mean "replace".
 */
export function normalizeOp(op: OpType | string): ResourceOp {
  switch (op) {
    case "create":
    case "import":
      return "create";
    case "update":
      return "update";
    case "replace":
    case "create-replacement":
    case "delete-replaced":
    case "discard-replaced":
    case "remove-pending-replace":
    case "read-replacement":
    case "import-replacement":
      return "replace";
    case "delete":
    case "discard":
      return "delete";
    case "read":
      return "read";
    default:
      // same, refresh and anything newer engines add that changes nothing.
      return "same";
  }
}

const PRECEDENCE: Readonly<Record<ResourceOp, number>> = { same: 0, read: 0, update: 1, create: 2, delete: 2, replace: 3 };

/** When several steps touch one URN, the most disruptive one describes it. */
export function strongerOp(a: ResourceOp | undefined, b: ResourceOp): ResourceOp {
  if (a === undefined) return b;
  return PRECEDENCE[b] > PRECEDENCE[a] ? b : a;
}

export function summarize(ops: Iterable<ResourceOp>): ChangeSummary {
  const summary = emptyChangeSummary();
  for (const op of ops) summary[op === "read" ? "same" : op] += 1;
  return summary;
}
