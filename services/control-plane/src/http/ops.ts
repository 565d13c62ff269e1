import { decideAdminAccess } from "@sigilum-gw/shared/admin-access";
import { peerIp } from "@sigilum-gw/shared/client-ip";
import { sendError } from "@sigilum-gw/shared/errors";
import { opsRoutes, type Readiness } from "@sigilum-gw/shared/service-shell";
import type { RequestHandler } from "express";
import type { Registry } from "prom-client";

/**
 * `/health`, `/health/live`, `/health/ready` and `/metrics` as every service serves them (shared service shell).
 * The control plane faces browsers and has no admin token of its own: its metrics are for a scraper on the same
 * host (or a sidecar) only.
 */
export function opsMiddleware(registry: Registry, ready: () => Readiness): RequestHandler {
  const routes = opsRoutes({
    service: "control plane",
    registry,
    ready,
    allowMetrics(req, res, requestId) {
      const access = decideAdminAccess(
        { enforce: true, mode: "loopback", token: "" },
        req.headers,
        peerIp(req),
      );
      if (!access.allowed) sendError(res, access.code, { requestId });
      return access.allowed;
    },
  });
  return (req, res, next) => {
    if (!routes(req, res, req.path, res.locals.requestId as string)) next();
  };
}
