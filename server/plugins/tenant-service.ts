import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import type { PlatformSettings } from "../../model/settings.ts";
import { ChangeService } from "../domain/change-service.ts";
import { TenantService } from "../domain/tenant-service.ts";

declare module "fastify" {
  interface FastifyInstance {
    tenants: TenantService;
    changes: ChangeService;
  }
}

async function tenantServicePlugin(fastify: FastifyInstance, opts: { settings: PlatformSettings; maxAttempts: number; changeTtlHours: number; requireSeparateApprover: boolean }): Promise<void> {
  fastify.decorate("tenants", new TenantService({ pool: fastify.db, queue: fastify.runQueue, engine: fastify.engine, bus: fastify.bus, settings: opts.settings, maxAttempts: opts.maxAttempts }));
  fastify.decorate("changes", new ChangeService({
    pool: fastify.db, queue: fastify.runQueue, engine: fastify.engine, maxAttempts: opts.maxAttempts,
    changeTtlHours: opts.changeTtlHours, requireSeparateApprover: opts.requireSeparateApprover,
  }));
}

export default fp(tenantServicePlugin, { name: "matih-tenant-service", fastify: "5.x", dependencies: ["matih-run-queue"] });
