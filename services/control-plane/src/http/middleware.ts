import { type BrowserGuardPolicy, checkBrowserGuard } from "@sigilum-gw/shared/browser-guard";
import type { Logger } from "@sigilum-gw/shared/logger";
import { requestIdFrom } from "@sigilum-gw/shared/request-id";
import express, { type ErrorRequestHandler, type RequestHandler } from "express";
import { ApiError, errorBody } from "./errors.ts";

export function requestId(): RequestHandler {
  return (req, res, next) => {
    const id = requestIdFrom(req.headers);
    res.locals.requestId = id;
    res.setHeader("X-Request-ID", id);
    next();
  };
}

const CORS_METHODS = "GET,HEAD,PUT,POST,DELETE,PATCH";
const CORS_DEFAULT_HEADERS =
  "Authorization,Content-Type,X-Request-ID,Signature,Signature-Input,Content-Digest,Sigilum-Namespace," +
  "Sigilum-Subject,Sigilum-Agent-Key,Sigilum-Agent-Cert,Sigilum-Agent-Id,X-Sigilum-Claim-Binding";

/** Reflects the Origin only when it is in ALLOWED_ORIGINS, with credentials (reference §0). */
export function cors(allowedOrigins: readonly string[]): RequestHandler {
  const allowed = new Set(allowedOrigins);
  return (req, res, next) => {
    const origin = req.headers.origin;
    const ok = typeof origin === "string" && allowed.has(origin);
    res.vary("Origin");
    if (ok) {
      res.setHeader("Access-Control-Allow-Origin", origin);
      res.setHeader("Access-Control-Allow-Credentials", "true");
      res.setHeader("Access-Control-Expose-Headers", "X-Request-ID");
    }
    if (req.method === "OPTIONS") {
      if (ok) {
        res.setHeader("Access-Control-Allow-Methods", CORS_METHODS);
        res.setHeader("Access-Control-Allow-Headers", CORS_DEFAULT_HEADERS);
        res.setHeader("Access-Control-Max-Age", "600");
      }
      res.status(204).end();
      return;
    }
    next();
  };
}

/**
 * Host allowlist, cross-site and Origin refusal, JSON-only bodies (shared/browser-guard.ts): the owner's
 * session cookie must not let a foreign page or a DNS-rebinding page act. Health stays open to probes.
 */
export function browserGuard(policy: BrowserGuardPolicy): RequestHandler {
  return (req, _res, next) => {
    if ((req.method === "GET" || req.method === "HEAD") && req.path.startsWith("/health")) return next();
    // Only the session cookie rides along in a forged browser request: JSON-only bodies are demanded of those.
    const code = checkBrowserGuard(policy, req.headers, { jsonBodies: req.headers.cookie !== undefined });
    if (!code) return next();
    next(new ApiError(code));
  };
}

export function securityHeaders(): RequestHandler {
  return (_req, res, next) => {
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("Cache-Control", "no-store");
    next();
  };
}

/** Keeps the raw bytes of every body (signatures cover them); JSON is parsed by the routes. */
export function rawBodyReader(limitBytes: number): RequestHandler {
  return express.raw({ type: () => true, limit: limitBytes });
}

export function notFoundHandler(): RequestHandler {
  return (_req, res) => {
    res.status(404).json(errorBody(new ApiError("NOT_FOUND", "Not found"), res.locals.requestId as string));
  };
}

const NETWORK_DOWN_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENOTFOUND", "EPIPE"]);

/**
 * The store is down rather than the request bad: network errors and SQLSTATE classes 08 (connection),
 * 53 (insufficient resources), 57 (operator intervention, e.g. shutdown) and 3D (database gone).
 */
function isDbUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  if (
    typeof e?.code === "string" &&
    (NETWORK_DOWN_CODES.has(e.code) || /^(08|53|57|3D)[0-9A-Z]{3}$/.test(e.code))
  ) {
    return true;
  }
  return (
    typeof e?.message === "string" &&
    /Connection terminated|pool after calling end|PGlite is closed/i.test(e.message)
  );
}

/** SQLSTATE class 22 (data exception): invalid byte sequence, out-of-range value, bad datetime. */
function isDataException(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === "string" && /^22[0-9A-Z]{3}$/.test(code);
}

/** Maps every error to the envelope (`{error, code, request_id, timestamp, docs_url, details?}`); only a bug is a 500. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const requestId = res.locals.requestId as string | undefined;
    let apiError: ApiError;
    if (err instanceof ApiError) {
      apiError = err;
    } else if (err?.type === "entity.too.large") {
      apiError = new ApiError("PAYLOAD_TOO_LARGE", "Request body too large");
    } else if (typeof err?.status === "number" && err.status >= 400 && err.status < 500) {
      // body-parser and router errors (aborted request, bad encoding, undecodable path parameter).
      apiError = new ApiError("BAD_REQUEST", "Malformed request");
    } else if (isDataException(err)) {
      // Safety net: a value PostgreSQL refuses (e.g. NUL in a path parameter) is the caller's fault.
      apiError = new ApiError("VALIDATION_ERROR", "Invalid value in request");
    } else if (isDbUnavailable(err)) {
      log.error({ err, request_id: requestId }, "database unavailable");
      apiError = new ApiError("DB_UNAVAILABLE", "Authorization store unavailable");
    } else {
      log.error({ err, request_id: requestId, method: req.method, path: req.path }, "unhandled error");
      apiError = new ApiError("INTERNAL_ERROR", "Internal server error");
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(apiError.status).json(errorBody(apiError, requestId ?? requestIdFrom(req.headers)));
  };
}
