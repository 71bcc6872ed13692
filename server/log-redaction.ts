/**
 * Keeps tokens out of request logs. Fastify logs each request's URL, query
 * string included; a browser's WebSocket (the admin dashboard's) carries its
 * bearer token there as `access_token`, so the URL is logged with that value
 * replaced.
 */
import type { FastifyRequest } from "fastify";

const SECRET_QUERY_PARAMETERS = ["access_token"];

export function redactUrl(url: string): string {
  const query = url.indexOf("?");
  if (query < 0) return url;
  const params = new URLSearchParams(url.slice(query + 1));
  let changed = false;
  for (const name of SECRET_QUERY_PARAMETERS) {
    if (params.has(name)) {
      params.set(name, "[redacted]");
      changed = true;
    }
  }
  return changed ? `${url.slice(0, query)}?${params.toString()}` : url;
}

/** Fastify's own request serializer, with the URL redacted. */
export function requestSerializer(request: FastifyRequest) {
  return {
    method: request.method,
    url: redactUrl(request.url),
    version: request.headers?.["accept-version"] === undefined ? undefined : String(request.headers["accept-version"]),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

/** The service's logger settings: headers and query tokens redacted, URLs logged without token values. */
export function serviceLoggerOptions(level: string) {
  return { level, redact: { paths: ["req.headers.authorization", "req.query.access_token"], censor: "[redacted]" }, serializers: { req: requestSerializer } };
}
