import type { Clock } from "@sigilum-gw/shared/clock";
import type { SigilumIdentity } from "@sigilum-gw/shared/identity";
import type { Logger } from "@sigilum-gw/shared/logger";
import { parseEvent, type RedisKeys } from "@sigilum-gw/shared/redis-keys";
import { ClaimsCache } from "../claims/cache.ts";
import { createFeedClient } from "../claims/feed-client.ts";
import { ClaimsRefresher } from "../claims/refresher.ts";
import type { VerifierConfig } from "../config.ts";
import type { VerifierMetrics } from "../metrics.ts";
import { ClaimCopyStore } from "../store/claim-copies.ts";
import type { VerifierRedis } from "../store/clients.ts";

/**
 * The approved-claims snapshot of this process: the cache over the control plane's feed and the copies other
 * replicas shared, refreshed on a timer and invalidated by the claims events on Redis.
 */
export interface VerifierClaims {
  cache: ClaimsCache;
  /** Subscribes to the claims events and starts refreshing the preloaded and the shared services. */
  start(): Promise<void>;
  stop(): void;
}

/** What the claims side of a verifier (the snapshot and the submission worker) is built from. */
export interface ClaimsDeps {
  config: VerifierConfig;
  clients: VerifierRedis;
  keys: RedisKeys;
  identity: SigilumIdentity;
  apiKeyFor: (service: string) => string;
  metrics: VerifierMetrics;
  logger: Logger;
}

export function createVerifierClaims(deps: ClaimsDeps & { clock?: Clock }): VerifierClaims {
  const { config, keys, logger } = deps;
  const copies = new ClaimCopyStore(deps.clients.redis, keys);
  const cache = new ClaimsCache({
    copies,
    feed: createFeedClient({
      registryUrl: config.registryUrl,
      identity: deps.identity,
      apiKeyFor: deps.apiKeyFor,
      maxApproved: config.claims.maxApproved,
      timeoutMs: config.claims.feedTimeoutMs,
    }),
    ttlMs: config.claims.ttlSeconds * 1000,
    refreshMs: config.claims.refreshSeconds * 1000,
    staleIfErrorMs: config.claims.staleIfErrorSeconds * 1000,
    feedTimeoutMs: config.claims.feedTimeoutMs,
    lookupWaitMs: config.claims.lookupWaitMs,
    ...(deps.clock ? { clock: deps.clock } : {}),
  });
  cache.events.on("refresh", (service, outcome, detail) => {
    deps.metrics.claimsRefresh.inc({ outcome });
    if (outcome === "error") {
      logger.warn({ connection: service, error: detail.error?.message }, "claims refresh failed");
    } else if (detail.truncated) {
      logger.warn({ connection: service, approvals: detail.approvals }, "claims cache truncated");
    }
  });
  const refresher = new ClaimsRefresher(cache, config.claims.refreshSeconds * 1000);

  const { subscriber } = deps.clients;
  subscriber.on("message", (channel: string, message: string) => {
    if (channel !== keys.events) return;
    const event = parseEvent(message);
    if (event?.type === "claims.shared") return cache.copyShared(event.service);
    if (event?.type !== "claims.changed") return;
    void cache.invalidate(event.service);
    logger.info({ connection: event.service }, "claims invalidated by event");
  });

  return {
    cache,
    async start() {
      await subscriber.subscribe(keys.events).catch((error: Error) => {
        logger.warn(
          { error: error.message },
          "could not subscribe to claims events; revocations apply at the next refresh",
        );
      });
      refresher.start([...new Set([...config.claims.preloadServices, ...(await copies.services())])]);
    },
    stop: () => refresher.stop(),
  };
}
