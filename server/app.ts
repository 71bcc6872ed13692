/**
 * The tenant service as a Fastify plugin: the database, the live progress
 * bus, the engine, the durable run queue, authentication and the routes.
 * `server.ts` is the entry point that configures and listens; tests register
 * this plugin on their own instance.
 */
import helmet from "@fastify/helmet";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import websocket from "@fastify/websocket";
import type { FastifyInstance } from "fastify";
import { loadEngineConfig, type TenantEngine } from "../automation/index.ts";
import type { PlatformSettings } from "../model/settings.ts";
import type { ServiceConfig } from "./config.ts";
import { LiveSocketLimits } from "./live/socket-limits.ts";
import authPlugin from "./plugins/auth.ts";
import backupsPlugin from "./plugins/backups.ts";
import bodyPlugin, { bodyRequiresFields } from "./plugins/body.ts";
import { ERROR_EXAMPLES, OPERATION_EXAMPLES } from "./routes/examples.ts";
import connectionsPlugin from "./plugins/connections.ts";
import databasePlugin from "./plugins/database.ts";
import platformSettingsPlugin from "./plugins/platform-settings.ts";
import enginePlugin from "./plugins/engine.ts";
import errorsPlugin from "./plugins/errors.ts";
import metricsPlugin from "./plugins/metrics.ts";
import outboxPlugin from "./plugins/outbox.ts";
import progressBusPlugin from "./plugins/progress-bus.ts";
import runQueuePlugin from "./plugins/run-queue.ts";
import driftPlugin from "./plugins/drift.ts";
import fleetChangesPlugin from "./plugins/fleet-changes.ts";
import tenantServicePlugin from "./plugins/tenant-service.ts";
import adminRoutes from "./routes/admin.ts";
import auditRoutes from "./routes/audit.ts";
import driftRoutes from "./routes/drift.ts";
import eventRoutes from "./routes/events.ts";
import fleetRoutes from "./routes/fleet.ts";
import fleetChangeRoutes from "./routes/fleet-changes.ts";
import platformRoutes from "./routes/platform.ts";
import reviewQueueRoutes from "./routes/review-queue.ts";
import healthRoutes from "./routes/health.ts";
import liveRoutes from "./routes/live.ts";
import changeRoutes from "./routes/changes.ts";
import backupRoutes from "./routes/backups.ts";
import tenantRoutes from "./routes/tenants.ts";
import { Change, ErrorResponse, ProvisioningStatus, Tenant } from "../api/schemas.ts";

export interface AppOptions {
  config: ServiceConfig;
  /** The database to use, as the service's own role: DATABASE_URL or the embedded server's URL. */
  databaseUrl: string;
  /**
   * The schema owner's connection for migrations and grants; default: MATIH_MIGRATION_DATABASE_URL. The entry
   * point passes null: it migrates before (or the embedded database's setup does) and never keeps the owner's URL.
   */
  migrationDatabaseUrl?: string | null;
  settings: PlatformSettings;
  /** An engine built by the caller; otherwise chosen from the environment. */
  engine?: TenantEngine;
  /** Wraps the engine chosen (tests that take a capability away, such as the render engine's batch fleet preview). */
  wrapEngine?: (engine: TenantEngine) => TenantEngine;
  env?: NodeJS.ProcessEnv;
  /** How long a shutdown waits for running jobs; default 30 s. */
  shutdownGraceMs?: number;
  /** When workers start: once ready (default) or once listening (the entry point). */
  startWorkersOn?: "ready" | "listen";
}

interface OpenApiMedia { schema?: { required?: unknown[]; anyOf?: unknown[] }; example?: unknown; examples?: unknown }
interface OpenApiDocument {
  paths?: Record<string, Record<string, {
    requestBody?: { required?: boolean; content?: Record<string, OpenApiMedia> };
    responses?: Record<string, { content?: Record<string, OpenApiMedia> }>;
    "x-body-optional"?: boolean;
  }>>;
}

