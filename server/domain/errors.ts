import { HTTP_STATUS_BY_CODE } from "../../automation/index.ts";

/** An error the API answers with its status code, a stable code and a message a user can act on. */
export class ApiError extends Error {
  readonly statusCode: number;
  readonly code: string;
  readonly details: unknown;
  constructor(statusCode: number, code: string, message: string, details?: unknown) {
    super(message);
    this.name = "ApiError";
    this.statusCode = statusCode;
    this.code = code;
    this.details = details;
  }
}

export const notFound = (what: string) => new ApiError(404, "not_found", `${what} was not found`);

/**
 * An engine's failed or cancelled operation as the API answers it: the
 * engine's code with its HTTP status (502 for a code without one).
 * `details` says more, such as whether a failed drift check was kept.
 */
export function engineRefusal(error: { code: string; message: string }, details?: unknown): ApiError {
  const status = HTTP_STATUS_BY_CODE[error.code as keyof typeof HTTP_STATUS_BY_CODE] ?? 502;
  return new ApiError(status, error.code, error.message, details);
}
