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
  return valueChanges(before, after).map((c) => c.path);
}

/** One path at which two values differ; a side that lacks the key holds `undefined`. */
export interface ValueChange {
  readonly path: string;
  readonly before: unknown;
  readonly after: unknown;
}

/** Like changedPaths, with the value on each side at every path (sorted by path). */
export function valueChanges(before: unknown, after: unknown): ValueChange[] {
  const out: ValueChange[] = [];
  walk(before, after, [], out);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function walk(before: unknown, after: unknown, path: PathSegment[], out: ValueChange[]): void {
  if (isObject(before) && isObject(after)) {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    for (const key of keys) {
      if (!(key in before) || !(key in after)) out.push({ path: formatPath([...path, key]), before: before[key], after: after[key] });
      else walk(before[key], after[key], [...path, key], out);
    }
    return;
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const length = Math.max(before.length, after.length);
    for (let i = 0; i < length; i++) {
      if (i >= before.length || i >= after.length) out.push({ path: formatPath([...path, i]), before: before[i], after: after[i] });
      else walk(before[i], after[i], [...path, i], out);
    }
    return;
  }
  if (!Object.is(before, after)) out.push({ path: path.length === 0 ? "" : formatPath(path), before, after });
}

/**
 * The segments of a path in the notation formatPath writes: `spec.hard.pods`,
 * `metadata.labels["matih.ai/tier"]`, `spec.containers[0].image`. Throws a
 * RangeError naming the problem for anything else.
 */
export function parsePath(path: string): PathSegment[] {
  const segments: PathSegment[] = [];
  let i = 0;
  const fail = (why: string): never => {
    throw new RangeError(`cannot read the property path ${JSON.stringify(path)}: ${why} at position ${i}`);
  };
  if (path === "") fail("it is empty");
  while (i < path.length) {
    if (path[i] === "[") {
      const close = path.indexOf("]", i);
      if (path[i + 1] === '"') {
        // A quoted key may itself hold "]": find the closing quote first.
        let end = i + 2;
        while (end < path.length && path[end] !== '"') end += path[end] === "\\" ? 2 : 1;
        if (path[end + 1] !== "]") fail("an unclosed quoted key");
        segments.push(JSON.parse(path.slice(i + 1, end + 1)) as string);
        i = end + 2;
      } else {
        if (close < 0) fail("an unclosed [");
        const index = path.slice(i + 1, close);
        if (!/^\d+$/.test(index)) fail(`"${index}" is not an array index`);
        segments.push(Number(index));
        i = close + 1;
      }
    } else {
      if (segments.length > 0) {
        if (path[i] !== ".") fail("expected . or [");
        i++;
      }
      const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(path.slice(i));
      if (!match) fail("expected a property name");
      segments.push(match![0]);
      i += match![0].length;
    }
  }
  return segments;
}

/** True when `path` is `prefix` or lies below it. */
export function pathIsWithin(path: string, prefix: string): boolean {
  if (path === prefix) return true;
  if (!path.startsWith(prefix)) return false;
  const next = path[prefix.length];
  return next === "." || next === "[";
}

/** The value at `path` inside `root`, or undefined where the path leads nowhere or cannot be read. */
export function valueAt(root: unknown, path: string): unknown {
  if (path === "") return root;
  let segments: PathSegment[];
  try {
    segments = parsePath(path);
  } catch {
    return undefined; // a path from a provider's diff in a notation we do not read: no value to show
  }
  let current: unknown = root;
  for (const segment of segments) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string | number, unknown>)[segment];
  }
  return current;
}
