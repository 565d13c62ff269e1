import type { RedisKeys } from "@sigilum-gw/shared/redis-keys";
import { encodeEvent } from "@sigilum-gw/shared/redis-keys";
import type { Redis } from "ioredis";
import { z } from "zod";

/**
 * The Redis side of the claims cache: one copy of each service's approved claims shared by every replica
 * (`<prefix>claims:{service}`), the lock that lets one replica fetch while the others wait, and the
 * `claims.shared` event that tells the waiting replicas the copy is there, and an index of the services with a
 * copy (what a starting replica preloads). Never throws: Redis trouble reads as "no copy" / "no lock", and the
 * caller fetches for itself.
 */

/** Most services a starting replica preloads (the most recently fetched ones). */
const MAX_PRELOAD = 10_000;

export interface ClaimCopy {
  /** (namespace, public key) pairs. */
  approvals: [string, string][];
  fetchedAt: number;
  truncated: boolean;
}

const copySchema = z.object({
  v: z.literal(1),
  fetched_at: z.number().int().nonnegative(),
  truncated: z.boolean().optional(),
  approvals: z.array(z.tuple([z.string(), z.string()])),
});

// Deletes the lock only while it still holds our token: a lock that expired and was taken by another replica is
// left alone (GET then DEL could delete theirs between the two commands).
const RELEASE_LOCK = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end`;

/** true = we hold the lock, false = another replica does, undefined = Redis unusable (fetch without a lock). */
export type LockOutcome = boolean | undefined;

export class ClaimCopyStore {
  readonly #redis: Redis;
  readonly #keys: RedisKeys;

  constructor(redis: Redis, keys: RedisKeys) {
    this.#redis = redis;
    this.#keys = keys;
  }

  async read(service: string): Promise<ClaimCopy | undefined> {
    try {
      const text = await this.#redis.get(this.#keys.claims(service));
      const parsed = text ? copySchema.safeParse(JSON.parse(text)) : undefined;
      if (!parsed?.success) return undefined;
      return {
        approvals: parsed.data.approvals,
        fetchedAt: parsed.data.fetched_at,
        truncated: parsed.data.truncated ?? false,
      };
    } catch {
      return undefined;
    }
  }

  /** Writes the copy (kept `lifetimeMs`) and announces it to the replicas waiting for it. */
  async write(service: string, copy: ClaimCopy, lifetimeMs: number): Promise<void> {
    const body = JSON.stringify({
      v: 1,
      fetched_at: copy.fetchedAt,
      truncated: copy.truncated,
      approvals: copy.approvals,
    });
    try {
      await this.#redis.set(this.#keys.claims(service), body, "PX", lifetimeMs);
      const index = this.#keys.claimsIndex();
      await this.#redis.zadd(index, copy.fetchedAt, service);
      await this.#redis.zremrangebyscore(index, "-inf", `(${copy.fetchedAt - lifetimeMs}`);
      await this.#redis.publish(this.#keys.events, encodeEvent({ type: "claims.shared", service }));
    } catch {
      // Other replicas fetch for themselves; the local snapshot still answers.
    }
  }

  async remove(service: string): Promise<void> {
    try {
      await this.#redis.del(this.#keys.claims(service));
      await this.#redis.zrem(this.#keys.claimsIndex(), service);
    } catch {
      // The caller's invalidation mark alone keeps the old copy from being adopted.
    }
  }

  async tryLock(service: string, token: string, ttlMs: number): Promise<LockOutcome> {
    try {
      return (await this.#redis.set(this.#keys.claimsLock(service), token, "PX", ttlMs, "NX")) === "OK";
    } catch {
      return undefined;
    }
  }

  async unlock(service: string, token: string): Promise<void> {
    try {
      await this.#redis.eval(RELEASE_LOCK, 1, this.#keys.claimsLock(service), token);
    } catch {
      // The lock expires on its own.
    }
  }

  /** Services with a copy in Redis, most recently fetched first, so a restarted replica preloads what others serve. */
  async services(): Promise<string[]> {
    try {
      return await this.#redis.zrevrange(this.#keys.claimsIndex(), 0, MAX_PRELOAD - 1);
    } catch {
      return []; // Preloading is an optimisation; lookups load on demand.
    }
  }
}
