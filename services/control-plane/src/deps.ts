import type { ServerResponse } from "node:http";
import type { Logger } from "@sigilum-gw/shared/logger";
import type { NonceStore } from "@sigilum-gw/shared/replay";
import type { SignedAuthDeps } from "./auth/signed-request.ts";
import type { ClaimLimits } from "./claims/limits.ts";
import type { Config } from "./config.ts";
import type { ClaimsWatch } from "./dashboard/claims-watch.ts";
import type { Db } from "./db/db.ts";
import type { ClaimEvents } from "./events/publisher.ts";
import type { PairingRelay } from "./pairing/relay.ts";
import type { WebhookEvents } from "./webhooks/events.ts";
import type { WebhookDeps } from "./webhooks/manage.ts";

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
  /** Gateway pairing relay; undefined without Redis (the pairing routes answer 503). */
  pairing: PairingRelay | undefined;
  /** Creating webhooks; undefined without Redis (their routes answer 503). */
  webhooks: WebhookDeps | undefined;
  /** Claim lifecycle events to webhooks (a no-op without Redis). */
  webhookEvents: WebhookEvents;
}
