import type { ServerResponse } from "node:http";
import type { Logger } from "@sigilum-gw/shared/logger";
import type { NonceStore } from "@sigilum-gw/shared/replay";
import type { SignedAuthDeps } from "./auth/signed-request.ts";
import type { ClaimLimits } from "./claims/limits.ts";
import type { Config } from "./config.ts";
import type { ClaimsWatch } from "./dashboard/claims-watch.ts";
import type { Db } from "./db/db.ts";
import type { ClaimEvents } from "./events/publisher.ts";

/** Everything the routes need, built once by server.ts. */
export interface AppDeps {
  config: Config;
  db: Db;
  jwtSecret: string;
  nonces: NonceStore;
  signed: SignedAuthDeps;
  events: ClaimEvents;
  limits: ClaimLimits;
  log: Logger;
  /** Dashboard live updates: who watches which namespace, and the open event streams (ended at shutdown). */
  claimsWatch: ClaimsWatch;
  eventStreams: Set<ServerResponse>;
}
