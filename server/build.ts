/**
 * Builds the Fastify instance with the service's validator settings: every
 * problem reported (allErrors), unknown fields refused rather than silently
 * dropped, and no type coercion of JSON bodies (query strings and params are
 * coerced, since they are always text).
 */
import Ajv from "ajv";
import addFormats from "ajv-formats";
import Fastify, { type FastifyInstance, type FastifyServerOptions } from "fastify";
import fp from "fastify-plugin";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import pino from "pino";
import app, { type AppOptions } from "./app.ts";
import { rememberSecrets, secretValues } from "../automation/index.ts";
import { REDACTED, redactLogCall, redactUrl } from "./log-redaction.ts";

function ajv(coerceTypes: boolean) {
  const instance = new Ajv.default({ allErrors: true, removeAdditional: false, useDefaults: true, coerceTypes, strict: false });
  addFormats.default(instance);
  return instance;
}

/**
 * The service's logger settings: ISO times, and no credential in any logged
 * request (Authorization header, or a token in the query string).
 */
export function loggerOptions(level: string, stream?: NodeJS.WritableStream): FastifyServerOptions["logger"] {
  return {
    level,
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ["req.headers.authorization", "req.headers.cookie"], censor: REDACTED },
    hooks: { logMethod: redactLogCall },
    serializers: {
      req: (request: { method: string; url: string; host?: string; hostname?: string; ip?: string; socket?: { remotePort?: number } }) => ({
        method: request.method,
        url: redactUrl(request.url),
        host: request.host ?? request.hostname,
        remoteAddress: request.ip,
        remotePort: request.socket?.remotePort,
      }),
    },
    ...(stream ? { stream } : {}),
  } as FastifyServerOptions["logger"];
}

/** Trusts the nearest `hops` proxies, as proxy-addr does for a number. */
function trustHops(hops: number): (address: string, hop: number) => boolean {
  return (_address, hop) => hop < hops;
}

export async function buildService(opts: AppOptions & { logger?: boolean | object; logStream?: NodeJS.WritableStream }): Promise<FastifyInstance> {
  // What the service stores, sends and logs is masked of these (redactValue): its tokens, database URLs, mail and Kafka passwords.
  const env = opts.env ?? process.env;
  rememberSecrets(secretValues({ ...env, DATABASE_URL: opts.databaseUrl, MATIH_MIGRATION_DATABASE_URL: opts.migrationDatabaseUrl ?? env.MATIH_MIGRATION_DATABASE_URL }, opts.settings));
  rememberSecrets(opts.config.tokens.map((t) => t.token));
  const bodies = ajv(false);
  const text = ajv(true);
  // Node refuses a headers timeout longer than the request timeout.
  const headersTimeoutMs = Math.min(opts.config.connections.headersTimeoutSeconds, opts.config.requestTimeoutSeconds) * 1000;
  const fastify = Fastify({
    logger: opts.logger ?? loggerOptions(opts.config.logLevel, opts.logStream),
    bodyLimit: opts.config.bodyLimitBytes,
    // Plugins wait on the database and the engine at start: pg-boss installing
    // its schema in a fresh database, or the Pulumi engine checking its CLI,
    // takes more than Fastify's default 10 s on a loaded host. A start that
    // is slow is not a start that failed.
    pluginTimeout: 120_000,
    // A client must send its whole request in this time (a body dribbled byte by byte is cut off),
    // and an idle connection is closed; Node checks both every `connectionsCheckingInterval`.
    requestTimeout: opts.config.requestTimeoutSeconds * 1000,
    connectionTimeout: opts.config.connectionTimeoutSeconds * 1000,
    // Node only enforces these when they are given to http.createServer itself, not set afterwards.
    http: {
      requestTimeout: opts.config.requestTimeoutSeconds * 1000,
      // Headers come first and are small: a half-sent request holds its connection (a descriptor) only this long.
      headersTimeout: headersTimeoutMs,
      connectionsCheckingInterval: Math.min(30_000, Math.max(250, headersTimeoutMs / 4)),
    },
    routerOptions: { maxParamLength: 200 },
    // request.ip (the failed-authentication limit's key, and the log's remoteAddress) reads X-Forwarded-For only from these proxies.
    // A hop count is given as a function, as Fastify itself turns it into one (its types take no number).
    trustProxy: typeof opts.config.trustProxy === "number" ? trustHops(opts.config.trustProxy) : opts.config.trustProxy,
  }).withTypeProvider<TypeBoxTypeProvider>();
  fastify.setValidatorCompiler(({ schema, httpPart }) => (httpPart === "body" ? bodies : text).compile(schema));
  // Unwrapped (as fastify/demo does) so the error handler, auth hook and decorators apply to the whole instance.
  await fastify.register(fp(app), opts);
  return fastify as unknown as FastifyInstance;
}
