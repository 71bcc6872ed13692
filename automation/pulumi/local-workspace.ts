/** The real WorkspaceFactory: Automation API LocalWorkspace. Loaded only in worker processes. */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { LocalWorkspace } from "@pulumi/pulumi/automation/index.js";
import type { WorkspaceFactory } from "./workspace.ts";

const run = promisify(execFile);

export const localWorkspaceFactory: WorkspaceFactory = {
  createOrSelectStack: (args, options) => LocalWorkspace.createOrSelectStack(args, options),
  selectStack: (args, options) => LocalWorkspace.selectStack(args, options),
  createWorkspace: async (options) => {
    const workspace = await LocalWorkspace.create(options);
    return {
      installPlugin: (name, version, kind) => workspace.installPlugin(name, version, kind),
      // The Automation API has no --file install: the same CLI, with the workspace's home and environment.
      installPluginFromFile: async (name, version, file, kind = "resource") => {
        await run(workspace.pulumiCommand.command, ["plugin", "install", kind, name, version, "--file", file], {
          cwd: workspace.workDir,
          env: { ...process.env, ...(workspace.pulumiHome ? { PULUMI_HOME: workspace.pulumiHome } : {}), ...workspace.envVars },
        });
      },
    };
  },
};
