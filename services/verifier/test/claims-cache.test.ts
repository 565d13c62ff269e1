import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createIdentity } from "@sigilum-gw/shared/identity";
import { createRedisKeys } from "@sigilum-gw/shared/redis-keys";
import { type ControlPlane, startControlPlane } from "@sigilum-gw/testkit/control-plane";
import { Redis } from "ioredis";
import { ClaimsCache } from "../src/claims/cache.ts";
import { createFeedClient } from "../src/claims/feed-client.ts";
import { ClaimCopyStore } from "../src/store/claim-copies.ts";
import { deletePrefix, REDIS_URL, randomPrefix, SERVICE_API_KEY } from "./helpers/harness.ts";

/** The claims cache on its own, against the loopback feed and real Redis. */
describe("ClaimsCache", () => {
  let feed: ControlPlane;
  let redis: Redis;
  const prefix = randomPrefix();

  before(async () => {
    feed = await startControlPlane({ apiKey: SERVICE_API_KEY });
    redis = new Redis(REDIS_URL);
  });
  after(async () => {
    redis.disconnect();
    await feed.close();
    await deletePrefix(prefix);
  });

  const cache = (extra: Partial<ConstructorParameters<typeof ClaimsCache>[0]> = {}) =>
    new ClaimsCache({
      copies: new ClaimCopyStore(redis, createRedisKeys(prefix)),
      feed: createFeedClient({
        registryUrl: feed.url,
        identity: createIdentity("gateway-cache-test"),
        apiKeyFor: () => SERVICE_API_KEY,
        maxApproved: 3,
        timeoutMs: 5000,
      }),
      ttlMs: 30_000,
      refreshMs: 10_000,
      staleIfErrorMs: 0,
      feedTimeoutMs: 5000,
      ...extra,
    });

  test("made-up connection ids cannot fan out into unbounded feed calls", async () => {
    feed.delayMs = 300;
    const c = cache({ maxConcurrentFetches: 4, lookupWaitMs: 1000 });
    const before = feed.feedRequests.length;
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => c.lookup(`made-up-${i}`, "ns", "ed25519:k")),
    );
    feed.delayMs = 0;
    assert.equal(feed.feedRequests.length - before, 4);
    assert.equal(answers.filter((a) => a === "not_approved").length, 4);
    assert.equal(answers.filter((a) => a === "unavailable").length, 46);
  });

  test("GATEWAY_CLAIMS_CACHE_MAX_APPROVED truncates the snapshot", async () => {
    for (let i = 0; i < 5; i++) feed.approve("capped", `ns-${i}`, `ed25519:k${i}`);
    const c = cache();
    assert.equal(await c.lookup("capped", "ns-2", "ed25519:k2"), "approved");
    assert.equal(await c.lookup("capped", "ns-3", "ed25519:k3"), "not_approved");
  });

  test("empty parts are never approved", async () => {
    const c = cache();
    assert.equal(await c.lookup("", "ns", "k"), "not_approved");
    assert.equal(await c.lookup("svc", "", "k"), "not_approved");
    assert.equal(await c.lookup("svc", "ns", ""), "not_approved");
  });

  test("the refresh lock is released only by its holder (atomic compare-and-delete)", async () => {
    const copies = new ClaimCopyStore(redis, createRedisKeys(prefix));
    const lock = createRedisKeys(prefix).claimsLock("locked");
    assert.equal(await copies.tryLock("locked", "replica-a", 5000), true);
    assert.equal(await copies.tryLock("locked", "replica-b", 5000), false, "held by a");
    await copies.unlock("locked", "replica-b");
    assert.equal(await redis.get(lock), "replica-a", "b cannot release a's lock");
    await copies.unlock("locked", "replica-a");
    assert.equal(await redis.get(lock), null);
    assert.equal(await copies.tryLock("locked", "replica-b", 5000), true, "free again");
  });

  test("services with a copy in Redis are found for preloading, newest first; a removed copy is not", async () => {
    const keys = createRedisKeys(`${prefix}index:`);
    const copies = new ClaimCopyStore(redis, keys);
    const at = Date.now();
    const copy = { approvals: [["ns", "ed25519:k"]] as [string, string][], fetchedAt: at, truncated: false };
    await copies.write("preload-a", copy, 60_000);
    await copies.write("preload/b", { approvals: [], fetchedAt: at + 1, truncated: false }, 60_000);
    await copies.write("preload-c", { approvals: [], fetchedAt: at + 2, truncated: false }, 60_000);
    await copies.remove("preload-c");
    await redis.set(keys.claimsLock("preload-d"), "x", "PX", 60_000);
    assert.deepEqual(await copies.services(), ["preload/b", "preload-a"]);
    assert.deepEqual(await copies.read("preload-a"), copy);
    assert.equal(await copies.read("preload-c"), undefined);
    // Entries older than a copy's lifetime leave the index with the next write.
    await copies.write("preload-e", { approvals: [], fetchedAt: at + 120_000, truncated: false }, 60_000);
    assert.deepEqual(await copies.services(), ["preload-e"]);
  });
});
