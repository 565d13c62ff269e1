import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { sdkVectors, vectorBody } from "@sigilum-gw/testkit/vectors";
import type { Redis } from "ioredis";
import { createSigilumVerifier } from "../src/http-signatures.ts";
import { RedisNonceStore } from "../src/replay.ts";
import { redisForTest } from "./support/redis.ts";

let ctx: Awaited<ReturnType<typeof redisForTest>>;
before(async () => {
  ctx = await redisForTest();
});
after(() => ctx.cleanup());

test("Redis nonce window: first use accepted, replay refused, scoped by namespace, expires", async () => {
  const store = new RedisNonceStore(ctx.redis, ctx.prefix);
  assert.equal(await store.checkAndRecord("alice", "n1", 1), true);
  assert.equal(await store.checkAndRecord("alice", "n1", 1), false);
  assert.equal(await store.checkAndRecord("bob", "n1", 1), true);
  assert.equal(await ctx.redis.exists(`${ctx.prefix}nonce:{alice}:n1`), 1);
  const ttl = await ctx.redis.ttl(`${ctx.prefix}nonce:{alice}:n1`);
  assert.ok(ttl > 0 && ttl <= 1);
  await sleep(1100);
  assert.equal(await store.checkAndRecord("alice", "n1", 1), true);
});

test("two stores on one Redis share the window (one per replica)", async () => {
  const { Redis } = await import("ioredis");
  const other: Redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  try {
    const a = new RedisNonceStore(ctx.redis, ctx.prefix);
    const b = new RedisNonceStore(other, ctx.prefix);
    const verifier = createSigilumVerifier({ now: () => sdkVectors.created_unix });
    for (const vector of sdkVectors.valid) {
      const r = verifier.verify({
        method: vector.method,
        targetUri: vector.url,
        headers: vector.headers,
        body: vectorBody(vector),
      });
      assert.ok(r.ok);
      assert.equal(await a.checkAndRecord(r.namespace, r.nonce, 60), true);
      assert.equal(await b.checkAndRecord(r.namespace, r.nonce, 60), false, vector.name);
    }
  } finally {
    other.disconnect();
  }
});
