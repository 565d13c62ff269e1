import {
  type ControlPlaneCode,
  type ControlPlaneErrorEnvelope,
  controlPlaneEnvelope,
  controlPlaneErrorSpec,
} from "@sigilum-gw/shared/errors";
import type { z } from "zod";

/**
 * An error the API answers with the envelope `{error, code, request_id, timestamp, docs_url, details?}`. The code
 * is one of the catalogue's (docs/errors.md), which also gives its HTTP status and the default message.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly code: ControlPlaneCode;
  readonly details: unknown;

  constructor(code: ControlPlaneCode, message?: string, details?: unknown) {
    const spec = controlPlaneErrorSpec(code);
    super(message ?? spec.message);
    this.name = "ApiError";
    this.status = spec.status;
    this.code = code;
    this.details = details;
  }
}

export const notFound = (message = "Not found") => new ApiError("NOT_FOUND", message);
export const forbidden = (message = "Forbidden") => new ApiError("FORBIDDEN", message);

export function validationError(error: z.ZodError, message = "Validation failed"): ApiError {
  return new ApiError(
    "VALIDATION_ERROR",
    message,
    error.issues.map((i) => ({ field: i.path.join("."), message: i.message })),
  );
}

export function errorBody(err: ApiError, requestId: string): ControlPlaneErrorEnvelope {
  return controlPlaneEnvelope(err, requestId);
}
