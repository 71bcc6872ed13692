/**
 * npm run render -- <slug> --tier <tier> --region <region> [--format tree|json]
 *
 * Runs the real tenant program under Pulumi's mock runtime and prints every
 * resource it would create. Touches no cloud, cluster or Pulumi CLI.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { RENDER_PLACEHOLDER_NOTE } from "./cloud-mocks.ts";
import { PHASES } from "../model/phases.ts";
import { RenderFailedError, renderUnderMocks, type RenderResult } from "./mock-render.ts";
import { resolvePlatformSettings } from "../model/settings.ts";
import { validateTenantSpec, ValidationError } from "../model/spec.ts";
import { TIERS } from "../model/tiers.ts";

const USAGE = `usage: npm run render -- <slug> --tier <${TIERS.join("|")}> --region <azure-region>
       [--format tree|json] [--last-phase 1-${PHASES.length}] [--id <uuid>] [--display-name <name>]
       [--admin-email <email>] [--requested-by <who>] [--requested-at <iso>] [--settings <file.json>]`;

/** A stable UUID for a slug, so that repeated renders of one tenant are identical. */
function uuidForSlug(slug: string): string {
  const h = createHash("sha256").update(`matih-tenant:${slug}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * One line per resource: its kind, its resource name (what the record, the
 * drift results and the simulated-drift route's `resource` call it), and for a
 * Kubernetes object or Helm release where it lands (`namespace/name`).
 */
function describe(r: RenderResult["resources"][number]): string {
  const meta = (r.inputs.metadata ?? {}) as { name?: string; namespace?: string };
  const shortType = r.type.replace(/^kubernetes:/, "").replace(/^azure-native:/, "azure:");
  const kind = r.type === "kubernetes:apiextensions.k8s.io:CustomResource" ? `${String(r.inputs.apiVersion)}:${String(r.inputs.kind)}` : shortType;
  const target = meta.name ? (meta.namespace ? `${meta.namespace}/${meta.name}` : meta.name) : r.type === "kubernetes:helm.sh/v3:Release" ? `${String(r.inputs.namespace)}/${String(r.inputs.name)} (chart ${String(r.inputs.chart)} ${String(r.inputs.version ?? "")})` : r.name;
  return `${kind}  ${r.name}${target !== r.name ? `  (${target})` : ""}${r.read ? "  [read]" : ""}`;
}

export function formatTree(result: RenderResult): string {
  const t = result.tenant;
  const custom = result.resources.filter((r) => r.custom);
  const lines = [`tenant ${t.slug} (${t.tier}, ${t.region}) id ${t.id}: ${custom.length} resources through phase ${result.lastPhase}`];
  const providers = custom.filter((r) => r.phase === null);
  lines.push("", "providers");
  for (const r of providers) lines.push(`  ${r.type.replace("pulumi:providers:", "")}  ${r.name}`);
  for (const phase of PHASES.filter((p) => p.number <= result.lastPhase)) {
    const members = custom.filter((r) => r.phase?.number === phase.number);
    lines.push("", `phase ${phase.number} ${phase.name}  (${members.length})`);
    members.forEach((r, i) => lines.push(`  ${i === members.length - 1 ? "└─" : "├─"} ${describe(r)}`));
  }
  lines.push("", "outputs");
  for (const [k, v] of Object.entries(result.outputs).sort(([a], [b]) => a.localeCompare(b))) lines.push(`  ${k}: ${JSON.stringify(v)}`);
  lines.push("", `note: ${RENDER_PLACEHOLDER_NOTE}; secrets print as "[secret]"`);
  lines.push(`note: each line is kind, resource name (as the simulated-drift route's "resource" takes it), and (namespace/name) where it lands`);
  return lines.join("\n");
}

export function formatJson(result: RenderResult): string {
  return JSON.stringify({
    tenant: result.tenant,
    lastPhase: result.lastPhase,
    resources: result.resources.map((r) => ({
      urn: r.urn, type: r.type, name: r.name, phase: r.phase, parent: r.parent, dependsOn: r.dependsOn,
      custom: r.custom, read: r.read, provider: r.provider, inputs: r.inputs,
      ...(r.custom ? {} : { outputs: r.outputs }),
    })),
    outputs: result.outputs,
    note: RENDER_PLACEHOLDER_NOTE,
  }, null, 2);
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        tier: { type: "string" },
        region: { type: "string" },
        format: { type: "string", default: "tree" },
        "last-phase": { type: "string" },
        id: { type: "string" },
        "display-name": { type: "string" },
        "admin-email": { type: "string" },
        "requested-by": { type: "string" },
        "requested-at": { type: "string" },
        settings: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1) {
    process.stderr.write(`expected exactly one slug, got ${positionals.length}\n${USAGE}\n`);
    return 2;
  }
  if (values.format !== "tree" && values.format !== "json") {
    process.stderr.write(`--format must be tree or json, got "${values.format}"\n`);
    return 2;
  }
  const lastPhase = values["last-phase"] === undefined ? undefined : Number(values["last-phase"]);
  if (lastPhase !== undefined && (!Number.isInteger(lastPhase) || lastPhase < 1 || lastPhase > PHASES.length)) {
    process.stderr.write(`--last-phase must be a whole number from 1 to ${PHASES.length}, got "${values["last-phase"]}"\n`);
    return 2;
  }
  try {
    const overrides = values.settings ? JSON.parse(readFileSync(values.settings, "utf8")) : {};
    const settings = resolvePlatformSettings(overrides);
    const slug = positionals[0]!;
    const spec = validateTenantSpec({
      id: values.id ?? uuidForSlug(slug),
      slug,
      displayName: values["display-name"] ?? slug,
      tier: values.tier,
      region: values.region,
      adminEmail: values["admin-email"] ?? `admin@${slug}.${settings.baseDomain}`,
      requestedBy: values["requested-by"] ?? "render@localhost",
      requestedAt: values["requested-at"] ?? new Date().toISOString(),
    }, { baseDomain: settings.baseDomain });
    const result = await renderUnderMocks(spec, settings, lastPhase === undefined ? {} : { lastPhase });
    process.stdout.write(`${values.format === "json" ? formatJson(result) : formatTree(result)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof ValidationError) {
      process.stderr.write(`${err.subject} is invalid:\n${err.problems.map((p) => `  ${p.field}: ${p.message}`).join("\n")}\n`);
      return 2;
    }
    if (err instanceof RenderFailedError) {
      process.stderr.write(`the program failed while rendering:\n${err.failures.map((f) => `  ${f}`).join("\n")}\n`);
      return 1;
    }
    throw err;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main(process.argv.slice(2));
}
