import { DEFAULT_FUTURE_SKEW_SECONDS } from "@sigilum-gw/shared/http-signatures";
import type { Logger } from "@sigilum-gw/shared/logger";
import { createRedisKeys } from "@sigilum-gw/shared/redis-keys";
import { type ReplayEpoch, trackReplayEpoch } from "@sigilum-gw/shared/replay-epoch";
import { Redis } from "ioredis";
import type { Config } from "../config.ts";
import { PairingRelay } from "../pairing/relay.ts";

/** The control plane's Redis (optional): nonces, the replay epoch, claim events, the pairing relay, webhooks. */

export async function connectRedis(url: string, log: Logger): Promise<Redis> {
  // No offline queue: while Redis is down, nonce checks fail at once (503) instead of hanging.
  const redis = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  redis.on("error", (err) => log.warn({ err }, "redis error"));
  try {
    await redis.connect();
  } catch (err) {
    log.error({ err }, "redis unreachable at start; signed requests answer 503 until it is back");
  }
  return redis;
}

/** The verifier's replay-epoch marker, tracked on the nonce connection (shared/replay-epoch.ts). */
export function trackEpoch(redis: Redis, config: Config, log: Logger): ReplayEpoch {
  return trackReplayEpoch(redis, createRedisKeys(config.redisPrefix).replayEpoch(), {
    marginSeconds: DEFAULT_FUTURE_SKEW_SECONDS,
    onChange: (notBefore) =>
      log.warn(
        { not_before: notBefore },
        "Redis restarted or lost data: signatures created before this moment are refused (replay window reset)",
      ),
  });
}

/** The pairing relay's two Redis connections (commands, subscriptions). */
export function startPairing(redis: Redis, config: Config, log: Logger): PairingRelay {
  const subscriber = redis.duplicate({ enableOfflineQueue: true, lazyConnect: false });
  subscriber.on("error", (err) => log.warn({ err }, "pairing subscriber redis error"));
  const relay = new PairingRelay(redis, subscriber, config.redisPrefix, config.pairingLeaseMs, log);
  // Not awaited: with Redis down the control plane still starts (ioredis subscribes once it connects).
  relay.start().catch((err: unknown) => log.warn({ err }, "pairing subscription failed"));
  return relay;
}
