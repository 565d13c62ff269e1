import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createIdentity } from "@sigilum-gw/shared/identity";
import { createRedisKeys } from "@sigilum-gw/shared/redis-keys";
import { type ControlPlane, startControlPlane } from "@sigilum-gw/testkit/control-plane";
import { Redis } from "ioredis";
import { ClaimsCache } from "../src/claims/cache.ts";
import { createFeedClient } from "../src/claims/feed-client.ts";
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
      redis,
      keys: createRedisKeys(prefix),
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
});
