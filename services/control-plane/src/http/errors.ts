import { type ControlPlaneErrorEnvelope, controlPlaneEnvelope } from "@sigilum-gw/shared/errors";
import type { z } from "zod";

/** An error the API answers with the envelope `{error, code, request_id, timestamp, docs_url, details?}`. */
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

export function validationError(error: z.ZodError, message = "Validation failed"): ApiError {
  return new ApiError(
    400,
    "VALIDATION_ERROR",
    message,
    error.issues.map((i) => ({ field: i.path.join("."), message: i.message })),
  );
}

export function errorBody(err: ApiError, requestId: string): ControlPlaneErrorEnvelope {
  return controlPlaneEnvelope(err, requestId);
}
