import type { Redis } from "ioredis";

/** Records a nonce for a namespace; resolves true on first use, false when it is a replay. */
export interface NonceStore {
  checkAndRecord(namespace: string, nonce: string, ttlSeconds: number): Promise<boolean>;
}

/**
 * Replay window shared by every replica: one `SET key 1 NX EX ttl` per request. The hash tag keeps a
 * namespace's nonces on one cluster slot.
 */
export class RedisNonceStore implements NonceStore {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(redis: Redis, prefix = "sigilum:") {
    this.#redis = redis;
    this.#prefix = prefix;
  }

  async checkAndRecord(namespace: string, nonce: string, ttlSeconds: number): Promise<boolean> {
    const result = await this.#redis.set(
      `${this.#prefix}nonce:{${namespace}}:${nonce}`,
      "1",
      "EX",
      ttlSeconds,
      "NX",
    );
    return result === "OK";
  }
}

/** Process-local window for SDK-side verification and single-process tools; never for replicated services. */
export class MemoryNonceStore implements NonceStore {
  readonly #seen = new Map<string, number>();
  readonly #now: () => number;

  constructor(now: () => number = () => Date.now() / 1000) {
    this.#now = now;
  }

  async checkAndRecord(namespace: string, nonce: string, ttlSeconds: number): Promise<boolean> {
    const key = `${namespace}\u0000${nonce}`;
    const now = this.#now();
    const expiresAt = this.#seen.get(key);
    if (expiresAt !== undefined && expiresAt > now) return false;
    this.#seen.set(key, now + ttlSeconds);
    if (this.#seen.size > 10_000) this.#sweep(now);
    return true;
  }

  #sweep(now: number): void {
    for (const [key, expiresAt] of this.#seen) if (expiresAt <= now) this.#seen.delete(key);
  }
}
