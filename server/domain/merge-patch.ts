/**
 * JSON Merge Patch (RFC 7396), as its section 2 gives it: an object patch
 * merges key by key (null removes a key), anything else replaces the target
 * whole. Written here rather than taken from npm: the algorithm is the RFC's
 * ten lines, and the candidates (`json-merge-patch`, one release a year, a
 * dependency of its own) would add a package to the lockfile's supply-chain
 * checks for less code than their wrappers. Tested against the RFC's appendix A.
 */
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = applyMergePatch(out[key], value);
  }
  return out;
}
