import type { Redis } from "ioredis";
import { RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";

/**
 * Tool-call rate limit per (connection, namespace) (spec §6.9): `GATEWAY_MCP_TOOL_CALL_RATE_LIMIT_PER_MINUTE`
 * calls per one-minute window, counted in Redis so every proxy replica shares the same budget; 0 turns it off.
 * Unsigned (bypassed) calls share one key per connection. Redis unreachable → fail closed (the caller answers 503).
 */

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export class ToolCallRateLimiter {
  readonly #limiter: RateLimiterRedis | undefined;

  constructor(redis: Redis, keyPrefix: string, perMinute: number) {
    if (perMinute > 0) {
      this.#limiter = new RateLimiterRedis({
        storeClient: redis,
        keyPrefix,
        points: perMinute,
        duration: 60,
        rejectIfRedisNotReady: true,
      });
    }
  }

  async consume(connectionId: string, namespace: string): Promise<RateDecision> {
    if (!this.#limiter) return { allowed: true };
    const key = `${connectionId.toLowerCase()}|${namespace === "" ? "_" : namespace.toLowerCase()}`;
    try {
      await this.#limiter.consume(key);
      return { allowed: true };
    } catch (err) {
      if (err instanceof RateLimiterRes) {
        return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(err.msBeforeNext / 1000)) };
      }
      throw err;
    }
  }
}
