import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { RedisNonceStore } from "@sigilum-gw/shared/replay";
import { Redis } from "ioredis";
import { CorkedNonceStore } from "../src/store/corked-nonces.ts";
import { deletePrefix, REDIS_URL, randomPrefix } from "./helpers/harness.ts";

// Real Redis, the hot-path client options (no auto-pipelining, no offline queue).
const prefix = randomPrefix();
let redis: Redis;
let store: CorkedNonceStore;

before(async () => {
  redis = new Redis(REDIS_URL, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    enableAutoPipelining: false,
  });
  await new Promise<void>((resolve) => redis.once("ready", () => resolve()));
  store = new CorkedNonceStore(redis, new RedisNonceStore(redis, prefix));
});
after(async () => {
  redis.disconnect();
  await deletePrefix(prefix);
});

/** Counts the socket writes Node makes for the Redis connection (one per write or writev call). */
function countWrites(socket: Redis["stream"]): { count: () => number; restore: () => void } {
  const target = socket as unknown as Record<"_write" | "_writev", (...args: unknown[]) => unknown>;
  const original = { _write: target._write, _writev: target._writev };
  let writes = 0;
  for (const name of ["_write", "_writev"] as const) {
    target[name] = function (this: unknown, ...args: unknown[]) {
      writes++;
      return original[name].apply(this, args);
    };
  }
  return {
    count: () => writes,
    restore: () => Object.assign(target, original),
  };
}

test("the checks of one event-loop turn go out in one socket write, each with its own answer", async () => {
  const writes = countWrites(redis.stream);
  try {
    const nonces = Array.from({ length: 50 }, (_, i) => `n${i}`);
    const first = await Promise.all(nonces.map((n) => store.checkAndRecord("alice", n, 60)));
    assert.deepEqual(
      first,
      nonces.map(() => true),
    );
    assert.equal(writes.count(), 1, "50 SETs, one write");

    // Replays and fresh nonces mixed in one turn: the answers stay in order.
    const mixed = await Promise.all([
      store.checkAndRecord("alice", "n0", 60),
      store.checkAndRecord("alice", "fresh", 60),
      store.checkAndRecord("bob", "n0", 60),
      store.checkAndRecord("alice", "n49", 60),
    ]);
    assert.deepEqual(mixed, [false, true, true, false]);
    assert.equal(writes.count(), 2);
  } finally {
    writes.restore();
  }
});

test("checks in separate turns are not held back: each turn is sent when it ends", async () => {
  const writes = countWrites(redis.stream);
  const turnEnded = () => new Promise((resolve) => setImmediate(resolve));
  try {
    for (const [turn, expected] of [
      [1, true],
      [2, false],
    ] as const) {
      const answer = store.checkAndRecord("carol", "a", 60);
      await turnEnded();
      // Observed when the turn ends, before any answer: written and uncorked, no timer holding it back.
      assert.equal(writes.count(), turn, `turn ${turn} written when it ended`);
      assert.equal(redis.stream.writableCorked, 0);
      assert.equal(await answer, expected);
    }
  } finally {
    writes.restore();
  }
  const ttl = await redis.ttl(`${prefix}nonce:{carol}:a`);
  assert.ok(ttl > 0 && ttl <= 60);
});

test("a client that is not connected refuses at once and nothing stays corked", async () => {
  const down = new Redis("redis://127.0.0.1:1", {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    lazyConnect: true,
    retryStrategy: () => null,
  });
  down.on("error", () => undefined);
  const refusing = new CorkedNonceStore(down, new RedisNonceStore(down, prefix));
  await assert.rejects(refusing.checkAndRecord("dave", "x", 60));
  down.disconnect();
  // The live store still batches and answers after that.
  assert.equal(await store.checkAndRecord("dave", "x", 60), true);
});
