import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/** A key prefix of its own for one test or suite: every test shares the one Redis and touches only its keys. */
export function randomPrefix(): string {
  return `test:${randomBytes(6).toString("hex")}:`;
}

/** Deletes only the keys under `prefix` (never FLUSHDB), through `redis` or else a connection of its own. */
export async function deletePrefix(prefix: string, redis?: Redis): Promise<void> {
  const client = redis ?? new Redis(REDIS_URL);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== "0");
  } finally {
    if (!redis) client.disconnect();
  }
}
