import type { IncomingMessage, ServerResponse } from "node:http";
import { type AdminAccessPolicy, decideAdminAccess } from "@sigilum-gw/shared/admin-access";
import { peerIp } from "@sigilum-gw/shared/client-ip";
import { type ErrorCode, sendError } from "@sigilum-gw/shared/errors";
import { requestIdFrom } from "@sigilum-gw/shared/request-id";
import express, { type Express, type NextFunction, type Request, type Response } from "express";
import type { Registry } from "prom-client";

/**
 * Everything that is not the hot path: health, readiness and metrics, on express. `/metrics` follows the admin
 * access policy of spec/gateway.md §7.1 (loopback, token or hybrid).
 */

export interface Readiness {
  /** Each entry: a dependency name and whether it is usable now. */
  check(): Promise<{ ready: boolean; checks: Record<string, boolean> }>;
}

export interface AppOptions {
  registry: Registry;
  /** Metrics text to serve (the sum over all workers in cluster mode); default: the registry's own. */
  metricsText?: () => Promise<string>;
  readiness: Readiness;
  admin: AdminAccessPolicy;
}

const requestId = (req: IncomingMessage) => requestIdFrom(req.headers);

function fail(res: ServerResponse, req: IncomingMessage, code: ErrorCode): void {
  sendError(res, code, { requestId: requestId(req) });
}

export function createApp(options: AppOptions): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);

  const getOnly = (req: Request, res: Response, next: NextFunction) => {
    if (req.method === "OPTIONS") return void res.status(204).end();
    if (req.method !== "GET" && req.method !== "HEAD") return fail(res, req, "METHOD_NOT_ALLOWED");
    next();
  };

  app.all("/health", getOnly, (_req, res) => void res.json({ check: "health", status: "ok" }));
  app.all("/health/live", getOnly, (_req, res) => void res.json({ check: "liveness", status: "ok" }));
  app.all("/health/ready", getOnly, async (req, res) => {
    const result = await options.readiness.check();
    if (result.ready) return void res.json({ check: "readiness", status: "ok", checks: result.checks });
    const failing = Object.entries(result.checks)
      .filter(([, ok]) => !ok)
      .map(([name]) => name);
    sendError(res, "NOT_READY", {
      requestId: requestId(req),
      message: `gateway dependencies are not ready: ${failing.join(", ")}`,
    });
  });
  app.all("/metrics", getOnly, async (req, res) => {
    // /metrics is scraped directly, never through a proxy: the socket peer is the caller.
    const access = decideAdminAccess(options.admin, req.headers, peerIp(req));
    if (!access.allowed) return fail(res, req, access.code);
    let body: string;
    try {
      body = await (options.metricsText ?? (() => options.registry.metrics()))();
    } catch {
      return fail(res, req, "SERVICE_UNAVAILABLE");
    }
    res.setHeader("content-type", options.registry.contentType);
    res.setHeader("cache-control", "no-store");
    res.end(body);
  });
  app.use((req: Request, res: Response) => fail(res, req, "NOT_FOUND"));
  app.use((_error: unknown, req: Request, res: Response, _next: NextFunction) =>
    fail(res, req, "INTERNAL_ERROR"),
  );
  return app;
}
