import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { cloudMocks } from "./cloud-mocks.ts";
import { phaseOfUrn, type PhaseName } from "../model/phases.ts";
import { resolveLastPhase, tenantProgram, type TenantProgramOptions } from "./tenant-program.ts";
import type { PlatformSettings } from "../model/settings.ts";
import type { TenantSpec } from "../model/spec.ts";

import { PROJECT_NAME, SECRET_PLACEHOLDER } from "../model/constants.ts";


export interface RenderedResource {
  readonly urn: string;
  /** Pulumi type token, e.g. `kubernetes:core/v1:Namespace`. */
  readonly type: string;
  readonly name: string;
  /** The phase this resource belongs to; null for providers. */
  readonly phase: { readonly number: number; readonly name: PhaseName } | null;
  /** URN of the parent resource; null at the top of the stack. */
  readonly parent: string | null;
  /** URNs this resource waits for (explicit `dependsOn` and input dependencies). */
  readonly dependsOn: readonly string[];
  /** False for component resources (the phases themselves). */
  readonly custom: boolean;
  /** True for resources the program reads rather than creates. */
  readonly read: boolean;
  /** URN of the explicit provider, if one was given. */
  readonly provider: string | null;
  /** Inputs as sent to the engine, secrets replaced by "[secret]". */
  readonly inputs: Record<string, unknown>;
  /**
   * Where the inputs hold a secret (path segments) and a digest of its value,
   * so that a changed secret shows as a change at its key without its value.
   * A render never sees a real credential (the program gets none under mocks),
   * so these digest generated placeholders; they are kept out of render output.
   */
  readonly secretDigests?: readonly SecretDigest[];
  /** Registered outputs of components; empty for custom resources. */
  readonly outputs: Record<string, unknown>;
}

export interface SecretDigest {
  readonly path: readonly (string | number)[];
  readonly digest: string;
}

export interface RenderResult {
  readonly tenant: TenantSpec;
  readonly lastPhase: number;
  readonly resources: readonly RenderedResource[];
  /** Stack outputs, secrets replaced by "[secret]". */
  readonly outputs: Record<string, unknown>;
}

const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e";
const STACK_TYPE = "pulumi:pulumi:Stack";

/**
 * The mock monitor prefixes top-level resources' types with the stack's type;
 * the engine does not. Strip it so rendered URNs match those in real state.
 */
function engineUrn(urn: string): string {
  return urn.replace(`::${STACK_TYPE}$`, "::");
}

/**
 * Turns the wire form of engine properties into plain JSON: secrets become
 * "[secret]", resource references become their URN, unknowns become null.
 */
export function redactWireValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactWireValue);
  if (value !== null && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    const sig = obj[SIG_KEY];
    if (sig === SECRET_SIG) return redactSecretValue(obj.value);
    if (sig === RESOURCE_SIG) return obj.urn;
    if (sig !== undefined) return obj.value === undefined ? null : redactWireValue(obj.value);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) out[k] = redactWireValue(v);
    return out;
  }
  if (value === "04da6b54-80e4-46f7-96ec-b56ff0331ba9") return null; // unknown during preview
  return value;
}

/** Every secret inside a wire value, with its path and a digest of its value. */
export function secretDigestsOf(value: unknown, path: (string | number)[] = [], out: SecretDigest[] = []): SecretDigest[] {
  if (Array.isArray(value)) {
    value.forEach((v, i) => secretDigestsOf(v, [...path, i], out));
    return out;
  }
  if (value !== null && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    const sig = obj[SIG_KEY];
    if (sig === SECRET_SIG) {
      const inner = obj.value;
      if (inner !== null && typeof inner === "object" && !Array.isArray(inner) && (inner as Record<string, unknown>)[SIG_KEY] === undefined) {
        // A secret map: digest key by key, as it is shown key by key.
        for (const [k, v] of Object.entries(inner as Record<string, unknown>)) secretDigestsOf({ [SIG_KEY]: SECRET_SIG, value: v }, [...path, k], out);
        return out;
      }
      out.push({ path, digest: createHash("sha256").update(JSON.stringify(inner ?? null)).digest("hex").slice(0, 32) });
      return out;
    }
    if (sig === RESOURCE_SIG) return out;
    if (sig !== undefined) return obj.value === undefined ? out : secretDigestsOf(obj.value, path, out);
    for (const [k, v] of Object.entries(obj)) secretDigestsOf(v, [...path, k], out);
  }
  return out;
}

