/**
 * The seam between the Pulumi engine and the Automation API: the few calls
 * the engine makes, so that tests can inject a fake workspace and check every
 * option the engine passes without a CLI. The real implementation is
 * local-workspace.ts.
 */
import type {
  Deployment,
  DestroyOptions,
  DestroyResult,
  InlineProgramArgs,
  LocalWorkspaceOptions,
  OutputMap,
  PreviewOptions,
  PreviewResult,
  RefreshOptions,
  StackSettings,
  UpOptions,
  UpResult,
} from "@pulumi/pulumi/automation/index.js";
import { PROJECT_NAME } from "../../model/constants.ts";
import { DataDirLayout } from "../core/data-dir.ts";
import type { PulumiRunConfig } from "../isolation/protocol.ts";

/** The part of an Automation API `Stack` the engine uses. */
export interface TenantStack {
  readonly name: string;
  up(options: UpOptions): Promise<UpResult>;
  preview(options: PreviewOptions): Promise<PreviewResult>;
  destroy(options: DestroyOptions): Promise<DestroyResult>;
  /** A refresh that writes nothing: what drifted. */
  previewRefresh(options: RefreshOptions): Promise<PreviewResult>;
  outputs(): Promise<OutputMap>;
  /** Cancels the stack's current update; on the local file backend, removes its lock. */
  cancel(): Promise<void>;
  /** The checkpoint (`pulumi stack export`), for the pending operations a killed run left. */
  exportStack(): Promise<Deployment>;
  readonly workspace: {
    removeStack(stackName: string): Promise<void>;
    /** The stack's settings file (`Pulumi.<stack>.yaml`) in the work directory; rejects when there is none. */
    stackSettings(stackName: string): Promise<StackSettings>;
    /** Writes the stack's settings file in the work directory, replacing what it held. */
    saveStackSettings(stackName: string, settings: StackSettings): Promise<void>;
  };
}

export interface PluginWorkspace {
  installPlugin(name: string, version: string, kind?: string): Promise<void>;
  /** `pulumi plugin install KIND NAME VERSION --file FILE`: a plugin binary that is already here, nothing downloaded. */
  installPluginFromFile(name: string, version: string, file: string, kind?: string): Promise<void>;
}

export interface WorkspaceFactory {
  createOrSelectStack(args: InlineProgramArgs, options: LocalWorkspaceOptions): Promise<TenantStack>;
  /** Rejects with the SDK's StackNotFoundError for a stack that does not exist. */
  selectStack(args: InlineProgramArgs, options: LocalWorkspaceOptions): Promise<TenantStack>;
  createWorkspace(options: LocalWorkspaceOptions): Promise<PluginWorkspace>;
}

/**
 * Workspace options for a tenant (or, with `slug` null, for the start-up
 * plugin install). Backend and secrets provider come from the engine's
 * configuration, never from whatever the host's Pulumi login says; plugins are
 * installed once at start-up, so runs may not fetch any on their own.
 * Secret values are not copied here: the CLI inherits them from the
 * environment.
 *
 * The secrets provider given here is only used by `stack init`. For an
 * existing stack the CLI reads it from the settings file in the work
 * directory, which the engine restores from the service's record
 * (operations.ts). Where there is no record (a tenant from before it was
 * kept, a drift check or an inspection preview outside a run) and no file,
 * the CLI would make new secrets settings (a new passphrase salt, or the
 * passphrase provider in place of a key vault) and write the checkpoint with
 * them; PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER makes it take the
 * checkpoint's secrets provider instead.
 */
export function workspaceOptions(config: PulumiRunConfig, slug: string | null): LocalWorkspaceOptions {
  const layout = new DataDirLayout(config.dataDir);
  return {
    workDir: slug === null ? layout.pluginWorkspace : layout.workspace(slug),
    pulumiHome: layout.pulumiHome,
    secretsProvider: config.secretsProvider,
    projectSettings: { name: PROJECT_NAME, runtime: "nodejs", backend: { url: config.backendUrl } },
    envVars: {
      PULUMI_BACKEND_URL: config.backendUrl,
      PULUMI_SKIP_UPDATE_CHECK: "true",
      ...(slug === null ? {} : { PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true", PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER: "true" }),
    },
  };
}
