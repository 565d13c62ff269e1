import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { GatewayError } from "@sigilum-gw/shared/errors";
import { Redis } from "ioredis";
import { buildNewConnection } from "../src/model/connection/create.ts";
import { DAY_MS } from "../src/model/time.ts";
import { ConnectionResolver, type ResolvedConnection } from "../src/pipeline/resolve.ts";
import { ConnectionCache } from "../src/store/cache.ts";
import { ConnectionStore } from "../src/store/connections.ts";
import { createSecretBox } from "../src/store/crypto.ts";
import { RedisEventPublisher } from "../src/store/events.ts";
import { createProxyKeys } from "../src/store/keys.ts";
import { VariableStore } from "../src/store/variables.ts";
import { deletePrefix, REDIS_URL, randomPrefix } from "./helpers.ts";

/**
 * The runtime resolver memoizes a loaded connection (record + normalized credential) while the cache it came from
 * is current. These tests drive the cache's events by hand and change Redis behind its back, so a stale memo
 * would show.
 */
describe("ConnectionResolver memo on real Redis", () => {
  const prefix = randomPrefix();
  const keys = createProxyKeys(prefix);
  let redis: Redis;
  let connections: ConnectionStore;
  let variables: VariableStore;
  let clock = 1_000_000;
  const now = () => clock;

  before(() => {
    redis = new Redis(REDIS_URL);
    const box = createSecretBox({ masterKey: "resolver-master-key" });
    const events = new RedisEventPublisher(redis, keys.events);
    connections = new ConnectionStore({ redis, keys, box, events });
    variables = new VariableStore({ redis, keys, box, events });
  });
  after(async () => {
    await deletePrefix(prefix);
    redis.disconnect();
  });

  function setup(opts: { live?: boolean; rotation?: "off" | "warn" | "block" } = {}) {
    const cache = new ConnectionCache({ connections, variables, ttlMs: 30_000, now });
    cache.setLive(opts.live ?? true);
    const resolver = new ConnectionResolver(cache, {
      rotationEnforcement: opts.rotation ?? "off",
      rotationGraceDays: 0,
      now,
    });
    return { cache, resolver };
  }

  async function create(id: string, secret: string, extra: { rotation_interval_days?: number } = {}) {
    const c = buildNewConnection(
      { id, base_url: "https://api.example.com", auth_secret_key: "k", secrets: { k: secret }, ...extra },
      clock,
    );
    await connections.create(c.record, c.secrets);
  }

  const rotateBehindTheBack = (id: string, secret: string) =>
    connections.rotate(id, ({ record }) => ({
      record: { ...record, secret_version: record.secret_version + 1 },
      secrets: { k: secret },
    }));

  test("a loaded connection answers synchronously until an event for it arrives", async () => {
    const { cache, resolver } = setup();
    await create("memo-a", "first");
    const first = resolver.resolve("memo-a", "http");
    assert.ok(first instanceof Promise);
    assert.equal((await first).credential, "first");

    await rotateBehindTheBack("memo-a", "second");
    const hit = resolver.resolve("memo-a", "http");
    assert.ok(!(hit instanceof Promise), "a memo hit needs no promise");
    assert.equal((hit as ResolvedConnection).credential, "first", "nothing told the cache yet");

    cache.handle({ type: "connection.changed", id: "memo-a" });
    const reloaded = resolver.resolve("memo-a", "http");
    assert.ok(reloaded instanceof Promise);
    assert.equal((await reloaded).credential, "second");
  });

  test("a variable change reaches a connection that references it", async () => {
    const { cache, resolver } = setup();
    await variables.upsert("MEMO_TOKEN", "var-one", "tester", clock);
    await create("memo-var", "{{MEMO_TOKEN}}");
    assert.equal((await resolver.resolve("memo-var", "http")).credential, "var-one");

    await variables.upsert("MEMO_TOKEN", "var-two", "tester", clock);
    cache.handle({ type: "variable.changed", id: "MEMO_TOKEN" });
    assert.equal((await resolver.resolve("memo-var", "http")).credential, "var-two");
  });

  test("nothing is memoized while the events channel is down, and going down drops the memo", async () => {
    const { cache, resolver } = setup({ live: false });
    await create("memo-down", "down-one");
    assert.ok(resolver.resolve("memo-down", "http") instanceof Promise);
    await resolver.resolve("memo-down", "http");
    assert.ok(resolver.resolve("memo-down", "http") instanceof Promise);

    cache.setLive(true);
    await resolver.resolve("memo-down", "http");
    assert.ok(!(resolver.resolve("memo-down", "http") instanceof Promise));
    cache.setLive(false);
    await rotateBehindTheBack("memo-down", "down-two");
    assert.equal((await resolver.resolve("memo-down", "http")).credential, "down-two");
  });

  test("the memo lasts the cache TTL at most", async () => {
    const { resolver } = setup();
    await create("memo-ttl", "ttl-one");
    await resolver.resolve("memo-ttl", "http");
    await rotateBehindTheBack("memo-ttl", "ttl-two");
    clock += 31_000;
    assert.equal((await resolver.resolve("memo-ttl", "http")).credential, "ttl-two");
  });

  test("rotation policy and route protocol are checked on every request, memo or not", async () => {
    const { resolver } = setup({ rotation: "block" });
    await create("memo-rot", "rot-one", { rotation_interval_days: 1 });
    assert.equal((await resolver.resolve("memo-rot", "http")).credential, "rot-one");
    assert.throws(
      () => resolver.resolve("memo-rot", "mcp"),
      (err: GatewayError) => err.code === "INVALID_REQUEST",
    );
    clock += 2 * DAY_MS;
    // Far past the TTL as well: reload, then the memo hit must still refuse.
    await assert.rejects(
      async () => resolver.resolve("memo-rot", "http"),
      (err: GatewayError) => err.code === "ROTATION_REQUIRED",
    );
    assert.throws(
      () => resolver.resolve("memo-rot", "http"),
      (err: GatewayError) => err.code === "ROTATION_REQUIRED",
    );
  });

  test("failures are not memoized: a connection created after a miss is found at once", async () => {
    const { resolver } = setup();
    await assert.rejects(
      async () => resolver.resolve("memo-late", "http"),
      (err: GatewayError) => err.code === "CONNECTION_NOT_FOUND",
    );
    await create("memo-late", "late-one");
    assert.equal((await resolver.resolve("memo-late", "http")).credential, "late-one");
  });
});
