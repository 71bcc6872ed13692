import { expect } from "vitest";
import type { Rendered } from "./fixtures.ts";

/**
 * The order Pulumi deletes resources in: a resource goes only after everything
 * that depends on it. Returns release names, first deleted first.
 */
export function teardownOrder(rendered: Rendered, names: readonly string[]): string[] {
  const releases = names.map((n) => rendered.release(n));
  const remaining = new Set(releases);
  const order: string[] = [];
  while (remaining.size > 0) {
    const deletable = [...remaining].filter((r) => ![...remaining].some((other) => other !== r && other.dependsOn.includes(r.urn)));
    expect(deletable.length).toBeGreaterThan(0);
    for (const r of deletable) {
      remaining.delete(r);
      order.push(String(r.inputs.name));
    }
  }
  return order;
}