/** An example on every request body and every answer that has one (routes/examples.ts) where the schema gave none. */
function addExamples(document: OpenApiDocument): OpenApiDocument {
  for (const [route, operations] of Object.entries(document.paths ?? {})) {
    for (const [method, operation] of Object.entries(operations)) {
      const examples = OPERATION_EXAMPLES[`${method.toUpperCase()} ${route}`];
      const fill = (media: OpenApiMedia, value: unknown) => {
        if (media.example === undefined && media.examples === undefined && value !== undefined) media.example = value;
      };
      for (const media of Object.values(operation.requestBody?.content ?? {})) fill(media, examples?.request);
      for (const [code, response] of Object.entries(operation.responses ?? {})) {
        for (const media of Object.values(response.content ?? {})) fill(media, examples?.responses[code] ?? ERROR_EXAMPLES[code]);
      }
    }
  }
  return document;
}

/**
 * @fastify/swagger marks every body required; routes with `"x-body-optional": true` in their schema, and
 * routes whose body has no required field (the body plugin takes no body as `{}` there), take it or leave it.
 */
function markOptionalBodies(document: OpenApiDocument): OpenApiDocument {
  for (const operations of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      const marked = operation["x-body-optional"];
      delete operation["x-body-optional"];
      const schemas = Object.values(operation.requestBody?.content ?? {}).map((c) => c.schema ?? {});
      const allOptional = schemas.length > 0 && schemas.every((schema) => !bodyRequiresFields(schema));
      if ((marked || allOptional) && operation.requestBody) operation.requestBody.required = false;
    }
  }
  return document;
}

