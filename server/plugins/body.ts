/**
 * How request bodies are read. JSON only (any other media type, text/plain
 * included, is 415); an empty body is no body, so routes that take none
 * accept the `Content-Type: application/json` many clients send on every
 * request, and routes whose body is optional (`config.optionalBody`, or a body
 * schema with no required field) get `{}`.
 * Keys that could alter prototypes (`__proto__`, `constructor.prototype`),
 * bodies nested deeper than MAX_JSON_DEPTH and NUL characters (which
 * PostgreSQL cannot store; in the body, the query string or a path segment)
 * are refused with a message that says so.
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

/**
 * How deep a request body may nest arrays and objects. No API body comes near
 * it (a simulated drift's value, a resource property, is the deepest); a deeper
 * one would make every recursive step after parsing (the NUL check, the
 * validator, storing it as JSON) overflow the stack.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Whether JSON text nests arrays and objects deeper than `max`, found by one
 * scan of the text before it is parsed (brackets inside strings do not count).
 */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}

/**
 * Whether a body schema names a required field (in every branch of a union); one that does not is
 * satisfied by `{}`, so no body is needed.
 */
export function bodyRequiresFields(schema: { required?: unknown[]; anyOf?: unknown[]; oneOf?: unknown[] }): boolean {
  const branches = schema.anyOf ?? schema.oneOf;
  if (Array.isArray(branches) && branches.length > 0) return branches.every((b) => bodyRequiresFields((b ?? {}) as { required?: unknown[] }));
  return Array.isArray(schema.required) && schema.required.length > 0;
}

async function bodyPlugin(fastify: FastifyInstance): Promise<void> {
  // Before authentication and every route's own code: a NUL in the query string or a
  // path segment would otherwise reach a PostgreSQL query, which cannot take it (500).
  fastify.addHook("onRequest", async (request) => {
    for (const [part, value] of [["params", request.params], ["querystring", request.query]] as const) {
      const field = findNul(value);
      if (field) throw new ApiError(400, "invalid_request", `the request ${part} is invalid`, [{ field, message: "must not contain NUL characters (\\u0000)" }]);
    }
  });

  const secureParse = fastify.getDefaultJsonParser("error", "error");
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser("application/json", { parseAs: "string" }, (request: FastifyRequest, body: string | Buffer, done: (err: Error | null, value?: unknown) => void) => {
    const text = String(body);
    if (text.length === 0) return done(null, undefined);
    if (nestsDeeperThan(text, MAX_JSON_DEPTH)) return done(new ApiError(400, "body_too_deep", `the request body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`));
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
    const schema = request.routeOptions.schema?.body as Parameters<typeof bodyRequiresFields>[0] | undefined;
    if (!schema) return;
    // A body whose fields are all optional may be left out: `{}` says the same, and
    // clients should not have to know which of such routes want one (approve did, preview did not).
    if (request.routeOptions.config?.optionalBody || !bodyRequiresFields(schema)) {
      request.body = {};
      return;
    }
    throw new ApiError(400, "invalid_request", "the request body is empty; send a JSON object");
  });
}

export default fp(bodyPlugin, { name: "matih-body", fastify: "5.x" });
