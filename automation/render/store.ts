/**
 * Where the render engine records each tenant's desired state after an `up`.
 * The interface is deliberately small and async so that the service can back
 * it with Postgres; the file implementation here keeps one JSON file per
 * tenant under the data directory, replaced atomically (write, fsync, rename).
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import path from "node:path";
import type { RenderedResource } from "../../stacks/mock-render.ts";
import type { TenantSpec } from "../../model/spec.ts";
import { assertSafeSlug } from "../core/data-dir.ts";

export interface RenderRecord {
  readonly version: 1;
  readonly slug: string;
  /** The spec of the last provision; fleet previews re-render every tenant from it. */
  readonly spec: TenantSpec;
  /** The `lastPhase` the last provision aimed for. */
  readonly lastPhase: number;
  /** Highest phase fully applied; lower than `lastPhase` after a failed provision. */
  readonly phasesApplied: number;
  /** The rendered resources as applied, in registration order (secrets as "[secret]"). */
  readonly resources: readonly RenderedResource[];
  /** Stack outputs of the last successful provision. */
  readonly outputs: Record<string, unknown>;
  /** Failed attempts per phase (JSON keys are phase numbers), for fault plans. */
  readonly faultAttempts: Readonly<Record<string, number>>;
  /**
   * The simulated actual state (see simulated-drift.ts): what "really" exists
   * once a drift command changed something. Absent: reality matches `resources`.
   */
  readonly actual?: readonly RenderedResource[];
  /**
   * Where the recorded credentials Secret points (the tenant's data lives):
   * set when phase 2 is applied and when a tier change switches. A tier change
   * moves the data when this differs from the new tier's placement, so a
   * retried change does not move again after its switch. Absent in records
   * from before it was kept (read from `spec`) and while phase 2 is not applied.
   */
  readonly databasePlacement?: "shared" | "dedicated";
  /**
   * Where tenant data is left to remove after a tier change switched away
   * from it (its contract has not run yet): the next update runs that
   * contract after its phases, whatever else it does.
   */
  readonly unfinishedContract?: "shared" | "dedicated";
  readonly updatedAt: string;
}

export interface RenderStateStore {
  get(slug: string): Promise<RenderRecord | undefined>;
  put(record: RenderRecord): Promise<void>;
  /** Deleting a tenant that has no record is not an error. */
  delete(slug: string): Promise<void>;
  /** Slugs of every recorded tenant, sorted. */
  list(): Promise<string[]>;
  /**
   * The record as JSON text, unparsed: a fleet preview passes records through
   * to its workers, and building each one as objects first only to serialise
   * it again was most of the service's memory churn. Optional; without it the
   * record is read with `get` and serialised.
   */
  getText?(slug: string): Promise<string | undefined>;
}

export class FileRenderStateStore implements RenderStateStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = path.resolve(dir);
  }

  async get(slug: string): Promise<RenderRecord | undefined> {
    try {
      return JSON.parse(await readFile(this.file(slug), "utf8")) as RenderRecord;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  async getText(slug: string): Promise<string | undefined> {
    try {
      return await readFile(this.file(slug), "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  async put(record: RenderRecord): Promise<void> {
    const target = this.file(record.slug);
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    // A reader sees the old file or the new one, never half of one.
    const temporary = path.join(this.dir, `.${record.slug}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
    const handle = await open(temporary, "w", 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(record, null, 2)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(temporary, target);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  async delete(slug: string): Promise<void> {
    await rm(this.file(slug), { force: true });
  }

  async list(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    return names.filter((n) => /^[a-z0-9][a-z0-9-]*\.json$/.test(n)).map((n) => n.slice(0, -".json".length)).sort();
  }

  private file(slug: string): string {
    assertSafeSlug(slug);
    return path.join(this.dir, `${slug}.json`);
  }
}
