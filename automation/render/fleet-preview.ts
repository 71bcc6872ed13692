/**
 * One tenant's part of a fleet-wide preview: its render with the new settings
 * against its record, as the changes a provision would make. Computed in the
 * render worker, next to the render, so that only the changes travel back to
 * the service: a tenant's render is about 180 KB of JSON, its changes for a
 * settings change a few KB.
 */
import { summarize } from "../core/change-summary.ts";
import { redactResourceChanges } from "../core/redact.ts";
import type { FleetPreviewEntry } from "../core/fleet-preview.ts";
import type { FleetPreviewRecord, RenderOutcome } from "../isolation/protocol.ts";
import { planUpdate, stepsInOrder, toResourceChange } from "./steps.ts";

export type { FleetPreviewEntry };

export function fleetPreviewEntry(record: FleetPreviewRecord, outcome: RenderOutcome): FleetPreviewEntry {
  if (!outcome.ok) return { slug: record.slug, ok: false, error: outcome.error };
  // Records hold secrets as "[secret]"; redacted all the same, as every preview is.
  const changes = redactResourceChanges(stepsInOrder(planUpdate(outcome.result.resources, record.resources, record.lastPhase)).map(toResourceChange));
  return { slug: record.slug, ok: true, changeSummary: summarize(changes.map((c) => c.op)), changes };
}
