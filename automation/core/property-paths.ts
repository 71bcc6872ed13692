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

/** Splits a path in Pulumi's notation into its segments; the inverse of formatPath. */
export function parsePath(path: string): PathSegment[] {
  const segments: PathSegment[] = [];
  let i = 0;
  while (i < path.length) {
    const c = path[i];
    if (c === ".") {
      i++;
      continue;
    }
    if (c === "[") {
      const close = path[i + 1] === '"' ? path.indexOf('"]', i + 2) + 1 : path.indexOf("]", i);
      if (close <= i) return [...segments, path.slice(i)];
      const inner = path.slice(i + 1, close);
      segments.push(inner.startsWith('"') ? (JSON.parse(inner) as string) : Number(inner));
      i = close + 1;
      continue;
    }
    let end = i;
    while (end < path.length && path[end] !== "." && path[end] !== "[") end++;
    segments.push(path.slice(i, end));
    i = end;
  }
  return segments;
}

/** The value at `path` inside `root`, or undefined where the path leads nowhere. */
export function valueAt(root: unknown, path: string): unknown {
  if (path === "") return root;
  let current: unknown = root;
  for (const segment of parsePath(path)) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string | number, unknown>)[segment];
  }
  return current;
}
