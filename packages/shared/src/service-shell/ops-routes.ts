import type { IncomingMessage, ServerResponse } from "node:http";
import type { Registry } from "prom-client";
import { sendError } from "../errors.ts";

/**
 * `/health`, `/health/live`, `/health/ready` and `/metrics`, answered the same way by every service: GET and HEAD
 * (OPTIONS is a 204 for browsers' preflights, anything else a 405 envelope), JSON health bodies
 * `{"check", "status": "ok", ...details}`, readiness failures as NOT_READY envelopes, Prometheus text.
 */

export interface Readiness {
  ready: boolean;
  /** Each dependency and whether it is usable now; named in the body, and in the message when failing. */
  checks?: Record<string, boolean>;
  /** Why not ready, when the checks do not say it. */
  message?: string;
}

export interface OpsRoutesOptions {
  /** Named in readiness failures. */
  service: string;
  registry: Registry;
  /** Default: always ready. */
  ready?: () => Readiness | Promise<Readiness>;
  /** Extra fields of the health and readiness bodies (the bridge's pairing state). */
  details?: () => Record<string, unknown>;
  /** The metrics text (the sum over all workers in cluster mode); default: the registry's own. */
  metricsText?: () => Promise<string>;
  /** Headers every answer carries (CORS). */
  decorate?: (req: IncomingMessage, res: ServerResponse) => void;
  /** Access control of `/metrics` (spec §7.1 admin policy); answers and returns false when refused. */
  allowMetrics?: (req: IncomingMessage, res: ServerResponse, requestId: string, path: string) => boolean;
}

/** Answers the request when it is one of the ops paths (returns true), else leaves it alone (false). */
export type OpsRoutes = (
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  requestId: string,
) => boolean;

const CHECKS: Readonly<Record<string, string>> = {
  "/health": "health",
  "/health/live": "liveness",
  "/health/ready": "readiness",
};

export function isOpsPath(path: string): boolean {
  return path === "/metrics" || path in CHECKS;
}

export function opsRoutes(opts: OpsRoutesOptions): OpsRoutes {
  const ready = opts.ready ?? (() => ({ ready: true }));
  const metricsText = opts.metricsText ?? (() => opts.registry.metrics());

  const json = (req: IncomingMessage, res: ServerResponse, requestId: string, body: object) => {
    const text = `${JSON.stringify(body)}\n`;
    res.statusCode = 200;
    res.setHeader("content-type", "application/json");
    res.setHeader("cache-control", "no-store");
    res.setHeader("x-request-id", requestId);
    res.setHeader("content-length", Buffer.byteLength(text));
    res.end(req.method === "HEAD" ? undefined : text);
  };

  const readiness = async (req: IncomingMessage, res: ServerResponse, requestId: string) => {
    const result = await Promise.resolve()
      .then(ready)
      .catch((): Readiness => ({ ready: false }));
    const checks = result.checks ? { checks: result.checks } : {};
    if (result.ready)
      return json(req, res, requestId, { check: "readiness", status: "ok", ...checks, ...opts.details?.() });
    const failing = Object.entries(result.checks ?? {})
      .filter(([, ok]) => !ok)
      .map(([name]) => name);
    const message =
      result.message ??
      (failing.length > 0
        ? `${opts.service} dependencies are not ready: ${failing.join(", ")}`
        : `${opts.service} is not ready`);
    sendError(res, "NOT_READY", { requestId, message });
  };

  const metrics = async (req: IncomingMessage, res: ServerResponse, requestId: string) => {
    let text: string;
    try {
      text = await metricsText();
    } catch {
      sendError(res, "SERVICE_UNAVAILABLE", { requestId, message: "metrics collection failed" });
      return;
    }
    res.statusCode = 200;
    res.setHeader("content-type", opts.registry.contentType);
    res.setHeader("cache-control", "no-store");
    res.setHeader("x-request-id", requestId);
    res.end(req.method === "HEAD" ? undefined : text);
  };

  return (req, res, path, requestId) => {
    if (!isOpsPath(path)) return false;
    opts.decorate?.(req, res);
    if (req.method === "OPTIONS") {
      res.statusCode = 204;
      res.setHeader("x-request-id", requestId);
      res.end();
      return true;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      sendError(res, "METHOD_NOT_ALLOWED", { requestId, headers: { allow: "GET, HEAD" } });
      return true;
    }
    if (path === "/metrics") {
      if (opts.allowMetrics && !opts.allowMetrics(req, res, requestId, path)) return true;
      void metrics(req, res, requestId);
    } else if (path === "/health/ready") {
      void readiness(req, res, requestId);
    } else {
      json(req, res, requestId, { check: CHECKS[path], status: "ok", ...opts.details?.() });
    }
    return true;
  };
}
