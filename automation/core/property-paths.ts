/**
 * Property paths in Pulumi's notation (`spec.hard.pods`,
 * `metadata.labels["matih.ai/tier"]`, `spec.limits[0].default.cpu`), and a
 * structural diff that lists the paths at which two JSON values differ.
 */

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export type PathSegment = string | number;

export function formatPath(segments: readonly PathSegment[]): string {
  let out = "";
  for (const segment of segments) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (IDENTIFIER.test(segment)) out += out === "" ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Paths, in sorted order, where `before` and `after` differ. A value that
 * changes kind (object to string, say) is reported at its own path, not at
 * every leaf below it; a key present on one side only is reported at the key.
 */
export function changedPaths(before: unknown, after: unknown): string[] {
  const out: string[] = [];
  walk(before, after, [], out);
  return out.sort();
}

function walk(before: unknown, after: unknown, path: PathSegment[], out: string[]): void {
  if (isObject(before) && isObject(after)) {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    for (const key of keys) {
      if (!(key in before) || !(key in after)) out.push(formatPath([...path, key]));
      else walk(before[key], after[key], [...path, key], out);
    }
    return;
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const length = Math.max(before.length, after.length);
    for (let i = 0; i < length; i++) {
      if (i >= before.length || i >= after.length) out.push(formatPath([...path, i]));
      else walk(before[i], after[i], [...path, i], out);
    }
    return;
  }
  if (!Object.is(before, after)) out.push(path.length === 0 ? "" : formatPath(path));
}

/** True when `path` is `prefix` or lies below it. */
export function pathIsWithin(path: string, prefix: string): boolean {
  if (path === prefix) return true;
  if (!path.startsWith(prefix)) return false;
  const next = path[prefix.length];
  return next === "." || next === "[";
}
