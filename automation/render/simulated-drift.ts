/**
 * The render engine's stand-in for reality. A Pulumi stack records what the
 * last update left behind; the cloud may have moved on since (someone edited
 * a quota by hand, deleted a DNS record). The render engine has no cloud, so
 * it keeps, per tenant, a simulated actual state next to the recorded one:
 * absent means reality matches the record; a documented command
 * (`npm run render:drift`, see docs/drift.md) edits a property or deletes a
 * resource in it. A drift check compares the two (a refresh preview); a
 * provision starts from the actual state (a refresh before the update) and so
 * puts back whatever was changed.
 */
import type { RenderedResource } from "../../stacks/mock-render.ts";
import { InvalidRequestError } from "../core/errors.ts";
import { formatPath, parsePath } from "../core/property-paths.ts";
import type { RenderRecord } from "./store.ts";

/** A change made to a tenant's simulated actual state. */
export type SimulatedDrift =
  /** Sets one input property of a resource (by URN or logical name) to a JSON value, as a hand edit would. */
  | { readonly kind: "edit"; readonly resource: string; readonly path: string; readonly value: unknown }
  /** Removes a resource from reality, as a deletion outside Pulumi would. */
  | { readonly kind: "delete"; readonly resource: string }
  /** Forgets every simulated change: reality matches the record again. */
  | { readonly kind: "reset" };

/** What is really there: the simulated actual state, or the record when nothing was changed. */
export function actualResources(record: RenderRecord): readonly RenderedResource[] {
  return record.actual ?? record.resources;
}

function findResource(resources: readonly RenderedResource[], wanted: string, slug: string): RenderedResource {
  const byUrn = resources.find((r) => r.urn === wanted);
  if (byUrn) return byUrn;
  const byName = resources.filter((r) => r.name === wanted && r.custom);
  if (byName.length === 1) return byName[0]!;
  if (byName.length > 1) throw new InvalidRequestError(`"${wanted}" names ${byName.length} resources of tenant ${slug}; give the URN: ${byName.map((r) => r.urn).join(", ")}`);
  throw new InvalidRequestError(`tenant ${slug} has no resource "${wanted}" (give a URN or a resource name from the record)`);
}

function setAt(inputs: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  let segments;
  try {
    segments = parsePath(path);
  } catch (error) {
    throw new InvalidRequestError((error as Error).message);
  }
  const copy = structuredClone(inputs);
  let node: unknown = copy;
  for (const [i, segment] of segments.entries()) {
    const last = i === segments.length - 1;
    const container = node as Record<string | number, unknown>;
    if (node === null || typeof node !== "object" || (typeof segment === "number") !== Array.isArray(node)) {
      throw new InvalidRequestError(`the property path ${path} does not exist: ${formatPath(segments.slice(0, i)) || "the inputs"} is not ${typeof segment === "number" ? "a list" : "an object"}`);
    }
    if (last) container[segment] = value;
    else if (!(segment in container)) throw new InvalidRequestError(`the property path ${path} does not exist: no ${formatPath(segments.slice(0, i + 1))}`);
    else node = container[segment];
  }
  return copy;
}

/** The record with the change applied to its simulated actual state; the recorded state is untouched. */
export function applySimulatedDrift(record: RenderRecord, change: SimulatedDrift): RenderRecord {
  const { actual: _previous, ...rest } = record;
  if (change.kind === "reset") return { ...rest, updatedAt: new Date().toISOString() };
  const current = actualResources(record);
  const target = findResource(current, change.resource, record.slug);
  if (!target.custom) throw new InvalidRequestError(`${target.urn} is a phase component; it has no properties of its own to change`);
  const actual =
    change.kind === "delete"
      ? current.filter((r) => r.urn !== target.urn)
      : current.map((r) => (r.urn === target.urn ? { ...r, inputs: setAt(r.inputs, change.path, change.value) } : r));
  return { ...rest, actual, updatedAt: new Date().toISOString() };
}
