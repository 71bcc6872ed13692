/**
 * Workloads roll when the connection settings change: Kubernetes restarts no
 * pod when a Secret its environment reads changes, so every pod template that
 * reads the credentials Secret carries a digest of it, and a new digest is a
 * new template. Checked on the whole rendered program: every reader of the
 * Secret (found by walking the inputs, so a new reader without the annotation
 * fails here), a tier change free → professional (the Secret then points at
 * the pool) changing every reader's digest, a re-render changing none.
 */
import { describe, expect, it } from "vitest";
import { CREDENTIALS_CHECKSUM_ANNOTATION, CREDENTIALS_SECRET_NAME } from "../../components/02-database.ts";
import { renderUnderMocks, type RenderedResource } from "../../stacks/mock-render.ts";
import { resolvePlatformSettings } from "../../model/settings.ts";
import type { Tier } from "../../model/tiers.ts";
import { acmeSpec } from "../support/acme.ts";

/** Whether anything in `value` reads the credentials Secret: an env secretKeyRef, an envFrom secretRef or a Secret volume. */
function readsSecret(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(readsSecret);
  if (value === null || typeof value !== "object") return false;
  const o = value as Record<string, unknown>;
  const named = (ref: unknown, key: string) => typeof ref === "object" && ref !== null && (ref as Record<string, unknown>)[key] === CREDENTIALS_SECRET_NAME;
  if (named(o.secretKeyRef, "name") || named(o.secretRef, "name") || named(o.secret, "secretName")) return true;
  return Object.values(o).some(readsSecret);
}

/** The pod-template annotations of a workload or Helm release. */
function podAnnotations(r: RenderedResource): Record<string, string> | undefined {
  const i = r.inputs as Record<string, any>;
  if (r.type === "kubernetes:helm.sh/v3:Release") return i.values?.podAnnotations;
  if (i.kind === "CronJob") return i.spec?.jobTemplate?.spec?.template?.metadata?.annotations;
  return i.spec?.template?.metadata?.annotations;
}

/** Every reader of the Secret, by type and name, with its digest annotation. */
async function readers(tier: Tier): Promise<Map<string, string | undefined>> {
  const settings = resolvePlatformSettings();
  const { resources } = await renderUnderMocks(acmeSpec(tier, {}, settings), settings);
  const out = new Map<string, string | undefined>();
  for (const r of resources) {
    if (!r.custom || !readsSecret(r.inputs)) continue;
    out.set(`${r.type} ${r.name}`, podAnnotations(r)?.[CREDENTIALS_CHECKSUM_ANNOTATION]);
  }
  return out;
}

describe("rolling the Secret's readers when the connection settings change", () => {
  it("puts one digest of the Secret (not secret, not its values) on every reader's pod template", async () => {
    for (const tier of ["free", "professional", "enterprise"] as const) {
      const found = await readers(tier);
      const names = [...found.keys()].map((k) => k.split(" ")[1]).sort();
      // The nine matih releases of phases 3 and 5, phase 2's migration and check Jobs (and pool on professional), phase 4's check Job.
      expect(names).toEqual([
        "core-services-ai-service", "core-services-catalog-service", "core-services-query-engine",
        "data-services-bi-service", "data-services-data-quality-service", "data-services-ml-service",
        "data-services-pipeline-service", "data-services-render-service", "data-services-semantic-layer",
        "database-connectivity-check", "database-migrate", ...(tier === "professional" ? ["database-pool"] : []), "networking-database-check",
      ]);
      const digests = new Set(found.values());
      expect([...digests]).toHaveLength(1);
      expect([...digests][0]).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it("changes every reader's digest from free to professional (pool in front), and none on a re-render", async () => {
    const free = await readers("free");
    const professional = await readers("professional");
    const again = await readers("professional");
    expect(again).toEqual(professional);
    for (const [reader, digest] of free) {
      expect(professional.has(reader), reader).toBe(true);
      expect(professional.get(reader), reader).not.toBe(digest);
    }
  });
});
