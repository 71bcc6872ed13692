/**
 * Entry point for the plain Pulumi CLI (`pulumi up` in a stack of project
 * matih-tenants), for operators who debug one tenant by hand. The service
 * runs the same `tenantProgram` inline through the Automation API.
 *
 *   pulumi config set --path tenant.id 550e8400-e29b-41d4-a716-446655440000
 *   pulumi config set --path tenant.slug acme
 *   ... (displayName, tier, region, adminEmail, requestedBy, requestedAt)
 *   pulumi config set --path platform.baseDomain matih.ai   # any PlatformSettings override
 *   pulumi config set lastPhase 4                            # optional: stop after phase 4
 */
import * as pulumi from "@pulumi/pulumi";
import { resolvePlatformSettings } from "../model/settings.ts";
import { validateTenantSpec } from "../model/spec.ts";
import { tenantProgram } from "./tenant-program.ts";

export default async function program() {
  const config = new pulumi.Config();
  const settings = resolvePlatformSettings(config.getObject<Record<string, unknown>>("platform") ?? {});
  const spec = validateTenantSpec(config.requireObject<Record<string, unknown>>("tenant"), { baseDomain: settings.baseDomain });
  const lastPhase = config.getNumber("lastPhase");
  // The entry point is the edge: it reads the admin password where the CLI runs and hands it to the program.
  const postgresAdminPassword = process.env[settings.postgres.adminPasswordEnv];
  return tenantProgram(spec, settings, {
    ...(lastPhase === undefined ? {} : { lastPhase }),
    credentials: postgresAdminPassword ? { postgresAdminPassword } : {},
  });
}
