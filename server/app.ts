/**
 * The tenant service as a Fastify plugin: the database, the live progress
 * bus, the engine, the durable run queue, authentication and the routes.
 * `server.ts` is the entry point that configures and listens; tests register
 * this plugin on their own instance.
 */
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import websocket from "@fastify/websocket";
import type { FastifyInstance } from "fastify";
import type { TenantEngine } from "../automation/index.ts";
import type { PlatformSettings } from "../model/settings.ts";
import type { ServiceConfig } from "./config.ts";
import authPlugin from "./plugins/auth.ts";
import databasePlugin from "./plugins/database.ts";
import enginePlugin from "./plugins/engine.ts";
import errorsPlugin from "./plugins/errors.ts";
import metricsPlugin from "./plugins/metrics.ts";
import outboxPlugin from "./plugins/outbox.ts";
import progressBusPlugin from "./plugins/progress-bus.ts";
import runQueuePlugin from "./plugins/run-queue.ts";
import tenantServicePlugin from "./plugins/tenant-service.ts";
import adminRoutes from "./routes/admin.ts";
import eventRoutes from "./routes/events.ts";
import fleetRoutes from "./routes/fleet.ts";
import healthRoutes from "./routes/health.ts";
import liveRoutes from "./routes/live.ts";
import changeRoutes from "./routes/changes.ts";
import tenantRoutes from "./routes/tenants.ts";
import { Change, ErrorResponse, ProvisioningStatus, Tenant } from "./routes/schemas.ts";

export interface AppOptions {
  config: ServiceConfig;
  /** The database to use: DATABASE_URL or the embedded server's URL. */
  databaseUrl: string;
  settings: PlatformSettings;
  /** An engine built by the caller; otherwise chosen from the environment. */
  engine?: TenantEngine;
  env?: NodeJS.ProcessEnv;
  /** How long a shutdown waits for running jobs; default 30 s. */
  shutdownGraceMs?: number;
}

export default async function app(fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  const { config } = opts;
  fastify.decorate("readinessChecks", {});
  await fastify.register(errorsPlugin);
  fastify.addSchema(ErrorResponse);
  fastify.addSchema(Tenant);
  fastify.addSchema(ProvisioningStatus);
  fastify.addSchema(Change);
  await fastify.register(swagger, {
    openapi: {
      info: { title: "matih tenant service", version: "1.0.0", description: "Provision, watch, retry, roll back and tear down tenants." },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      security: [{ bearer: [] }],
    },
  });
  await fastify.register(swaggerUi, { routePrefix: "/docs" });
  await fastify.register(websocket, { options: { maxPayload: 64 * 1024 } });
  await fastify.register(metricsPlugin);
  await fastify.register(authPlugin, { tokens: config.tokens });
  await fastify.register(databasePlugin, { databaseUrl: opts.databaseUrl });
  await fastify.register(progressBusPlugin, { databaseUrl: opts.databaseUrl });
  await fastify.register(enginePlugin, { dataDir: config.dataDir, ...(opts.engine ? { engine: opts.engine } : {}), ...(opts.env ? { env: opts.env } : {}) });
  // Before the run queue, so that it closes after it: rows committed by runs finishing during shutdown still go out.
  await fastify.register(outboxPlugin, {
    kafka: config.kafka,
    topic: config.eventsTopic,
    source: config.eventSource,
    smtp: config.smtp,
    mailFrom: config.mailFrom,
    dataDir: config.dataDir,
  });
  await fastify.register(runQueuePlugin, {
    databaseUrl: opts.databaseUrl,
    settings: opts.settings,
    maxAttempts: config.maxAttempts,
    retryDelaySeconds: config.retryDelaySeconds,
    heartbeatSeconds: config.jobHeartbeatSeconds,
    rollbackPolicy: config.rollbackPolicy,
    worker: config.worker,
    workerConcurrency: config.workerConcurrency,
    shutdownGraceMs: opts.shutdownGraceMs ?? 30_000,
  });
  await fastify.register(tenantServicePlugin, {
    settings: opts.settings,
    maxAttempts: config.maxAttempts,
    changeTtlHours: config.changeTtlHours,
    requireSeparateApprover: config.requireSeparateApprover,
  });
  await fastify.register(healthRoutes);
  await fastify.register(tenantRoutes);
  await fastify.register(changeRoutes);
  await fastify.register(liveRoutes);
  await fastify.register(eventRoutes);
  await fastify.register(fleetRoutes);
  await fastify.register(adminRoutes, { settings: opts.settings });
}
