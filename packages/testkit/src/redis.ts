import { randomBytes } from "node:crypto";
import { createRedisKeys } from "@sigilum-gw/shared/redis-keys";
import { Redis } from "ioredis";

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/** A key prefix of its own for one test or suite: every test shares the one Redis and touches only its keys. */
export function randomPrefix(): string {
  return `test:${randomBytes(6).toString("hex")}:`;
}

/**
 * Deletes only the keys under `prefix` (never FLUSHDB), through the given client or a connection of its own to a
 * URL (default REDIS_URL). An own connection that cannot reach Redis (an outage test stopped it) cleans nothing.
 */
export async function deletePrefix(prefix: string, target: Redis | string = REDIS_URL): Promise<void> {
  if (typeof target !== "string") return deleteMatching(target, prefix);
  const client = new Redis(target, { lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on("error", () => undefined);
  try {
    await client.connect();
  } catch {
    client.disconnect();
    return;
  }
  try {
    await deleteMatching(client, prefix);
  } finally {
    client.disconnect();
  }
}

async function deleteMatching(client: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
    cursor = next;
    if (keys.length > 0) await client.del(...keys);
  } while (cursor !== "0");
}

/**
 * Marks the replay window under `prefix` as begun at `beganUnix` on the Redis that answers now (the marker the
 * verifier keeps, shared/replay-epoch.ts), for tests whose signatures were created long ago under a frozen clock.
 */
export async function seedReplayEpoch(prefix: string, beganUnix: number, url = REDIS_URL): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    const runId = /run_id:([0-9a-f]+)/.exec(await client.info("server"))?.[1];
    if (!runId) throw new Error("Redis INFO has no run_id");
    await client.set(createRedisKeys(prefix).replayEpoch(), `${runId} ${beganUnix} 0`);
  } finally {
    client.disconnect();
  }
}

/** Every key under the prefix, with its raw content (strings, hashes, sets, lists), for secret scans. */
export async function dumpPrefix(prefix: string, url: string = REDIS_URL): Promise<string> {
  const redis = new Redis(url);
  try {
    let out = "";
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
      cursor = next;
      for (const key of keys) {
        const type = await redis.type(key);
        let value: unknown;
        if (type === "string") value = await redis.get(key);
        else if (type === "hash") value = await redis.hgetall(key);
        else if (type === "set") value = await redis.smembers(key);
        else if (type === "list") value = await redis.lrange(key, 0, -1);
        else if (type === "zset") value = await redis.zrange(key, "0", "-1", "WITHSCORES");
        else if (type === "stream") value = await redis.xrange(key, "-", "+");
        out += `${key} ${JSON.stringify(value)}\n`;
      }
    } while (cursor !== "0");
    return out;
  } finally {
    redis.disconnect();
  }
}
