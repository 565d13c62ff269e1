import { type AdminAccessPolicy, decideAdminAccess } from "@sigilum-gw/shared/admin-access";
import { peerIp } from "@sigilum-gw/shared/client-ip";
import { sendError } from "@sigilum-gw/shared/errors";
import { type OpsRoutes, opsRoutes, type Readiness } from "@sigilum-gw/shared/service-shell";
import type { Registry } from "prom-client";

/** Health, readiness and metrics of the verifier; `/metrics` follows the admin access policy (spec §7.1). */
export function verifierOpsRoutes(options: {
  registry: Registry;
  /** The sum over all workers in cluster mode. */
  metricsText?: () => Promise<string>;
  admin: AdminAccessPolicy;
  ready: () => Promise<Readiness>;
}): OpsRoutes {
  return opsRoutes({
    service: "verifier",
    registry: options.registry,
    ready: options.ready,
    ...(options.metricsText ? { metricsText: options.metricsText } : {}),
    allowMetrics(req, res, requestId) {
      // /metrics is scraped directly, never through a proxy: the socket peer is the caller.
      const access = decideAdminAccess(options.admin, req.headers, peerIp(req));
      if (!access.allowed) sendError(res, access.code, { requestId });
      return access.allowed;
    },
  });
}
