/**
 * Where things live under the service's data directory. Nothing goes to the OS
 * temp dir: work directories, plans and local state survive restarts and are
 * removed deliberately, per tenant, on teardown.
 *
 *   <root>/pulumi-home/           PULUMI_HOME shared by every run (plugins, credentials)
 *   <root>/state/                 default local file backend (file://<root>/state)
 *   <root>/workspaces/<slug>/     the tenant's Pulumi work directory (its stack settings file,
 *                                 Pulumi.<slug>.yaml, restored from the service's record)
 *   <root>/workspaces/_plugins/   work directory of the start-up plugin install
 *   <root>/plans/<slug>/<id>.json saved update plans (written by the preview, or from the
 *                                 contents the service kept with the change by the process applying it)
 *   <root>/render-state/<slug>.json  the render engine's recorded desired state
 *
 * Apart from the default local backend (one process's alone: backendSharing
 * in config.ts), nothing here is the only copy of anything another process
 * needs: the stack is in the state backend, and its secrets settings and saved
 * plans are kept by the service in its database.
 */
import { chmod, mkdir } from "node:fs/promises";
import path from "node:path";

/**
 * Creates `dir` (and missing parents) readable by this user alone, and makes
 * an existing one so: the data directory holds state, plans, credentials of
 * the CLI and mails with e-mail addresses.
 */
export async function privateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

const SAFE_SLUG = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9-]*$/;

/** Refuses anything that could climb out of its directory; slugs are validated earlier, this is the last line. */
export function assertSafeSlug(slug: string): void {
  if (!SAFE_SLUG.test(slug)) throw new RangeError(`not a tenant slug: ${JSON.stringify(slug)}`);
}

export class DataDirLayout {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  get pulumiHome(): string {
    return path.join(this.root, "pulumi-home");
  }

  get stateDir(): string {
    return path.join(this.root, "state");
  }

  /** The default backend: Pulumi's local file backend under the data directory. */
  get defaultBackendUrl(): string {
    return `file://${this.stateDir}`;
  }

  get workspacesDir(): string {
    return path.join(this.root, "workspaces");
  }

  /** Underscore cannot appear in a slug, so this never collides with a tenant. */
  get pluginWorkspace(): string {
    return path.join(this.workspacesDir, "_plugins");
  }

  get renderStateDir(): string {
    return path.join(this.root, "render-state");
  }

  workspace(slug: string): string {
    assertSafeSlug(slug);
    return path.join(this.workspacesDir, slug);
  }

  plansDir(slug: string): string {
    assertSafeSlug(slug);
    return path.join(this.root, "plans", slug);
  }

  planFile(slug: string, id: string): string {
    if (!SAFE_ID.test(id)) throw new RangeError(`not a plan id: ${JSON.stringify(id)}`);
    return path.join(this.plansDir(slug), `${id}.json`);
  }
}
