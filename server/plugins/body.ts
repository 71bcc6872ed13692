/**
 * How request bodies are read. JSON only (any other media type, text/plain
 * included, is 415); an empty body is no body, so routes that take none
 * accept the `Content-Type: application/json` many clients send on every
 * request, and routes whose body is optional (`config.optionalBody`) get `{}`.
 * Keys that could alter prototypes (`__proto__`, `constructor.prototype`) and
 * NUL characters (which PostgreSQL cannot store) are refused with a message
 * that says so.
 */
import fp from "fastify-plugin";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { ApiError } from "../domain/errors.ts";

declare module "fastify" {
  interface FastifyContextConfig {
    /** The body schema applies when a body is sent; without one the handler sees `{}`. */
    optionalBody?: boolean;
  }
}

/** The path of the first string (or key) holding U+0000, as the error handler names fields; null when there is none. */
export function findNul(value: unknown, at = ""): string | null {
  if (typeof value === "string") return value.includes("\u0000") ? at || "(body)" : null;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = findNul(item, at ? `${at}.${i}` : String(i));
      if (found) return found;
    }
    return null;
  }
  if (value && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      const field = at ? `${at}.${key}` : key;
      if (key.includes("\u0000")) return field;
      const found = findNul(item, field);
      if (found) return found;
    }
  }
  return null;
}

async function bodyPlugin(fastify: FastifyInstance): Promise<void> {
  const secureParse = fastify.getDefaultJsonParser("error", "error");
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser("application/json", { parseAs: "string" }, (request: FastifyRequest, body: string | Buffer, done: (err: Error | null, value?: unknown) => void) => {
    const text = String(body);
    if (text.length === 0) return done(null, undefined);
    secureParse(request, text, (error: Error | null, value: unknown) => {
      if (error) {
        if ((error as { code?: string }).code === "FST_ERR_CTP_INVALID_JSON_BODY") {
          try {
            JSON.parse(text);
          } catch {
            return done(error);
          }
          // Valid JSON that the safe parser refused: it holds a prototype key.
          return done(new ApiError(400, "forbidden_key", 'the request body contains a "__proto__" or "constructor.prototype" key; such keys can change how the server treats every object, so they are refused'));
        }
        return done(error);
      }
      const field = findNul(value);
      if (field) return done(new ApiError(400, "invalid_request", "the request body is invalid", [{ field, message: "must not contain NUL characters (\\u0000)" }]));
      done(null, value);
    });
  });

  fastify.addHook("preValidation", async (request) => {
    if (request.body !== undefined && request.body !== null) return;
    if (!request.routeOptions.schema?.body) return;
    if (request.routeOptions.config?.optionalBody) {
      request.body = {};
      return;
    }
    throw new ApiError(400, "invalid_request", "the request body is empty; send a JSON object");
  });
}

export default fp(bodyPlugin, { name: "matih-body", fastify: "5.x" });