/**
 * A secret's value as shown: a map keeps its keys, every value below them is
 * "[secret]". The Kubernetes SDK marks a Secret's whole `data`/`stringData`
 * secret; its keys are names, not secrets, and a reviewer needs them.
 */
function redactSecretValue(value: unknown): unknown {
  const inner = value !== null && typeof value === "object" && !Array.isArray(value) && (value as Record<string, unknown>)[SIG_KEY] !== undefined
    ? (value as Record<string, unknown>).value
    : value;
  if (inner !== null && typeof inner === "object" && !Array.isArray(inner)) {
    return Object.fromEntries(Object.entries(inner as Record<string, unknown>).map(([k, v]) => [k, redactSecretValue(v)]));
  }
  return SECRET_PLACEHOLDER;
}

interface Captured {
  urn: string;
  type: string;
  name: string;
  parent: string | null;
  dependsOn: string[];
  custom: boolean;
  read: boolean;
  provider: string | null;
  inputs: Record<string, unknown>;
  secretDigests: SecretDigest[];
  outputs: Record<string, unknown>;
}

function providerUrn(ref: string | undefined): string | null {
  if (!ref) return null;
  return ref.split("::").slice(0, -1).join("::") || ref;
}

/** The program failed while rendering: an input could not be computed or a component refused its arguments. */
export class RenderFailedError extends Error {
  readonly failures: readonly string[];
  constructor(failures: readonly string[]) {
    super(`the tenant program failed while rendering: ${failures.join("; ")}`);
    this.name = "RenderFailedError";
    this.failures = failures;
  }
}

/**
 * The mock monitor turns a request's properties from protobuf into plain
 * JavaScript to hand them to the mocks, and the capture turns the same
 * properties into JavaScript again. Converted once, both read the same result
 * (neither changes it: the SDK's deserialisation and the capture's redaction
 * build new objects). One protobuf walk less per resource.
 */
function convertOnce<T>(request: T, struct: { toJavaScript(): unknown } | undefined): T {
  if (struct) {
    const converted = struct.toJavaScript();
    struct.toJavaScript = () => converted;
  }
  return request;
}

/** Serialises renders: Pulumi's runtime state is global to the process. */
let queue: Promise<unknown> = Promise.resolve();

/**
 * Runs the tenant program under Pulumi's mock runtime and returns every
 * resource it declares, in registration order, without touching any cloud,
 * cluster or Pulumi CLI. Validation errors surface before any resource exists.
 */
export function renderUnderMocks(spec: TenantSpec, settings: PlatformSettings, options: TenantProgramOptions & { mocks?: pulumi.runtime.Mocks } = {}): Promise<RenderResult> {
  const run = queue.then(() => renderNow(spec, settings, options));
  queue = run.catch(() => undefined);
  return run;
}

