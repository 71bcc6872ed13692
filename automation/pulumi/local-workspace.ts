/** The real WorkspaceFactory: Automation API LocalWorkspace. Loaded only in worker processes. */
import { LocalWorkspace } from "@pulumi/pulumi/automation/index.js";
import type { WorkspaceFactory } from "./workspace.ts";

export const localWorkspaceFactory: WorkspaceFactory = {
  createOrSelectStack: (args, options) => LocalWorkspace.createOrSelectStack(args, options),
  selectStack: (args, options) => LocalWorkspace.selectStack(args, options),
  createWorkspace: (options) => LocalWorkspace.create(options),
};