export default async function app(fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  const { config } = opts;
  fastify.decorate("readinessChecks", {});
  await fastify.register(errorsPlugin);
  // Security headers on every answer (nosniff, frame and referrer policy) and a strict CSP;
  // API answers carry e-mail addresses, so no cache may keep them.
  await fastify.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'none'"],
        frameAncestors: ["'none'"],
      },
    },
    strictTransportSecurity: false,
  });
  fastify.addHook("onSend", async (request, reply) => {
    // By the matched route, not the raw URL, so that a query string (or a percent-encoded letter) cannot drop the header.
    const path = request.routeOptions.url ?? request.url.split("?", 1)[0]!;
    if (path.startsWith("/api/") || path === "/readyz" || path === "/metrics") reply.header("cache-control", "no-store");
  });
  fastify.addSchema(ErrorResponse);
  fastify.addSchema(Tenant);
  fastify.addSchema(ProvisioningStatus);
  fastify.addSchema(Change);
  await fastify.register(bodyPlugin);
  await fastify.register(swagger, {
    openapi: {
      info: { title: "matih tenant service", version: "1.0.0", description: "Provision, watch, retry, roll back and tear down tenants." },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      security: [{ bearer: [] }],
    },
    // Shared schemas appear under their own names (Tenant, ErrorResponse), not def-0, def-1.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `schema-${i}`) },
    // @fastify/websocket hides its routes from the document; the live route is part of the API, so it is listed (described, not callable).
    transform: ({ schema, url, route }) => ({ schema: (route as { websocket?: boolean }).websocket ? { ...schema, hide: false } : schema, url }),
    transformObject: (document) => ("openapiObject" in document ? addExamples(markOptionalBodies(document.openapiObject as OpenApiDocument)) : document.swaggerObject) as ReturnType<typeof markOptionalBodies> & object,
  });
  // The documentation page runs only its own scripts (no inline script, no eval); swagger-ui
  // sets element styles from script, so inline styles are allowed, and nothing is loaded from elsewhere.
  await fastify.register(swaggerUi, {
    routePrefix: "/docs",
    staticCSP: {
      "default-src": ["'none'"],
      "script-src": ["'self'"],
      "style-src": ["'self'", "'unsafe-inline'"],
      "img-src": ["'self'", "data:"],
      "connect-src": ["'self'"],
      "base-uri": ["'none'"],
      "form-action": ["'none'"],
      "frame-ancestors": ["'none'"],
    },
  });
  await fastify.register(websocket, { options: { maxPayload: 64 * 1024 } });
  await fastify.register(metricsPlugin);
  // Before authentication: a connection in the health reserve is answered 503 for anything but a probe, token or not.
  await fastify.register(connectionsPlugin, { limits: config.connections, trustProxy: config.trustProxy });
  await fastify.register(authPlugin, { tokens: config.tokens, failuresPerMinute: config.authFailuresPerMinute });
  await fastify.register(databasePlugin, { databaseUrl: opts.databaseUrl, migrationDatabaseUrl: opts.migrationDatabaseUrl ?? config.migrationDatabaseUrl });
  // The database's current platform settings version, not the file's, once one exists (the file seeds version 1): every process runs on the same settings.
  const settingsFile = (opts.env ?? process.env).MATIH_PLATFORM_SETTINGS_FILE;
  await fastify.register(platformSettingsPlugin, { fileSettings: opts.settings, source: settingsFile ? `MATIH_PLATFORM_SETTINGS_FILE (${settingsFile})` : "the built-in defaults (MATIH_PLATFORM_SETTINGS_FILE is not set)" });
  const settings = fastify.platformSettingsAtStart.settings;
  await fastify.register(progressBusPlugin, { databaseUrl: opts.databaseUrl });
  await fastify.register(enginePlugin, { dataDir: config.dataDir, ...(opts.engine ? { engine: opts.engine } : {}), ...(opts.wrapEngine ? { wrap: opts.wrapEngine } : {}), ...(opts.env ? { env: opts.env } : {}) });
  // Before the run queue: a run takes its backup before anything destructive.
  await fastify.register(backupsPlugin, { backups: config.backups, settings, dataDir: config.dataDir, ...(opts.env ? { env: opts.env } : {}) });
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
    settings,
    maxAttempts: config.maxAttempts,
    retryDelaySeconds: config.retryDelaySeconds,
    heartbeatSeconds: config.jobHeartbeatSeconds,
    rollbackPolicy: config.rollbackPolicy,
    opsEmail: config.drift.opsEmail,
    worker: config.worker,
    workerConcurrency: config.workerConcurrency,
    shutdownGraceMs: opts.shutdownGraceMs ?? 30_000,
    startWorkersOn: opts.startWorkersOn ?? "ready",
    scheduleCheckSeconds: config.drift.scheduleCheckSeconds,
    // A preview or drift check cannot outlive the engine's time limit; five minutes' margin for recording it.
    inspectionLimitMs: loadEngineConfig(opts.env ?? process.env, { dataDir: config.dataDir }).operationTimeoutMs + 300_000,
  });
  await fastify.register(tenantServicePlugin, {
    settings,
    maxAttempts: config.maxAttempts,
    changeTtlHours: config.changeTtlHours,
    requireSeparateApprover: config.requireSeparateApprover,
    // Named so that a four-eyes request can say who may approve it.
    adminPrincipals: [...new Set(config.tokens.filter((t) => t.scope === "admin").map((t) => t.principal))],
    limits: config.limits,
  });
  // After the tenant service: a one-off drift check runs as the tenant's inspection run, then is kept as drift history.
  await fastify.register(driftPlugin, { drift: config.drift, settings, worker: config.worker, startWorkersOn: opts.startWorkersOn ?? "ready" });
  await fastify.register(fleetChangesPlugin, {
    settings, maxAttempts: config.maxAttempts, changeTtlHours: config.changeTtlHours, requireSeparateApprover: config.requireSeparateApprover,
    worker: config.worker, startWorkersOn: opts.startWorkersOn ?? "ready", limits: config.limits,
    // Half the engine's operations at once, so that tenants' own runs still start while a fleet change is previewed.
    fleetPreviewConcurrency: Math.max(1, Math.floor(loadEngineConfig(opts.env ?? process.env, { dataDir: config.dataDir }).maxConcurrentOperations / 2)),
  });
  await fastify.register(healthRoutes);
  await fastify.register(tenantRoutes);
  await fastify.register(changeRoutes);
  await fastify.register(backupRoutes);
  // One set of limits for both live streams: a token's sockets are counted across the tenant and the fleet stream.
  const liveSockets = new LiveSocketLimits({ maxPerPrincipal: config.wsMaxPerPrincipal, maxAgeMs: config.wsMaxAgeSeconds * 1000, pingMs: config.wsPingSeconds * 1000 });
  await fastify.register(liveRoutes, { limits: liveSockets });
  await fastify.register(eventRoutes);
  await fastify.register(fleetRoutes, { limits: liveSockets });
  await fastify.register(fleetChangeRoutes);
  await fastify.register(platformRoutes);
  await fastify.register(reviewQueueRoutes);
  await fastify.register(adminRoutes, { settings });
  await fastify.register(auditRoutes);
  await fastify.register(driftRoutes);
}
