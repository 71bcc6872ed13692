import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import type { PlatformSettings } from "../../model/settings.ts";
import { pruneIdempotencyKeys } from "../db/idempotency.ts";
import type { AdmissionLimits } from "../domain/admission.ts";
import { ChangeService } from "../domain/change-service.ts";
import { TenantBackups } from "../domain/tenant-backups.ts";
import { TenantService } from "../domain/tenant-service.ts";

declare module "fastify" {
  interface FastifyInstance {
    tenants: TenantService;
    changes: ChangeService;
  }
}

/** How often expired idempotency keys are deleted. */
const PRUNE_EVERY_MS = 3600_000;

async function tenantServicePlugin(fastify: FastifyInstance, opts: { settings: PlatformSettings; maxAttempts: number; changeTtlHours: number; requireSeparateApprover: boolean; limits?: AdmissionLimits; adminPrincipals?: readonly string[] }): Promise<void> {
  const tenants = new TenantService({ pool: fastify.db, queue: fastify.runQueue, engine: fastify.engine, bus: fastify.bus, settings: opts.settings, maxAttempts: opts.maxAttempts, ...(opts.limits ? { limits: opts.limits } : {}), log: fastify.log });
  fastify.decorate("tenants", tenants);
  fastify.decorate("changes", new ChangeService({
    pool: fastify.db, queue: fastify.runQueue, engine: fastify.engine, maxAttempts: opts.maxAttempts,
    changeTtlHours: opts.changeTtlHours, requireSeparateApprover: opts.requireSeparateApprover, ...(opts.limits ? { limits: opts.limits } : {}), settings: opts.settings,
    // Teardowns and rollbacks under four eyes are requests whose approval queues the tenant service's run.
    lifecycle: tenants, adminPrincipals: opts.adminPrincipals ?? [],
    // Restores are requests too (issue 22): their approval restores the backup.
    restores: new TenantBackups({ pool: fastify.db, backups: fastify.backups }),
  }));
  // Expired keys are already ignored when claimed; this only keeps the table small.
  const prune = () => pruneIdempotencyKeys(fastify.db).catch((err: Error) => fastify.log.warn({ err }, "could not prune idempotency keys"));
  const timer = setInterval(prune, PRUNE_EVERY_MS);
  timer.unref();
  fastify.addHook("onReady", async () => {
    await prune();
  });
  fastify.addHook("onClose", async () => clearInterval(timer));
}

export default fp(tenantServicePlugin, { name: "matih-tenant-service", fastify: "5.x", dependencies: ["matih-run-queue", "matih-backups"] });