async function renderNow(spec: TenantSpec, settings: PlatformSettings, options: TenantProgramOptions & { mocks?: pulumi.runtime.Mocks }): Promise<RenderResult> {
  const captured = new Map<string, Captured>();
  // `mocks` lets a test play a cloud that answers differently (no load-balancer IP, say).
  await pulumi.runtime.setMocks(options.mocks ?? cloudMocks(spec, settings), PROJECT_NAME, spec.slug, false);
  const monitor = pulumi.runtime.getMonitor() as unknown as {
    registerResource(req: any, cb: (err: any, res: any) => void): Promise<void>;
    readResource(req: any, cb: (err: any, res: any) => void): Promise<void>;
    registerResourceOutputs(req: any, cb: (err: any, res: any) => void): void;
  };
  const record = (req: any, read: boolean) => (err: any, res: any) => {
    if (!err && res) {
      const urn: string = res.getUrn();
      const wire = (read ? req.getProperties() : req.getObject())?.toJavaScript() ?? {};
      captured.set(urn, {
        urn,
        type: req.getType(),
        name: req.getName(),
        parent: req.getParent() || null,
        dependsOn: [...new Set<string>(req.getDependenciesList())],
        custom: read ? true : req.getCustom(),
        read,
        provider: providerUrn(req.getProvider()),
        inputs: redactWireValue(wire) as Record<string, unknown>,
        secretDigests: secretDigestsOf(wire),
        outputs: {},
      });
    }
  };
  const register = monitor.registerResource.bind(monitor);
  const read = monitor.readResource.bind(monitor);
  const registerOutputs = monitor.registerResourceOutputs.bind(monitor);
  monitor.registerResource = (req, cb) => register(convertOnce(req, req.getObject()), (err, res) => { record(req, false)(err, res); cb(err, res); });
  monitor.readResource = (req, cb) => read(convertOnce(req, req.getProperties()), (err, res) => { record(req, true)(err, res); cb(err, res); });
  monitor.registerResourceOutputs = (req, cb) => {
    const entry = captured.get(req.getUrn());
    if (entry) entry.outputs = redactWireValue(req.getOutputs()?.toJavaScript() ?? {}) as Record<string, unknown>;
    registerOutputs(req, cb);
  };

  // A resource whose inputs fail (an apply that throws) does not reject the
  // stack; the SDK leaves it as an unhandled rejection. Collect those so that a
  // failed program is a failed render, never a silently partial one.
  const failures: unknown[] = [];
  const onRejection = (reason: unknown) => {
    failures.push(reason);
  };
  process.on("unhandledRejection", onRejection);
  try {
    await pulumi.runtime.runInPulumiStack(async () => tenantProgram(spec, settings, options));
    await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
    await new Promise((resolve) => setImmediate(resolve));
  } catch (error) {
    failures.push(error);
  }
  try {
    // One failure sets off others as its dependants give up; let them all
    // arrive here rather than in the next render.
    for (let seen = -1, waited = 0; failures.length > 0 && seen !== failures.length && waited < 2000; waited += 25) {
      seen = failures.length;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  } finally {
    process.off("unhandledRejection", onRejection);
  }
  if (failures.length > 0) {
    const messages = [...new Set(failures.map((f) => (f instanceof Error ? f.message : String(f))))];
    throw new RenderFailedError(messages);
  }

  const stackUrn = [...captured.values()].find((c) => c.type === STACK_TYPE)?.urn ?? null;
  const stackEntry = stackUrn ? captured.get(stackUrn) : undefined;
  const phaseOf = (c: Captured): RenderedResource["phase"] => {
    for (let cur: Captured | undefined = c; cur; cur = cur.parent ? captured.get(cur.parent) : undefined) {
      const p = phaseOfUrn(cur.urn);
      if (p) return { number: p.number, name: p.name };
    }
    return null;
  };
  const resources: RenderedResource[] = [...captured.values()]
    .filter((c) => c.type !== STACK_TYPE)
    .map((c) => ({
      urn: engineUrn(c.urn),
      type: c.type,
      name: c.name,
      phase: phaseOf(c),
      parent: c.parent === stackUrn || c.parent === null ? null : engineUrn(c.parent),
      dependsOn: c.dependsOn.filter((d) => d !== stackUrn).map(engineUrn),
      custom: c.custom,
      read: c.read,
      provider: c.provider === null ? null : engineUrn(c.provider),
      inputs: c.inputs,
      secretDigests: c.secretDigests,
      outputs: c.outputs,
    }));
  return {
    tenant: spec,
    lastPhase: resolveLastPhase(options.lastPhase),
    resources,
    outputs: stackEntry?.outputs ?? {},
  };
}
