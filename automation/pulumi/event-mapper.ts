/**
 * Maps the Automation API's engine events (`onEvent`) onto the phase
 * components' URNs, through the phase tracker:
 *
 * - resourcePreEvent: the resource's step starts (a phase starts with its
 *   component or first child);
 * - resOutputsEvent: the step is done; for a phase component it is the
 *   outputs it registers after all its children, so the phase has succeeded;
 * - resOpFailedEvent + the error diagnostic for the same URN: the phase
 *   failed, with the resource and the engine's message. The two arrive in
 *   either order, so a failure waits for its message until the next event of
 *   another kind;
 * - diagnosticEvent (warning, error): passed on, secrets redacted;
 * - cancelEvent, summaryEvent: noted.
 *
 * It also collects what previews and drift checks report: per-resource
 * operations with changed property paths, and refreshed resources whose
 * state differs from the recorded one.
 */
import type { EngineEvent, StepEventMetadata } from "@pulumi/pulumi/automation/index.js";
import { normalizeOp, strongerOp } from "../core/change-summary.ts";
import { unredactedDriftAt } from "../core/drift-values.ts";
import { phaseRefOfUrn, STACK_TYPE, type PhaseTracker } from "../core/phase-tracker.ts";
import { changedPaths, valueAt } from "../core/property-paths.ts";
import { redactDriftedResources, redactResourceChanges } from "../core/redact.ts";
import type { DriftedResource, ProgressEventBody, PropertyDiff, ResourceChange, ResourceOp } from "../core/types.ts";

interface ChangeEntry {
  urn: string;
  type: string;
  op: ResourceOp;
  paths: Set<string>;
  replaceReasons: Set<string>;
  /** Inputs before and after, as the engine reports them (secrets already "[secret]"). */
  oldInputs: Record<string, unknown> | undefined;
  newInputs: Record<string, unknown> | undefined;
}

export interface EventMapperOptions {
  /** Strips colour codes and secret values from engine text. */
  readonly clean: (text: string) => string;
  /** Secret values of the environment (secretValues), masked wherever they appear in changes and drift. */
  readonly secrets?: readonly string[];
  readonly emit: (body: ProgressEventBody) => void;
  /**
   * Whether refresh steps count as phase progress: yes for a drift check,
   * which is nothing but a refresh; no for an `up --refresh`, whose refresh
   * reads every resource before the update reaches its phase. Default true.
   */
  readonly refreshStepsAreProgress?: boolean;
}

function isProvider(type: string): boolean {
  return type.startsWith("pulumi:providers:");
}

export class PulumiEventMapper {
  private readonly tracker: PhaseTracker;
  private readonly options: EventMapperOptions;
  private readonly errorsByUrn = new Map<string, string>();
  private readonly awaitingMessage = new Map<string, { type: string; status: number }>();
  private readonly changes = new Map<string, ChangeEntry>();
  private readonly drifted = new Map<string, DriftedResource>();
  private readonly generalErrors: string[] = [];
  private engineCancelled = false;
  private summarySeen = false;

  constructor(tracker: PhaseTracker, options: EventMapperOptions) {
    this.tracker = tracker;
    this.options = options;
  }

  /** Pass as `onEvent`. */
  readonly handle = (event: EngineEvent): void => {
    if (!event.diagnosticEvent) this.flush();
    if (event.resourcePreEvent) this.onPre(event.resourcePreEvent.metadata);
    else if (event.resOutputsEvent) this.onOutputs(event.resOutputsEvent.metadata);
    else if (event.resOpFailedEvent) this.onFailed(event.resOpFailedEvent.metadata, event.resOpFailedEvent.status);
    else if (event.diagnosticEvent) this.onDiagnostic(event.diagnosticEvent);
    else if (event.cancelEvent) this.engineCancelled = true;
    else if (event.summaryEvent) this.summarySeen = true;
  };

  /** Reports failures still waiting for their message. Call when the stream has ended. */
  flush(): void {
    for (const [urn, { type, status }] of this.awaitingMessage) {
      this.tracker.resourceFailed({ urn, type }, this.errorsByUrn.get(urn) ?? this.generalErrors[0] ?? `the ${type} operation failed (engine status ${status})`);
    }
    this.awaitingMessage.clear();
  }

  /** Whether the engine said it was cancelled. */
  get cancelled(): boolean {
    return this.engineCancelled;
  }

  /** Whether the engine got as far as its summary. */
  get completed(): boolean {
    return this.summarySeen;
  }

  /** Error diagnostics not tied to a resource, such as a program error. */
  errors(): readonly string[] {
    return this.generalErrors;
  }

  /** Per-resource operations of a preview, in the order the engine reached them. */
  resourceChanges(): ResourceChange[] {
    // The engine masks the values it knows are secret; redactResourceChanges also those that lost their marking.
    return redactResourceChanges([...this.changes.values()].map((c) => ({
      urn: c.urn,
      type: c.type,
      phase: phaseRefOfUrn(c.urn),
      op: c.op,
      changedPaths: [...c.paths].sort(),
      replaceReasons: c.op === "replace" ? [...c.replaceReasons].sort() : [],
      diffs: [...c.paths].sort().map((path) => propertyDiff(path, c.oldInputs, c.newInputs)),
    })), this.options.secrets ?? []);
  }

  /** Resources a refresh found changed or gone. */
  driftedResources(): DriftedResource[] {
    return redactDriftedResources([...this.drifted.values()], this.options.secrets ?? []);
  }

