/**
 * A fleet preview for an engine that previews one stack at a time (the Pulumi
 * engine: each tenant is a stack, and its preview is a `pulumi preview` with
 * a refresh, seconds to minutes each). The tenants are previewed with the
 * proposed settings a few at a time, through the engine's own `preview`, so
 * its admission gate, time limits and redaction hold as for any preview; each
 * tenant's entry is handed on as it finishes and not kept.
 *
 * The render engine has a batch preview of its own (render/fleet-preview.ts);
 * both answer with the same entries, which the service groups alike.
 */
import type { PlatformSettings } from "../../model/settings.ts";
import type { TenantSpec } from "../../model/spec.ts";
import type { EngineErrorInfo, PreviewRequest, PreviewResult, StackSecretsSettings } from "./types.ts";

export type FleetPreviewEntry =
  | { readonly slug: string; readonly ok: true; readonly changeSummary: PreviewResult["changeSummary"]; readonly changes: PreviewResult["changes"] }
  | { readonly slug: string; readonly ok: false; readonly error: PreviewResult["error"] };

/** One tenant to preview: its spec, how far its stack reaches, and the stack's secrets settings. */
export interface FleetPreviewTarget {
  readonly spec: TenantSpec;
  readonly lastPhase: number;
  readonly stackSettings: StackSecretsSettings | null;
}

export interface TenantByTenantOptions {
  /** Previews at once. Keep it under the engine's operation limit, so tenants' own runs are not starved. */
  readonly concurrency: number;
  readonly signal?: AbortSignal;
  /** Each tenant's entry as its preview finishes. */
  readonly onEntry: (entry: FleetPreviewEntry) => void | Promise<void>;
}

const failure = (message: string): EngineErrorInfo => ({ code: "preview_failed", message, retryable: true, phase: null, urn: null });

/** An entry from one tenant's preview result: its changes when it ran, its error when it did not. */
export function entryOfPreview(slug: string, result: PreviewResult): FleetPreviewEntry {
  if (result.status !== "succeeded") return { slug, ok: false, error: result.error ?? failure(`the preview ended ${result.status}`) };
  return { slug, ok: true, changeSummary: result.changeSummary, changes: result.changes };
}

/**
 * Previews each target with `settings` through `preview`, `concurrency` at a
 * time, in the order given. A tenant whose preview throws gets a failed entry
 * (the others go on); the signal stops starting new ones and cancels those
 * under way, and the call then rejects with its reason: a preview cut short
 * has no complete answer.
 */
export async function previewTenantByTenant(
  preview: (request: PreviewRequest) => Promise<PreviewResult>,
  targets: readonly FleetPreviewTarget[],
  settings: PlatformSettings,
  options: TenantByTenantOptions,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < targets.length) {
      options.signal?.throwIfAborted();
      const target = targets[next++]!;
      let entry: FleetPreviewEntry;
      try {
        const result = await preview({
          spec: target.spec, settings, lastPhase: target.lastPhase, stackSettings: target.stackSettings,
          ...(options.signal ? { signal: options.signal } : {}),
        });
        // Cancelled, its result says so rather than what the tenant would get: not an entry.
        options.signal?.throwIfAborted();
        entry = entryOfPreview(target.spec.slug, result);
      } catch (error) {
        options.signal?.throwIfAborted();
        entry = { slug: target.spec.slug, ok: false, error: failure(error instanceof Error ? error.message : String(error)) };
      }
      await options.onEntry(entry);
    }
  };
  const lanes = Math.max(1, Math.min(Math.floor(options.concurrency), targets.length));
  await Promise.all(Array.from({ length: lanes }, lane));
  options.signal?.throwIfAborted();
}
