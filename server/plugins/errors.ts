/**
 * One error handler for the whole API: JSON with a stable code and a message a
 * user can act on. Validation problems list every field; 5xx answers never
 * echo internals (the details go to the log with the request id).
 */
import fp from "fastify-plugin";
import type { FastifyError, FastifyInstance } from "fastify";
import { EngineError, HTTP_STATUS_BY_CODE } from "../../automation/index.ts";
import { ApiError } from "../domain/errors.ts";
import { TransitionRefusedError } from "../domain/tenant-status.ts";
import { ValidationError } from "../../model/spec.ts";

interface FieldProblem {
  field: string;
  message: string;
}

function fieldOf(instancePath: string, params: Record<string, unknown>): string {
  const base = instancePath.replace(/^\//, "").replaceAll("/", ".");
  if (params.missingProperty) return [base, String(params.missingProperty)].filter(Boolean).join(".");
  if (params.additionalProperty) return [base, String(params.additionalProperty)].filter(Boolean).join(".");
  return base || "(body)";
}

interface SchemaError {
  instancePath: string;
  keyword?: string;
  message?: string;
  params: Record<string, unknown>;
}

/**
 * Schema errors as one readable problem per field and rule: a choice among
 * values reads `must be one of a, b, c` (not one `must be equal to constant`
 * per value plus `must match a schema in anyOf`), and every field is listed.
 */
export function schemaProblems(errors: readonly SchemaError[]): FieldProblem[] {
  const choices = new Map<string, unknown[]>();
  for (const e of errors) {
    const field = fieldOf(e.instancePath, e.params);
    if (e.keyword === "enum" && Array.isArray(e.params.allowedValues)) choices.set(field, [...(choices.get(field) ?? []), ...e.params.allowedValues]);
    if (e.keyword === "const" && "allowedValue" in e.params) choices.set(field, [...(choices.get(field) ?? []), e.params.allowedValue]);
  }
  const problems: FieldProblem[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    const field = fieldOf(e.instancePath, e.params);
    const choice = choices.get(field);
    const message = choice && ["enum", "const", "anyOf"].includes(e.keyword ?? "")
      ? `must be one of ${[...new Set(choice)].join(", ")}`
      : e.params.additionalProperty ? "is not a known field" : e.message ?? "is invalid";
    const key = `${field}\u0000${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push({ field, message });
  }
  return problems;
}

async function errorsPlugin(fastify: FastifyInstance): Promise<void> {
  fastify.setErrorHandler((error: FastifyError & { validation?: SchemaError[]; validationContext?: string }, request, reply) => {
    if (error instanceof ValidationError) {
      return reply.code(400).send({ code: "invalid_request", message: `the ${error.subject} is invalid`, details: error.problems });
    }
    if (error.validation) {
      return reply.code(400).send({ code: "invalid_request", message: `the request ${error.validationContext ?? "body"} is invalid`, details: schemaProblems(error.validation) });
    }
    if (error instanceof ApiError) {
      return reply.code(error.statusCode).send({ code: error.code, message: error.message, ...(error.details !== undefined ? { details: error.details } : {}) });
    }
    if (error instanceof TransitionRefusedError) return reply.code(409).send({ code: "invalid_transition", message: error.message });
    if (error instanceof EngineError) {
      const status = HTTP_STATUS_BY_CODE[error.code] ?? 500;
      if (status < 500) return reply.code(status).send({ code: error.code, message: error.message });
    }
    switch (error.code) {
      case "FST_ERR_CTP_BODY_TOO_LARGE":
        return reply.code(400).send({ code: "body_too_large", message: `the request body is larger than ${fastify.initialConfig.bodyLimit} bytes` });
      case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
        return reply.code(415).send({ code: "unsupported_media_type", message: "send the request body as application/json" });
      case "FST_ERR_CTP_INVALID_JSON_BODY":
        return reply.code(400).send({ code: "malformed_json", message: "the request body is not valid JSON" });
      case "FST_ERR_CTP_EMPTY_JSON_BODY":
        return reply.code(400).send({ code: "invalid_request", message: "the request body is empty; send a JSON object" });
    }
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.code(error.statusCode).send({ code: "bad_request", message: error.message });
    }
    request.log.error({ err: error }, "request failed");
    return reply.code(500).send({ code: "internal_error", message: `something went wrong on our side; quote request id ${request.id} when reporting it` });
  });

  fastify.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ code: "not_found", message: `no route ${request.method} ${request.url.split("?")[0]}` });
  });
}

export default fp(errorsPlugin, { name: "matih-errors", fastify: "5.x" });
