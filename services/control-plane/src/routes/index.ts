import { Router } from "express";
import type { AppDeps } from "../deps.ts";
import { authRouter } from "./auth.ts";
import { claimsRouter } from "./claims.ts";
import { dashboardAuthRouter } from "./dashboard-auth.ts";
import { dashboardEventsRouter } from "./dashboard-events.ts";
import { didRouter } from "./did.ts";
import { namespacesRouter } from "./namespaces.ts";
import { pairingRouter } from "./pairing.ts";
import { servicesRouter } from "./services.ts";
import { usageRouter } from "./usage.ts";
import { webhooksRouter } from "./webhooks.ts";

/** Every API route, one router per surface. */
export function apiRouter(deps: AppDeps): Router {
  const r = Router();
  r.use(authRouter(deps));
  r.use(dashboardAuthRouter(deps));
  r.use(dashboardEventsRouter(deps));
  r.use(servicesRouter(deps));
  r.use(webhooksRouter(deps));
  r.use(claimsRouter(deps));
  r.use(namespacesRouter(deps));
  r.use(usageRouter(deps));
  r.use(didRouter(deps));
  r.use(pairingRouter(deps));
  return r;
}
