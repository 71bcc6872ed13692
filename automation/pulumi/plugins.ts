/**
 * Provider plugins, installed once at start-up into the shared PULUMI_HOME at
 * exactly the versions of the installed npm packages, one after another.
 * Operations run with automatic plugin acquisition disabled, so two tenants'
 * runs never download the same plugin at the same time.
 */
import { constants, readFileSync } from "node:fs";
import { access } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import type { PluginWorkspace } from "./workspace.ts";

/** Provider packages the tenant program uses. */
export const PROVIDER_PACKAGES = ["@pulumi/kubernetes", "@pulumi/azure-native", "@pulumi/postgresql", "@pulumi/random"] as const;

export interface PluginRequirement {
  readonly name: string;
  readonly version: string;
  readonly kind: "resource";
  readonly fromPackage: string;
}

/** Reads each provider package's `pulumi` block (name and plugin version) from node_modules. */
export function requiredPlugins(packages: readonly string[] = PROVIDER_PACKAGES, resolveFrom: string = import.meta.url): PluginRequirement[] {
  const require = createRequire(resolveFrom);
  return packages.map((pkg) => {
    const manifest = JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), "utf8")) as { version: string; pulumi?: { name?: string; version?: string } };
    return {
      name: manifest.pulumi?.name ?? pkg.replace(/^@pulumi\//, ""),
      version: manifest.pulumi?.version ?? manifest.version,
      kind: "resource",
      fromPackage: pkg,
    };
  });
}

/** How each plugin was installed: downloaded, from a binary in the plugin folder, or not at all. */
export interface PluginInstall extends PluginRequirement {
  readonly source: "download" | "file" | "missing";
  /** The binary installed, for `file`. */
  readonly file?: string;
}

async function executable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Installs the plugins one after another. With a plugin folder
 * (MATIH_PULUMI_PLUGIN_DIR: binaries named `pulumi-resource-<name>`, built
 * where no registry is reachable), each plugin whose binary is there is
 * installed from it at the npm package's version, and none is downloaded: a
 * plugin without a binary is reported `missing`, and a run that needs it fails
 * naming it.
 */
export async function installPlugins(
  workspace: PluginWorkspace,
  plugins: readonly PluginRequirement[],
  options: { readonly signal?: AbortSignal; readonly pluginDir?: string | null } = {},
): Promise<PluginInstall[]> {
  const installed: PluginInstall[] = [];
  for (const plugin of plugins) {
    options.signal?.throwIfAborted();
    if (!options.pluginDir) {
      await workspace.installPlugin(plugin.name, `v${plugin.version}`, plugin.kind);
      installed.push({ ...plugin, source: "download" });
      continue;
    }
    const file = path.join(options.pluginDir, `pulumi-${plugin.kind}-${plugin.name}`);
    if (!(await executable(file))) {
      installed.push({ ...plugin, source: "missing" });
      continue;
    }
    await workspace.installPluginFromFile(plugin.name, `v${plugin.version}`, file, plugin.kind);
    installed.push({ ...plugin, source: "file", file });
  }
  return installed;
}
