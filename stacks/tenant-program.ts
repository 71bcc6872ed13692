// The provider alone: the package's root index loads all of its ~480 modules (about 35 MB more in every worker process).
import { Provider as AzureNativeProvider } from "@pulumi/azure-native/provider.js";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { PHASE_COUNT, PHASES, type PhaseName, type PhaseOutputName } from "../model/phases.ts";
import type { PlatformSettings } from "../model/settings.ts";
import { namespaceName, postgresIdentifier, type TenantSpec } from "../model/spec.ts";
import { reachesAzure, tierProfile, type Tier } from "../model/tiers.ts";
import { retiringConnectionPool, tierChangeProfile } from "../model/tier-change.ts";
import { assertPlacement, dedicatedServerHighAvailability } from "../model/placement.ts";
import { declareMoveTarget, type TenantDatabase } from "../components/02-database.ts";
import { assertIngressBackendsProvided, dedicatedServerAccess, PHASE_COMPONENTS, type PhaseComponent, type PhaseComponentTypes, type PhaseContext, type TenantCredentials } from "./phase-components.ts";

export type { TenantCredentials };

export interface TenantProgramOptions {
  /**
   * Last phase to declare (1 to the number of phases). Phases after it are
   * left out, so an update with `lastPhase: k` rolls a tenant back to the end
   * of phase k and Pulumi deletes the rest in reverse dependency order.
   * Default: every phase.
   */
  lastPhase?: number;
  /** Secrets the phases need. Default: none (enough for an offline render). */
  credentials?: TenantCredentials;
  /**
   * Whether phases read back what their releases made (phase 5's Services of
   * the charts' contract). False for a teardown, where the program runs only
   * to configure providers (`destroy --run-program`): a read it declared for
   * a phase that never got that far would be added to the state while its
   * parent component is deleted, and the CLI refuses the snapshot ("refers to
   * missing parent"). Default: true.
   */
  readBack?: boolean;
  /**
   * The tier the stack was last applied with, in the first update of a change
   * to another tier (expand and switch): phase 1's quota and phase 2's role
   * connection limit are the larger of both tiers', and the old tier's
   * connection pool keeps running, so that the old tier's pods still running
   * and the new ones starting fit together (model/tier-change.ts). An update
   * without it then applies the new tier as it is (contract). Default: none,
   * the tier's own profile.
   */
  tierChangeFrom?: Tier;
  /**
   * The expand of a change from the spec's tier to this one when the data
   * moves to another server (shared ↔ dedicated; the Pulumi engine's first
   * update of such a change). The program is the spec's tier's as it is, the
   * credentials Secret still on the old target, with the new target declared
   * beside it (components/02-database.ts declareMoveTarget) and the dedicated
   * server's admin connection exported as the secret output
   * `dedicatedDatabaseAdmin`, for the move. Not with tierChangeFrom.
   * Default: none.
   */
  moveDatabaseTo?: Tier;
}

/**
 * What a tenant stack exports: who it is for, and the outputs each declared
 * phase contributes (model/phases.ts names them). Outputs of phases beyond
 * `lastPhase` are absent. No output holds a secret value: the credentials are
 * exported by the name of their Secret.
 */
export type TenantStackOutputs = {
  tenantId: string;
  slug: string;
  tier: string;
  lastPhase: number;
  /** Only in a tier change's expand (moveDatabaseTo): the dedicated server's admin connection, a secret. */
  dedicatedDatabaseAdmin?: pulumi.Output<unknown>;
} & { [K in PhaseOutputName]?: pulumi.Output<unknown> };

/** Checks `lastPhase` and returns it, defaulting to all phases. */
export function resolveLastPhase(lastPhase: number | undefined): number {
  const value = lastPhase ?? PHASE_COUNT;
  if (!Number.isInteger(value) || value < 1 || value > PHASE_COUNT) {
    throw new RangeError(`lastPhase must be a whole number from 1 to ${PHASE_COUNT}, got ${lastPhase}`);
  }
  return value;
}

/**
 * Every Kubernetes object the program declares takes back the fields it sets
 * when someone else changed them (`pulumi.com/patchForce`). Under server-side
 * apply a `kubectl edit` of a field makes kubectl its manager, and the next
 * apply conflicts: a converge change could not undo drift (seen in a real
 * run, "Server-Side Apply field conflict ... conflict with kubectl-patch").
 * The program is the source of truth for what it sets; fields it does not set
 * stay whoever's they are.
 */
export const FIELD_OWNERSHIP_ANNOTATION = "pulumi.com/patchForce";

function ownAppliedFields(args: pulumi.ResourceTransformationArgs): pulumi.ResourceTransformationResult | undefined {
  if (!args.type.startsWith("kubernetes:") || args.type.startsWith("kubernetes:helm.sh/") || args.props.metadata === undefined) return undefined;
  const metadata = pulumi.output(args.props.metadata as pulumi.Input<{ annotations?: Record<string, string> }>).apply((m) => ({
    ...m,
    annotations: { ...(m?.annotations ?? {}), [FIELD_OWNERSHIP_ANNOTATION]: "true" },
  }));
  return { props: { ...args.props, metadata }, opts: args.opts };
}

/**
 * The per-tenant Pulumi program: walks the phase registry and declares each
 * phase's component up to `lastPhase`, each depending on the one before, with
 * explicitly configured providers. The spec and settings must already be
 * validated (see validateTenantSpec / resolvePlatformSettings); the result
 * depends on nothing but its arguments.
 */
