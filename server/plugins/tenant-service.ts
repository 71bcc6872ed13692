import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import type { PlatformSettings } from "../../model/settings.ts";
import { TenantService } from "../domain/tenant-service.ts";

declare module "fastify" {
  interface FastifyInstance {
    tenants: TenantService;
  }
}

async function tenantServicePlugin(fastify: FastifyInstance, opts: { settings: PlatformSettings; maxAttempts: number }): Promise<void> {
  fastify.decorate("tenants", new TenantService({ pool: fastify.db, queue: fastify.runQueue, engine: fastify.engine, bus: fastify.bus, settings: opts.settings, maxAttempts: opts.maxAttempts }));
}

export default fp(tenantServicePlugin, { name: "matih-tenant-service", fastify: "5.x", dependencies: ["matih-run-queue"] });
