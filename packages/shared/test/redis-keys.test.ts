import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import {
  createRedisKeys,
  DEFAULT_REDIS_PREFIX,
  EVENTS_CHANNEL,
  encodeEvent,
  type GatewayEvent,
  parseEvent,
  QUEUES,
} from "../src/redis-keys.ts";
import { REDIS_URL, redisForTest } from "./support/redis.ts";

/** Redis Cluster slot: CRC16/XMODEM of the hash tag (first non-empty {...}) or of the whole key, mod 16384. */
function keySlot(key: string): number {
  const open = key.indexOf("{");
  let hashed = key;
  if (open !== -1) {
    const close = key.indexOf("}", open + 1);
    if (close > open + 1) hashed = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of Buffer.from(hashed)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

describe("key builders", () => {
  test("layout of DESIGN.md §4 under the default prefix", () => {
    const k = createRedisKeys();
    assert.equal(k.prefix, DEFAULT_REDIS_PREFIX);
    assert.equal(k.nonce("alice", "n-1"), "sigilum:nonce:{alice}:n-1");
    assert.equal(k.claims("linear"), "sigilum:claims:{linear}");
    assert.equal(k.connection("linear"), "sigilum:conn:linear");
    assert.equal(k.variable("OPENAI_API_KEY"), "sigilum:var:OPENAI_API_KEY");
    assert.equal(k.mcpDiscovery("linear"), "sigilum:mcp:disc:linear");
    assert.equal(k.mcpUpstream("linear"), "sigilum:mcp:up:linear");
    assert.equal(k.mcpUpstreamLock("linear"), "sigilum:mcp:up-lock:linear");
    assert.equal(k.rateLimit("tool-calls"), "sigilum:rl:tool-calls");
    assert.equal(k.circuitBreaker("linear"), "sigilum:cb:linear");
    assert.equal(k.events, "sigilum:events");
    assert.equal(EVENTS_CHANNEL, "sigilum:events");
    assert.deepEqual(Object.values(QUEUES).sort(), ["claim-submissions", "usage-events", "webhooks"]);
  });

  test("a custom prefix applies to every key and the channel", () => {
    const k = createRedisKeys("test:abc:");
    for (const key of [
      k.nonce("a", "b"),
      k.claims("s"),
      k.claimsMeta("s"),
      k.connection("c"),
      k.variable("V"),
      k.mcpDiscovery("c"),
      k.mcpUpstream("c"),
      k.mcpUpstreamLock("c"),
      k.rateLimit("r"),
      k.circuitBreaker("c"),
      k.bullmqPrefix(),
      k.events,
    ]) {
      assert.ok(key.startsWith("test:abc:"), key);
    }
  });

  test("hash tags: keys that go together share a cluster slot", () => {
    const k = createRedisKeys();
    assert.equal(keySlot(k.nonce("alice", "n1")), keySlot(k.nonce("alice", "other-nonce")));
    assert.equal(keySlot(k.claims("linear")), keySlot(k.claimsMeta("linear")));
    assert.equal(keySlot(k.claims("linear")), keySlot(k.claimsLock("linear")));
    // Sanity of the slot function: different tags spread.
    const slots = new Set(["a", "b", "c", "d", "e"].map((ns) => keySlot(k.nonce(ns, "n"))));
    assert.ok(slots.size > 1);
  });

  test("braces in an id cannot move the hash tag", () => {
    const k = createRedisKeys();
    const hostile = k.nonce("x}y{z", "n");
    assert.equal(hostile, "sigilum:nonce:{x%7Dy%7Bz}:n");
    assert.equal(keySlot(hostile), keySlot(k.nonce("x}y{z", "other")));
    assert.notEqual(k.nonce("a%7D", "n"), k.nonce("a}", "n"));
  });
});

describe("events", () => {
  test("encode/parse round trip for every event type", () => {
    const events: GatewayEvent[] = [
      { type: "connection.changed", id: "linear", at: "2026-01-01T00:00:00.000Z" },
      { type: "connection.deleted", id: "linear", at: "2026-01-01T00:00:00Z", source: "proxy-1" },
      { type: "variable.changed", id: "OPENAI_API_KEY", at: "2026-01-01T00:00:00+02:00" },
      { type: "claims.changed", service: "linear", at: "2026-01-01T00:00:00Z" },
    ];
    for (const event of events) assert.deepEqual(parseEvent(encodeEvent(event)), event);
    const stamped = parseEvent(encodeEvent({ type: "claims.changed", service: "s" }));
    assert.ok(stamped && Math.abs(Date.parse(stamped.at) - Date.now()) < 5000);
  });

  test("invalid messages parse to undefined and never throw", () => {
    for (const bad of [
      "",
      "{",
      "null",
      "[]",
      '{"type":"connection.changed","at":"2026-01-01T00:00:00Z"}',
      '{"type":"connection.exploded","id":"x","at":"2026-01-01T00:00:00Z"}',
      '{"type":"claims.changed","id":"x","at":"2026-01-01T00:00:00Z"}',
      '{"type":"connection.changed","id":"x","at":"yesterday"}',
      '{"type":"connection.changed","id":"","at":"2026-01-01T00:00:00Z"}',
    ]) {
      assert.equal(parseEvent(bad), undefined, bad);
    }
    assert.throws(() => encodeEvent({ type: "connection.changed", id: "" }));
  });
});

describe("events over real Redis pub/sub", () => {
  let ctx: Awaited<ReturnType<typeof redisForTest>>;
  let subscriber: Redis;
  before(async () => {
    ctx = await redisForTest();
    subscriber = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await subscriber.connect();
  });
  after(async () => {
    subscriber.disconnect();
    await ctx.cleanup();
  });

  test("a published event reaches a subscriber of the prefixed channel intact", async () => {
    const keys = createRedisKeys(ctx.prefix);
    await subscriber.subscribe(keys.events);
    const received = new Promise<GatewayEvent | undefined>((resolve) => {
      subscriber.once("message", (channel: string, message: string) => {
        assert.equal(channel, keys.events);
        resolve(parseEvent(message));
      });
    });
    const receivers = await ctx.redis.publish(
      keys.events,
      encodeEvent({ type: "connection.changed", id: "linear" }),
    );
    assert.equal(receivers, 1);
    const event = await received;
    assert.equal(event?.type, "connection.changed");
    assert.equal(event?.type === "connection.changed" ? event.id : undefined, "linear");
  });
});
