import type { RedisKeys } from "@sigilum-gw/shared/redis-keys";
import { Redis, type RedisOptions } from "ioredis";

/** The verifier's Redis connections, each tuned for its job, and the small questions the wiring asks Redis. */

export interface VerifierRedis {
  /** Hot path: nonces, claims copies, rate limits. */
  readonly redis: Redis;
  /** Events channel (subscribe mode). */
  readonly subscriber: Redis;
  /** bullmq producer. */
  readonly queue: Redis;
  /** bullmq worker (blocking commands). */
  readonly worker: Redis;
  readonly all: readonly Redis[];
}

function redisOptions(extra: RedisOptions): RedisOptions {
  return {
    lazyConnect: false,
    connectTimeout: 2000,
    // Keep reconnecting forever, backing off to 1 s: Redis coming back must heal the service without a restart.
    retryStrategy: (times) => Math.min(50 * times, 1000),
    ...extra,
  };
}

export function openVerifierRedis(url: string, commandTimeoutMs: number): VerifierRedis {
  // Hot path: no offline queue and a short command timeout, so a dead Redis is a fast 503, never a hang. No
  // auto-pipelining: the per-request nonce SETs are batched by CorkedNonceStore instead (see there why).
  const redis = new Redis(
    url,
    redisOptions({
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: commandTimeoutMs,
      enableAutoPipelining: false,
    }),
  );
  const subscriber = new Redis(url, redisOptions({ maxRetriesPerRequest: null }));
  // bullmq: the producer fails fast like the hot path; the worker blocks on Redis and must retry forever.
  const queue = new Redis(url, redisOptions({ enableOfflineQueue: false, maxRetriesPerRequest: 1 }));
  const worker = new Redis(url, redisOptions({ maxRetriesPerRequest: null }));
  const all = [redis, subscriber, queue, worker];
  for (const client of all) client.on("error", () => undefined);
  return { redis, subscriber, queue, worker, all };
}

export function redisAnswers(redis: Redis): Promise<boolean> {
  return redis
    .ping()
    .then((pong) => pong === "PONG")
    .catch(() => false);
}

/** A connection the proxy stores; Redis trouble answers true (the claims stage fails closed on it). */
export function connectionStored(redis: Redis, keys: RedisKeys, service: string): Promise<boolean> {
  return redis.exists(keys.connection(service)).then(
    (n) => n > 0,
    () => true,
  );
}
