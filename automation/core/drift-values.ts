/**
 * The values of a drifted resource's properties, recorded against actual,
 * with anything that may be a secret shown as "[secret]" on both sides.
 * Shared by both engines' drift checks.
 */
import { SECRET_PLACEHOLDER } from "../../model/constants.ts";
import { parsePath, valueChanges } from "./property-paths.ts";
import type { PropertyDrift } from "./types.ts";

const SENSITIVE_PATH = /password|secret|token|connectionstring|privatekey/i;

/** Values that may hold a secret are shown as "[secret]" on both sides. */
function isSensitive(type: string, path: string, recorded: unknown, actual: unknown): boolean {
  if (type === "kubernetes:core/v1:Secret" && /^(data|stringData)\b/.test(path)) return true;
  if (SENSITIVE_PATH.test(path)) return true;
  const holdsSecret = (v: unknown) => v !== undefined && JSON.stringify(v)?.includes(SECRET_PLACEHOLDER) === true;
  return holdsSecret(recorded) || holdsSecret(actual);
}

/** Each differing property of a resource, recorded against actual, secrets redacted. */
export function propertyDrift(type: string, recorded: Record<string, unknown>, actual: Record<string, unknown>): PropertyDrift[] {
  return valueChanges(recorded, actual).map(({ path, before, after }) =>
    isSensitive(type, path, before, after)
      ? { path, recorded: before === undefined ? null : SECRET_PLACEHOLDER, actual: after === undefined ? null : SECRET_PLACEHOLDER }
      : { path, recorded: before ?? null, actual: after ?? null },
  );
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

/** The given paths of a resource with their values on each side, redacted as propertyDrift does. */
export function propertyDriftAt(type: string, paths: readonly string[], recorded: unknown, actual: unknown): PropertyDrift[] {
  return paths.map((path) => {
    const before = valueAt(recorded, path);
    const after = valueAt(actual, path);
    return isSensitive(type, path, before, after)
      ? { path, recorded: before === undefined ? null : SECRET_PLACEHOLDER, actual: after === undefined ? null : SECRET_PLACEHOLDER }
      : { path, recorded: before ?? null, actual: after ?? null };
  });
}
