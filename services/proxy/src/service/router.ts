import type { IncomingMessage, ServerResponse } from "node:http";
import { checkRequestLimits } from "@sigilum-gw/shared/limits";
import type { Logger } from "@sigilum-gw/shared/logger";
import { type OpsRoutes, requestPath } from "@sigilum-gw/shared/service-shell";
import type { createAdminApp } from "../admin/router.ts";
import { handleMcpRequest, type McpDeps } from "../mcp/request.ts";
import { asLoggable, writeDenial, writeError } from "../pipeline/errors.ts";
import { handleProxyRequest, type RuntimeDeps } from "../pipeline/proxy-request.ts";
import { routeOf } from "../pipeline/route.ts";
import type { AdminGuard } from "./admin-guard.ts";

/** Which part of the proxy answers a request: ops routes, the admin API, runtime `/proxy/*` and MCP, else a banner. */

export interface ProxyRoutes {
  ops: OpsRoutes;
  adminGuard: AdminGuard;
  adminApp: ReturnType<typeof createAdminApp>;
  adminTimeoutMs: number;
  runtime: RuntimeDeps;
  mcp: McpDeps;
  logger: Logger;
}

export function createProxyRouter(routes: ProxyRoutes) {
  function serveAdmin(req: IncomingMessage, res: ServerResponse, requestId: string, path: string): void {
    if (!routes.adminGuard(req, res, requestId, path)) return;
    const controller = new AbortController();
    const timer = setTimeout(() => {
      controller.abort(new Error("admin request deadline exceeded"));
      if (!res.headersSent) {
        writeError(res, "SERVICE_UNAVAILABLE", requestId, { message: "admin request timed out" });
      }
    }, routes.adminTimeoutMs);
    res.once("close", () => clearTimeout(timer));
    routes.adminApp(req, res, {
      requestId,
      signal: controller.signal,
      onError: (err) =>
        routes.logger.error({ err: asLoggable(err), request_id: requestId }, "admin request failed"),
    });
  }

  return async function dispatch(
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
  ): Promise<void> {
    const url = req.url ?? "/";
    const method = req.method ?? "GET";
    const path = requestPath(url);

    if (routes.ops(req, res, path, requestId)) return;
    if (path === "/api/admin" || path.startsWith("/api/admin/")) return serveAdmin(req, res, requestId, path);

    if (method === "CONNECT" || method === "TRACE") {
      return void writeError(res, "METHOD_NOT_ALLOWED", requestId);
    }
    if (!url.startsWith("/")) {
      return void writeError(res, "INVALID_REQUEST", requestId, {
        message: "absolute-form request targets are not accepted",
      });
    }
    const overLimit = checkRequestLimits(url, req.rawHeaders);
    if (overLimit) return void writeError(res, overLimit.code, requestId, { message: overLimit.message });
    const route = routeOf(url);
    if (!route.ok) return void writeDenial(res, route.denial, requestId);
    if (route.value?.kind === "proxy")
      return handleProxyRequest(routes.runtime, req, res, route.value, requestId);
    if (route.value?.kind === "mcp") return handleMcpRequest(routes.mcp, req, res, route.value, requestId);
    if (method === "GET" || method === "HEAD") {
      const body = "sigilum-gateway";
      res.statusCode = 200;
      res.setHeader("content-type", "text/plain; charset=utf-8");
      res.setHeader("x-request-id", requestId);
      res.setHeader("content-length", Buffer.byteLength(body));
      return void res.end(body);
    }
    writeError(res, "METHOD_NOT_ALLOWED", requestId);
  };
}
