import type { IncomingMessage, ServerResponse } from "node:http";
import { decideAdminAccess } from "@sigilum-gw/shared/admin-access";
import { type BrowserGuardPolicy, checkBrowserGuard } from "@sigilum-gw/shared/browser-guard";
import { clientIp, type TrustedProxies } from "@sigilum-gw/shared/client-ip";
import { decisionLog, type Logger } from "@sigilum-gw/shared/logger";
import type { ProxyConfig } from "../config.ts";
import { applyCors } from "../http/cors.ts";
import { writeError } from "../pipeline/errors.ts";

/** Admits `/api/admin/*` and `/metrics` requests (browser guard, then the admin access policy); answers the rest. */
export type AdminGuard = (
  req: IncomingMessage,
  res: ServerResponse,
  requestId: string,
  path: string,
) => boolean;

export function createAdminGuard(deps: {
  config: ProxyConfig;
  browserGuard: BrowserGuardPolicy;
  trustedProxies: TrustedProxies;
  logger: Logger;
}): AdminGuard {
  const { config, logger } = deps;
  const allowedOrigins = deps.browserGuard.allowedOrigins;
  return (req, res, requestId, path) => {
    applyCors(req, res, allowedOrigins);
    if (req.method === "OPTIONS") {
      res.statusCode = 204;
      res.setHeader("x-request-id", requestId);
      res.end();
      return false;
    }
    const ip = clientIp(req, deps.trustedProxies);
    const refused = checkBrowserGuard(deps.browserGuard, req.headers);
    const decision = refused
      ? ({ allowed: false, code: refused } as const)
      : decideAdminAccess(config.admin, req.headers, ip);
    if (config.logDecisions) {
      decisionLog(logger, decision.allowed ? "admin_access_granted" : "admin_access_denied", {
        request_id: requestId,
        mode: config.admin.mode,
        path,
        method: req.method,
        remote_ip: ip,
        decision: decision.allowed ? "allow" : "deny",
        ...(decision.allowed ? { via: decision.via } : { reason_code: decision.code }),
      });
    }
    if (!decision.allowed) {
      writeError(res, decision.code, requestId);
      return false;
    }
    return true;
  };
}