  /** A refresh step ahead of an update: not progress, but worth telling when it finds a resource gone. */
  private isLeadingRefresh(metadata: StepEventMetadata): boolean {
    return metadata.op === "refresh" && this.options.refreshStepsAreProgress === false;
  }

  private onPre(metadata: StepEventMetadata): void {
    if (this.isLeadingRefresh(metadata)) return;
    const op = normalizeOp(metadata.op);
    this.tracker.resourceStarted({ urn: metadata.urn, type: metadata.type, op });
    if (metadata.type !== STACK_TYPE) this.recordChange(metadata, op);
    if (metadata.op === "delete" || metadata.op === "discard") this.recordDrift(metadata, true);
  }

  private onOutputs(metadata: StepEventMetadata): void {
    if (this.isLeadingRefresh(metadata)) {
      this.recordDrift(metadata, false);
      const drift = this.drifted.get(metadata.urn);
      if (drift?.drift === "gone") {
        const phase = phaseRefOfUrn(metadata.urn);
        this.options.emit({ type: "diagnostic", severity: "warning", message: `${metadata.urn} was deleted outside Pulumi; this update creates it again`, urn: metadata.urn, phase });
      }
      return;
    }
    const op = normalizeOp(metadata.op);
    this.tracker.resourceDone({ urn: metadata.urn, type: metadata.type, op });
    if (metadata.op === "refresh" || metadata.op === "update" || metadata.op === "delete") this.recordDrift(metadata, metadata.op === "delete");
  }

  private onFailed(metadata: StepEventMetadata, status: number): void {
    const message = this.errorsByUrn.get(metadata.urn);
    if (message !== undefined) this.tracker.resourceFailed({ urn: metadata.urn, type: metadata.type }, message);
    else this.awaitingMessage.set(metadata.urn, { type: metadata.type, status });
  }

  private onDiagnostic(diagnostic: NonNullable<EngineEvent["diagnosticEvent"]>): void {
    if (diagnostic.severity !== "error" && diagnostic.severity !== "warning") return; // program output, not diagnostics
    if (diagnostic.ephemeral) return;
    const message = this.options.clean(`${diagnostic.message}`).replace(/^error:\s*/i, "");
    if (message === "") return;
    const urn = diagnostic.urn && !diagnostic.urn.includes(`::${STACK_TYPE}::`) ? diagnostic.urn : null;
    this.options.emit({ type: "diagnostic", severity: diagnostic.severity, message, urn, phase: urn ? phaseRefOfUrn(urn) : null });
    if (diagnostic.severity !== "error") return;
    if (!urn) {
      this.generalErrors.push(message);
      return;
    }
    if (!this.errorsByUrn.has(urn)) this.errorsByUrn.set(urn, message);
    const waiting = this.awaitingMessage.get(urn);
    if (waiting) {
      this.awaitingMessage.delete(urn);
      this.tracker.resourceFailed({ urn, type: waiting.type }, this.errorsByUrn.get(urn)!);
    }
  }

  private recordChange(metadata: StepEventMetadata, op: ResourceOp): void {
    let entry = this.changes.get(metadata.urn);
    if (!entry) {
      entry = { urn: metadata.urn, type: metadata.type, op, paths: new Set(), replaceReasons: new Set(), oldInputs: undefined, newInputs: undefined };
      this.changes.set(metadata.urn, entry);
    }
    entry.op = strongerOp(entry.op, op);
    entry.oldInputs ??= metadata.old?.inputs;
    entry.newInputs ??= metadata.new?.inputs;
    const detailed = Object.keys(metadata.detailedDiff ?? {});
    for (const path of detailed.length > 0 ? detailed : metadata.diffs ?? []) entry.paths.add(path);
    if (op === "replace") for (const key of metadata.keys ?? []) entry.replaceReasons.add(key);
  }

  private recordDrift(metadata: StepEventMetadata, gone: boolean): void {
    if (metadata.type === STACK_TYPE || isProvider(metadata.type)) return;
    if (metadata.old?.custom === false || metadata.new?.custom === false) return; // components hold no cloud state
    if (gone || (metadata.old && !metadata.new)) {
      this.drifted.set(metadata.urn, { urn: metadata.urn, type: metadata.type, phase: phaseRefOfUrn(metadata.urn), drift: "gone", properties: [], differences: [] });
      return;
    }
    const detailed = Object.keys(metadata.detailedDiff ?? {});
    const properties = detailed.length > 0 ? detailed : (metadata.diffs?.length ?? 0) > 0 ? [...metadata.diffs!] : changedPaths(metadata.old?.outputs ?? {}, metadata.new?.outputs ?? {});
    if (properties.length === 0) return;
    properties.sort();
    // Unredacted here: driftedResources redacts the check's resources together.
    const differences = unredactedDriftAt(properties, metadata.old?.outputs ?? {}, metadata.new?.outputs ?? {});
    this.drifted.set(metadata.urn, { urn: metadata.urn, type: metadata.type, phase: phaseRefOfUrn(metadata.urn), drift: "changed", properties, differences });
  }
}

/** A changed path's value before and after; a side where the path does not exist is left out. */
function propertyDiff(path: string, before: Record<string, unknown> | undefined, after: Record<string, unknown> | undefined): PropertyDiff {
  const old = before ? valueAt(before, path) : undefined;
  const now = after ? valueAt(after, path) : undefined;
  return { path, ...(old !== undefined ? { old } : {}), ...(now !== undefined ? { new: now } : {}) };
}
