/**
 * The values of a drifted resource's properties, recorded against actual,
 * as found: NOT redacted. Shared by both engines' drift checks, which pass
 * the whole check's resources through redactDriftedResources (redact.ts)
 * before anything leaves them, so that a secret found in one resource is
 * masked wherever else it appears.
 */
import { parsePath, valueChanges } from "./property-paths.ts";
import type { PropertyDrift } from "./types.ts";

/** Each differing property of a resource, recorded against actual (null: that side has none). Unredacted. */
export function unredactedDrift(recorded: Record<string, unknown>, actual: Record<string, unknown>): PropertyDrift[] {
  return valueChanges(recorded, actual).map(({ path, before, after }) => ({ path, recorded: before ?? null, actual: after ?? null }));
}

/** The value at a property path (undefined when there is none or the path cannot be read). */
export function valueAt(value: unknown, path: string): unknown {
  let segments;
  try {
    segments = parsePath(path);
  } catch {
    return undefined;
  }
  let node = value;
  for (const segment of segments) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<string | number, unknown>)[segment];
  }
  return node;
}

/** The given paths of a resource with their values on each side, as unredactedDrift gives them. */
export function unredactedDriftAt(paths: readonly string[], recorded: unknown, actual: unknown): PropertyDrift[] {
  return paths.map((path) => {
    const before = valueAt(recorded, path);
    const after = valueAt(actual, path);
    return { path, recorded: before ?? null, actual: after ?? null };
  });
}
