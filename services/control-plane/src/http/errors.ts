import type { z } from "zod";

/** An error the API answers with `{error, code, details?}` and the given status. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;

  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export const notFound = (message = "Not found") => new ApiError(404, "NOT_FOUND", message);
export const forbidden = (message = "Forbidden") => new ApiError(403, "FORBIDDEN", message);
export const unauthorized = (message = "Unauthorized") => new ApiError(401, "UNAUTHORIZED", message);

export function validationError(error: z.ZodError, message = "Validation failed"): ApiError {
  return new ApiError(
    400,
    "VALIDATION_ERROR",
    message,
    error.issues.map((i) => ({ field: i.path.join("."), message: i.message })),
  );
}

export interface ErrorBody {
  error: string;
  code: string;
  details?: unknown;
}

export function errorBody(err: ApiError): ErrorBody {
  return err.details === undefined
    ? { error: err.message, code: err.code }
    : { error: err.message, code: err.code, details: err.details };
}
