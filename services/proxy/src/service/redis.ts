import type { Logger } from "@sigilum-gw/shared/logger";
import { settleWithin } from "@sigilum-gw/shared/service-shell";
import { Redis, type RedisOptions } from "ioredis";

/** The proxy's Redis connections: requests, event subscription, and the usage queue. */
export interface ProxyRedis {
  redis: Redis;
  subscriber: Redis;
  queue: Redis;
  /** Resolves once the request connection is ready, or after `ms` (then readiness reports it). */
  ready(ms: number): Promise<void>;
  /** Bounded: Redis may be gone at shutdown. The subscriber is closed by its event subscriber. */
  close(): Promise<void>;
}

function redisOptions(extra: RedisOptions = {}): RedisOptions {
  return {
    lazyConnect: false,
    enableAutoPipelining: true,
    maxRetriesPerRequest: 2,
    connectTimeout: 5000,
    ...extra,
  };
}

export function openProxyRedis(url: string, logger: Logger): ProxyRedis {
  // Request path: no offline queue and a short command timeout, so a dead Redis is a fast 503, never a hang.
  const redis = new Redis(url, redisOptions({ commandTimeout: 2000, enableOfflineQueue: false }));
  const subscriber = new Redis(url, redisOptions({ maxRetriesPerRequest: null }));
  const queue = new Redis(url, redisOptions({ maxRetriesPerRequest: null }));
  for (const [name, conn] of [
    ["redis", redis],
    ["subscriber", subscriber],
    ["queue", queue],
  ] as const) {
    conn.on("error", (err: Error) => logger.warn({ err, connection: name }, "redis connection error"));
  }
  return {
    redis,
    subscriber,
    queue,
    ready(ms) {
      if (redis.status === "ready") return Promise.resolve();
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          redis.off("ready", done);
          resolve();
        };
        const timer = setTimeout(done, ms);
        redis.once("ready", done);
      });
    },
    async close() {
      for (const conn of [redis, queue]) {
        await settleWithin(conn.quit(), 1000);
        conn.disconnect();
      }
    },
  };
}
