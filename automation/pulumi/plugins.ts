/**
 * Provider plugins, installed once at start-up into the shared PULUMI_HOME at
 * exactly the versions of the installed npm packages, one after another.
 * Operations run with automatic plugin acquisition disabled, so two tenants'
 * runs never download the same plugin at the same time.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
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

export async function installPlugins(workspace: PluginWorkspace, plugins: readonly PluginRequirement[], signal?: AbortSignal): Promise<void> {
  for (const plugin of plugins) {
    signal?.throwIfAborted();
    await workspace.installPlugin(plugin.name, `v${plugin.version}`, plugin.kind);
  }
}
