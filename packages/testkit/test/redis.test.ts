import assert from "node:assert/strict";
import { test } from "node:test";
import { Redis } from "ioredis";
import { deletePrefix, REDIS_URL, randomPrefix } from "../src/redis.ts";

test("deletePrefix deletes the keys under its prefix and no others", async () => {
  const redis = new Redis(REDIS_URL);
  const mine = randomPrefix();
  const other = randomPrefix();
  try {
    await redis.set(`${mine}a`, "1");
    await redis.set(`${mine}b:c`, "2");
    await redis.set(`${other}a`, "3");
    await deletePrefix(mine);
    assert.deepEqual(await redis.keys(`${mine}*`), []);
    assert.equal(await redis.get(`${other}a`), "3");
  } finally {
    await deletePrefix(other, redis);
    redis.disconnect();
  }
});
