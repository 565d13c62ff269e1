import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createRedisKeys } from "@sigilum-gw/shared/redis-keys";
import { Redis } from "ioredis";
import { publishSettlement, SettlementListener } from "../src/store/claim-settlements.ts";
import { REDIS_URL, randomPrefix } from "./helpers/harness.ts";

/** The channel a claim submission's settlement travels on, between two connections of a real Redis. */
describe("claim submission settlements", () => {
  const keys = createRedisKeys(randomPrefix());
  const subscriber = new Redis(REDIS_URL);
  const publisher = new Redis(REDIS_URL);
  let listener: SettlementListener;

  before(async () => {
    listener = new SettlementListener(subscriber, keys);
    // The constructor's SUBSCRIBE is in flight; a PING in subscribe mode answers after it.
    await subscriber.ping();
  });
  after(() => {
    subscriber.disconnect();
    publisher.disconnect();
  });

  test("a refusal published by another connection wakes the waiting request with its status and code", async () => {
    const expected = listener.expect("sub-a");
    const started = Date.now();
    setTimeout(
      () =>
        void publishSettlement(publisher, keys, "sub-a", { outcome: "failed", httpStatus: 403, code: "X" }),
      50,
    );
    assert.deepEqual(await expected.wait(5000), { outcome: "failed", httpStatus: 403, code: "X" });
    assert.ok(Date.now() - started < 4000, "woken by the message, not the timeout");
  });

  test("a settlement between expect() and wait() is not lost", async () => {
    const expected = listener.expect("sub-b");
    await publishSettlement(publisher, keys, "sub-b", { outcome: "recorded" });
    await publisher.ping();
    await subscriber.ping();
    assert.deepEqual(await expected.wait(0), { outcome: "recorded" });
  });

  test("other submissions, other prefixes and malformed messages do not wake it; the wait ends at its bound", async () => {
    const expected = listener.expect("sub-c");
    await publishSettlement(publisher, keys, "sub-other", { outcome: "recorded" });
    await publishSettlement(publisher, createRedisKeys(randomPrefix()), "sub-c", { outcome: "recorded" });
    await publisher.publish(keys.claimSubmitSettled(), "not json");
    await publisher.publish(
      keys.claimSubmitSettled(),
      JSON.stringify({ submission: "sub-c", outcome: "failed", code: "NO_STATUS" }),
    );
    const started = Date.now();
    assert.equal(await expected.wait(300), undefined);
    assert.ok(Date.now() - started >= 250);
  });

  test("without a subscribed connection the request does not wait", async () => {
    const down = new Redis(REDIS_URL, { lazyConnect: true });
    const expected = new SettlementListener(down, keys).expect("sub-d");
    const started = Date.now();
    assert.equal(await expected.wait(5000), undefined);
    assert.ok(Date.now() - started < 1000);
    down.disconnect();
  });
});
