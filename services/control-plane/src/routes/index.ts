import { Router } from "express";
import type { AppDeps } from "../deps.ts";
import { authRouter } from "./auth.ts";
import { claimsRouter } from "./claims.ts";
import { dashboardAuthRouter } from "./dashboard-auth.ts";
import { dashboardEventsRouter } from "./dashboard-events.ts";
import { didRouter } from "./did.ts";
import { healthRouter } from "./health.ts";
import { namespacesRouter } from "./namespaces.ts";
import { servicesRouter } from "./services.ts";
import { usageRouter } from "./usage.ts";

/**
 * Every API route, one router per surface. Gateway pairing (`/v1/gateway/pairing/*`, spec §B) mounts
 * here as its own router when it lands.
 */
export function apiRouter(deps: AppDeps): Router {
  const r = Router();
  r.use(healthRouter());
  r.use(authRouter(deps));
  r.use(dashboardAuthRouter(deps));
  r.use(dashboardEventsRouter(deps));
  r.use(servicesRouter(deps));
  r.use(claimsRouter(deps));
  r.use(namespacesRouter(deps));
  r.use(usageRouter(deps));
  r.use(didRouter(deps));
  return r;
}
