import type { ServerResponse } from "node:http";
import { ERROR_CATALOGUE, type ErrorCode } from "./catalogue.ts";

export const ERROR_DOCS_BASE_URL = "https://github.com/sigilum-gateway/gateway/blob/main/docs/errors.md";

export const DOC_SECTIONS = [
  { anchor: "auth-errors", title: "Auth errors" },
  { anchor: "admin-errors", title: "Admin errors" },
  { anchor: "runtime-and-mcp-errors", title: "Runtime and MCP errors" },
  { anchor: "health-and-readiness-errors", title: "Health and readiness errors" },
  { anchor: "generic-and-operator-errors", title: "Generic and operator errors" },
] as const;

export type DocAnchor = (typeof DOC_SECTIONS)[number]["anchor"];

const RUNTIME_CODES = new Set([
  "UPSTREAM_ERROR",
  "ROTATION_REQUIRED",
  "INVALID_REFRESH_MODE",
  "UPSTREAM_TIMEOUT",
  "CREDENTIAL_VARIABLE_MISSING",
]);
const GENERIC_CODES = new Set(["METHOD_NOT_ALLOWED", "NOT_FOUND", "REQUEST_BODY_TOO_LARGE"]);
const GENERIC_STATUSES = new Set([404, 405, 413]);

/**
 * spec/gateway.md §8.1's first-match rule (so MCP_CIRCUIT_OPEN, a 503, lands under health). Our extensions:
 * UPSTREAM_TIMEOUT and CREDENTIAL_VARIABLE_MISSING are runtime errors, and any other code is documented under
 * generic-and-operator (Sigilum leaves it without an anchor); only a code-less error can have none.
 */
export function docsAnchorFor(code: string | undefined, status: number): DocAnchor | undefined {
  const upper = (code ?? "").toUpperCase();
  if (upper.startsWith("AUTH_")) return "auth-errors";
  if (upper.startsWith("ADMIN_")) return "admin-errors";
  if (upper === "NOT_READY" || status === 503) return "health-and-readiness-errors";
  if (upper.startsWith("MCP_") || RUNTIME_CODES.has(upper)) return "runtime-and-mcp-errors";
  if (GENERIC_CODES.has(upper) || GENERIC_STATUSES.has(status)) return "generic-and-operator-errors";
  return upper === "" ? undefined : "generic-and-operator-errors";
}

export function docsUrlFor(code: string | undefined, status: number): string {
  const anchor = docsAnchorFor(code, status);
  return anchor ? `${ERROR_DOCS_BASE_URL}#${anchor}` : ERROR_DOCS_BASE_URL;
}

/** RFC 3339 UTC, fraction trimmed of trailing zeros (and dropped when zero), like Go's RFC3339Nano. */
export function rfc3339Now(now: Date = new Date()): string {
  return now.toISOString().replace(/\.(\d*?)0*Z$/, (_m, digits: string) => (digits ? `.${digits}Z` : "Z"));
}

export interface ErrorEnvelope {
  error: string;
  code: ErrorCode;
  request_id: string;
  timestamp: string;
  docs_url: string;
}

export interface EnvelopeOptions {
  requestId: string;
  /** Replaces the catalogue's default message; must never carry a secret. */
  message?: string;
  now?: Date;
}

export function errorEnvelope(code: ErrorCode, opts: EnvelopeOptions): ErrorEnvelope {
  const spec = ERROR_CATALOGUE[code];
  return {
    error: opts.message ?? spec.message,
    code,
    request_id: opts.requestId,
    timestamp: rfc3339Now(opts.now),
    docs_url: docsUrlFor(code, spec.status),
  };
}

export function statusOf(code: ErrorCode): number {
  return ERROR_CATALOGUE[code].status;
}

/** An error that knows its answer: throw it from a pipeline stage, catch it at the edge and sendError it. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra response headers (e.g. retry-after). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    code: ErrorCode,
    message?: string,
    options?: { cause?: unknown; headers?: Record<string, string> },
  ) {
    super(message ?? ERROR_CATALOGUE[code].message, { cause: options?.cause });
    this.name = "GatewayError";
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
    this.headers = options?.headers ?? {};
  }
}

export interface SendErrorOptions extends EnvelopeOptions {
  headers?: Record<string, string | readonly string[]>;
}

/**
 * Writes the JSON envelope with the code's status, `content-type: application/json`, `x-request-id` and
 * `cache-control: no-store`. When headers were already sent (a streamed response failed midway) the body can no
 * longer change, so the response is destroyed: the client sees a broken response, never a truncated "success".
 * Returns whether the envelope was written.
 */
export function sendError(res: ServerResponse, code: ErrorCode, opts: SendErrorOptions): boolean {
  if (res.headersSent) {
    res.destroy();
    return false;
  }
  const body = JSON.stringify(errorEnvelope(code, opts));
  for (const [name, value] of Object.entries(opts.headers ?? {})) res.setHeader(name, value);
  res.statusCode = statusOf(code);
  res.setHeader("content-type", "application/json; charset=utf-8");
  res.setHeader("content-length", Buffer.byteLength(body));
  res.setHeader("cache-control", "no-store");
  res.setHeader("x-request-id", opts.requestId);
  res.end(body);
  return true;
}

/** sendError for a caught value: a GatewayError answers with its own code, anything else is INTERNAL_ERROR. */
export function sendCaughtError(res: ServerResponse, err: unknown, opts: { requestId: string }): boolean {
  if (err instanceof GatewayError) {
    return sendError(res, err.code, {
      requestId: opts.requestId,
      message: err.message,
      headers: err.headers,
    });
  }
  return sendError(res, "INTERNAL_ERROR", { requestId: opts.requestId });
}