export function tenantProgram(spec: TenantSpec, settings: PlatformSettings, options: TenantProgramOptions = {}): TenantStackOutputs {
  const lastPhase = resolveLastPhase(options.lastPhase);
  // Before any resource: a program that could only hang at phase 8 is refused here.
  assertIngressBackendsProvided(settings);
  // And one whose dedicated server could not be placed in the tenant's region.
  assertPlacement(spec, settings);
  const moveTo = options.moveDatabaseTo ?? null;
  if (moveTo !== null) {
    if (options.tierChangeFrom) throw new RangeError("moveDatabaseTo is the expand of a tier change; tierChangeFrom its switch: not both");
    if (tierProfile(moveTo).database.strategy === tierProfile(spec.tier).database.strategy) {
      throw new RangeError(`moveDatabaseTo: a change from ${spec.tier} to ${moveTo} keeps the data on the same server; nothing to expand`);
    }
    // The new target's server must be placeable too.
    assertPlacement({ ...spec, tier: moveTo }, settings);
  }
  const outputs: TenantStackOutputs = { tenantId: spec.id, slug: spec.slug, tier: spec.tier, lastPhase };

  // Providers are explicit so that a run never falls back to whatever context
  // or credentials the host happens to have.
  const kubernetes = new k8s.Provider("kubernetes", {
    ...(settings.kubernetes.context ? { context: settings.kubernetes.context } : {}),
    // Credentials inside: kept as a secret in state and renders.
    ...(settings.kubernetes.kubeconfig ? { kubeconfig: pulumi.secret(settings.kubernetes.kubeconfig) } : {}),
    enableServerSideApply: true,
    // A Secret whose data changes is updated in place, not deleted and created again: a tier change or a password
    // rotation would otherwise remove the credentials Secret while running pods reference it (the provider's default
    // replaces Secrets on any change of data). The pods roll on the checksum annotation instead.
    enableSecretMutable: true,
    deleteUnreachable: false,
  });
  // Only where the run reaches Azure: a run that does not (a free tenant to
  // phase 6) then needs neither Azure credentials nor the azure-native plugin.
  const providers: Record<string, pulumi.ProviderResource> = reachesAzure(spec.tier, lastPhase) || (moveTo !== null && reachesAzure(moveTo, lastPhase))
    ? { kubernetes, "azure-native": new AzureNativeProvider("azure-native", { subscriptionId: settings.azure.subscriptionId, location: spec.region }) }
    : { kubernetes };

  const declared = new Map<PhaseName, pulumi.ComponentResource>();
  const context: PhaseContext = {
    spec,
    settings,
    profile: options.tierChangeFrom ? tierChangeProfile(options.tierChangeFrom, spec.tier) : tierProfile(spec.tier),
    retiringConnectionPool: options.tierChangeFrom ? retiringConnectionPool(options.tierChangeFrom, spec.tier) : null,
    // Through a tier change's expand and switch, both sides' database servers: the contract narrows it to the new tier's.
    reachesDedicatedServer: [spec.tier, moveTo, options.tierChangeFrom].some((t) => t != null && tierProfile(t).database.dedicatedServer !== null),
    credentials: options.credentials ?? {},
    readBack: options.readBack ?? true,
    namespace: namespaceName(spec.slug),
    earlier: <N extends PhaseName>(phase: N) => {
      const component = declared.get(phase);
      if (!component) throw new Error(`a phase asked for ${phase}, which is not declared before it`);
      return component as PhaseComponentTypes[N];
    },
  };
  let previous: pulumi.Resource | undefined;
  for (const row of PHASES) {
    if (row.number > lastPhase) break;
    // Each phase depends on the one before; Pulumi deletes them in reverse.
    const phase = PHASE_COMPONENTS[row.name] as PhaseComponent<PhaseName>;
    const component = phase.declare(context, { providers, dependsOn: previous ? [previous] : [], transformations: [ownAppliedFields] });
    declared.set(row.name, component);
    Object.assign(outputs, phase.outputs(component as never));
    previous = component;
  }
  const database = declared.get("SETUP_DATABASE") as TenantDatabase | undefined;
  if (moveTo !== null && database) {
    const target = tierProfile(moveTo).database;
    const moved = declareMoveTarget(database, "database", { tenantId: spec.id, slug: spec.slug, identifier: postgresIdentifier(spec.slug) }, {
      strategy: target.strategy,
      // The role as the switch declares it (the larger connection limit of both tiers).
      roleConnectionLimit: tierChangeProfile(spec.tier, moveTo).database.roleConnectionLimit,
      ...(target.dedicatedServer
        ? {
          dedicatedServer: { ...target.dedicatedServer, highAvailability: dedicatedServerHighAvailability(target.dedicatedServer, spec.region) },
          azure: { resourceGroupName: settings.azure.databaseResourceGroup, location: spec.region, access: dedicatedServerAccess(settings, spec.region) },
        }
        : {
          shared: {
            host: settings.postgres.host, port: settings.postgres.port, database: settings.postgres.database, adminUser: settings.postgres.adminUser,
            adminPassword: pulumi.secret(options.credentials?.postgresAdminPassword ?? ""), sslMode: settings.postgres.sslMode,
          },
        }),
    });
    // Whichever side is dedicated: the move's source (from enterprise) or its target (to enterprise).
    const admin = database.dedicatedAdmin ?? moved.dedicatedAdmin;
    if (admin) outputs.dedicatedDatabaseAdmin = pulumi.secret(admin);
  }
  return outputs;
}
