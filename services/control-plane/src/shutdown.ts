import type { Server } from "node:http";
import type { DrainOutcome, lifecycleMetrics } from "@sigilum-gw/shared/metrics";
import type { ReplayEpoch } from "@sigilum-gw/shared/replay-epoch";
import { drainServer } from "@sigilum-gw/shared/service-shell";
import type { Redis } from "ioredis";
import type { Db } from "./db/db.ts";
import type { AppDeps } from "./deps.ts";
import type { PairingRelay } from "./pairing/relay.ts";
import type { PairingSocketServer } from "./pairing/socket.ts";
import type { Sweeper } from "./sweeper.ts";
import type { WebhookDelivery } from "./webhooks/delivery.ts";

/** Ends the long-lived streams, drains in-flight requests (bounded, recorded), then closes Redis and the database. */
export async function shutdownControlPlane(parts: {
  server: Server;
  inFlight: () => number;
  lifecycle: ReturnType<typeof lifecycleMetrics>;
  deps: AppDeps;
  pairing: PairingRelay | undefined;
  pairingSockets: PairingSocketServer | undefined;
  delivery: WebhookDelivery | undefined;
  sweeper: Sweeper;
  epoch: ReplayEpoch | undefined;
  redis: Redis | undefined;
  db: Db;
  timeoutMs: number;
}): Promise<DrainOutcome> {
  parts.deps.claimsWatch.close();
  for (const stream of parts.deps.eventStreams) stream.end();
  // Paired gateways reconnect (to another replica when there is one) instead of holding the drain open.
  parts.pairing?.closeAll();
  parts.pairingSockets?.close();
  const outcome = await drainServer(parts.server, parts.inFlight, parts.timeoutMs, parts.lifecycle);
  await parts.sweeper.stop();
  parts.pairing?.stop();
  parts.epoch?.close();
  await parts.delivery?.close();
  if (parts.redis) await parts.redis.quit().catch(() => parts.redis?.disconnect());
  await parts.db.close();
  return outcome;
}
