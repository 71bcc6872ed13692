import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import type { PlatformSettings } from "../../model/settings.ts";
import { pruneIdempotencyKeys } from "../db/idempotency.ts";
import { ChangeService } from "../domain/change-service.ts";
import { TenantService } from "../domain/tenant-service.ts";

declare module "fastify" {
  interface FastifyInstance {
    tenants: TenantService;
    changes: ChangeService;
  }
}

/** How often expired idempotency keys are deleted. */
const PRUNE_EVERY_MS = 3600_000;

async function tenantServicePlugin(fastify: FastifyInstance, opts: { settings: PlatformSettings; maxAttempts: number; changeTtlHours: number; requireSeparateApprover: boolean }): Promise<void> {
  fastify.decorate("tenants", new TenantService({ pool: fastify.db, queue: fastify.runQueue, engine: fastify.engine, bus: fastify.bus, settings: opts.settings, maxAttempts: opts.maxAttempts, log: fastify.log }));
  fastify.decorate("changes", new ChangeService({
    pool: fastify.db, queue: fastify.runQueue, engine: fastify.engine, maxAttempts: opts.maxAttempts,
    changeTtlHours: opts.changeTtlHours, requireSeparateApprover: opts.requireSeparateApprover,
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

export default fp(tenantServicePlugin, { name: "matih-tenant-service", fastify: "5.x", dependencies: ["matih-run-queue"] });
