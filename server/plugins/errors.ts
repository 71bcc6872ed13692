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

async function errorsPlugin(fastify: FastifyInstance): Promise<void> {
  fastify.setErrorHandler((error: FastifyError & { validation?: { instancePath: string; message?: string; params: Record<string, unknown> }[]; validationContext?: string }, request, reply) => {
    if (error.validation) {
      const problems: FieldProblem[] = error.validation.map((v) => ({
        field: fieldOf(v.instancePath, v.params),
        message: v.params.additionalProperty ? "is not a known field" : v.message ?? "is invalid",
      }));
      return reply.code(400).send({ code: "invalid_request", message: `the request ${error.validationContext ?? "body"} is invalid`, details: problems });
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
