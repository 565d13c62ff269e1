import type { ErrorCode } from "@sigilum-gw/shared/errors";
import type { RequestHandler } from "express";
import { ownerTokenFrom, sessionCookieFrom } from "../auth/owner-auth.ts";
import { ApiError } from "../http/errors.ts";
import { type OriginConfig, ownOrigin } from "./origin.ts";

/** Header every state-changing dashboard call carries; CORS never allows it, so no other page can send it. */
export const DASHBOARD_HEADER = "x-sigilum-dashboard";

/** POST routes that set or clear the session cookie: only the dashboard itself may call them (login CSRF). */
const SESSION_ROUTES = new Set([
  "/v1/auth/login",
  "/v1/auth/signup",
  "/v1/auth/logout",
  "/v1/auth/login-links/redeem",
]);

const SAFE_METHODS = new Set(["GET", "HEAD"]);

function refuse(code: ErrorCode, message?: string): never {
  throw new ApiError(code, message);
}

/**
 * The owner's session cookie, on top of the control plane's browser guard (Host allowlist, cross-site refusal,
 * JSON bodies: http/middleware.ts), works only from the dashboard's own origin:
 * 1. an `Origin` other than the dashboard's own is refused, even one in ALLOWED_ORIGINS and even a same-site page
 *    on another loopback port, which `SameSite=Strict` alone lets through;
 * 2. `Sec-Fetch-Site` other than same-origin (or none: typed URL) is refused;
 * 3. a state-changing call must carry `X-Sigilum-Dashboard: 1`, which no form can send and no other origin can
 *    send without a preflight the CORS rules refuse.
 * Scripts with `Authorization: Bearer` are not browser sessions and pass untouched.
 */
export function dashboardSessionGuard(config: OriginConfig): RequestHandler {
  return (req, _res, next) => {
    const sessionRoute = req.method === "POST" && SESSION_ROUTES.has(req.path);
    const cookieSession =
      sessionCookieFrom(req) !== undefined && ownerTokenFrom(req) === sessionCookieFrom(req);
    if (!sessionRoute && !cookieSession) return next();
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== ownOrigin(req, config)) {
      refuse("ADMIN_ORIGIN_NOT_ALLOWED", "the dashboard session works only from the dashboard's own origin");
    }
    const site = req.headers["sec-fetch-site"];
    if (site !== undefined && site !== "same-origin" && site !== "none") refuse("ADMIN_CROSS_SITE_REFUSED");
    if (!SAFE_METHODS.has(req.method) && req.headers[DASHBOARD_HEADER] !== "1")
      refuse("DASHBOARD_HEADER_REQUIRED");
    next();
  };
}
