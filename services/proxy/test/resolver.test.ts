import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import { buildNewConnection } from "../src/model/connection/create.ts";
import { DAY_MS } from "../src/model/time.ts";
import { ConnectionResolver, type Resolution } from "../src/pipeline/resolve.ts";
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

  /** The credential of a successful resolution (fails the test otherwise). */
  const credentialOf = (resolution: Resolution | undefined): string => {
    assert.ok(resolution?.ok, `not resolved: ${JSON.stringify(resolution)}`);
    return resolution.value.credential;
  };
  const codeOf = (resolution: Resolution | undefined) => {
    assert.ok(resolution !== undefined && !resolution.ok, "resolved");
    assert.equal(resolution.denial.stage, "resolve");
    return resolution.denial.code;
  };

  test("a loaded connection answers synchronously until an event for it arrives", async () => {
    const { cache, resolver } = setup();
    await create("memo-a", "first");
    assert.equal(resolver.cached("memo-a", "http"), undefined, "nothing memoized before the first load");
    assert.equal(credentialOf(await resolver.load("memo-a", "http")), "first");

    await rotateBehindTheBack("memo-a", "second");
    const hit = resolver.cached("memo-a", "http");
    assert.ok(!(hit instanceof Promise), "a memo hit needs no promise");
    assert.equal(credentialOf(hit), "first", "nothing told the cache yet");

    cache.handle({ type: "connection.changed", id: "memo-a" });
    assert.equal(resolver.cached("memo-a", "http"), undefined);
    assert.equal(credentialOf(await resolver.load("memo-a", "http")), "second");
  });

  test("a variable change reaches a connection that references it", async () => {
    const { cache, resolver } = setup();
    await variables.upsert("MEMO_TOKEN", "var-one", "tester", clock);
    await create("memo-var", "{{MEMO_TOKEN}}");
    assert.equal(credentialOf(await resolver.load("memo-var", "http")), "var-one");

    await variables.upsert("MEMO_TOKEN", "var-two", "tester", clock);
    cache.handle({ type: "variable.changed", id: "MEMO_TOKEN" });
    assert.equal(resolver.cached("memo-var", "http"), undefined);
    assert.equal(credentialOf(await resolver.load("memo-var", "http")), "var-two");
  });

  test("nothing is memoized while the events channel is down, and going down drops the memo", async () => {
    const { cache, resolver } = setup({ live: false });
    await create("memo-down", "down-one");
    assert.equal(resolver.cached("memo-down", "http"), undefined);
    await resolver.load("memo-down", "http");
    assert.equal(resolver.cached("memo-down", "http"), undefined);

    cache.setLive(true);
    await resolver.load("memo-down", "http");
    assert.equal(credentialOf(resolver.cached("memo-down", "http")), "down-one");
    cache.setLive(false);
    await rotateBehindTheBack("memo-down", "down-two");
    assert.equal(resolver.cached("memo-down", "http"), undefined);
    assert.equal(credentialOf(await resolver.load("memo-down", "http")), "down-two");
  });

  test("the memo lasts the cache TTL at most", async () => {
    const { resolver } = setup();
    await create("memo-ttl", "ttl-one");
    await resolver.load("memo-ttl", "http");
    await rotateBehindTheBack("memo-ttl", "ttl-two");
    clock += 31_000;
    assert.equal(resolver.cached("memo-ttl", "http"), undefined);
    assert.equal(credentialOf(await resolver.load("memo-ttl", "http")), "ttl-two");
  });

  test("rotation policy and route protocol are checked on every request, memo or not", async () => {
    const { resolver } = setup({ rotation: "block" });
    await create("memo-rot", "rot-one", { rotation_interval_days: 1 });
    assert.equal(credentialOf(await resolver.load("memo-rot", "http")), "rot-one");
    assert.equal(codeOf(resolver.cached("memo-rot", "mcp")), "INVALID_REQUEST");
    clock += 2 * DAY_MS;
    // Far past the TTL as well: reload, then the memo hit must still refuse.
    assert.equal(resolver.cached("memo-rot", "http"), undefined);
    assert.equal(codeOf(await resolver.load("memo-rot", "http")), "ROTATION_REQUIRED");
    assert.equal(codeOf(resolver.cached("memo-rot", "http")), "ROTATION_REQUIRED");
  });

  test("failures are answers, never memoized: a connection created after a miss is found at once", async () => {
    const { resolver } = setup();
    const missing = await resolver.load("memo-late", "http");
    assert.equal(codeOf(missing), "CONNECTION_NOT_FOUND");
    assert.ok(!missing.ok);
    assert.equal(missing.denial.status, 404);
    assert.equal(resolver.cached("memo-late", "http"), undefined);
    await create("memo-late", "late-one");
    assert.equal(credentialOf(await resolver.load("memo-late", "http")), "late-one");
  });

  test("a missing variable and a Redis outage are answers too (424, 503), not rejections", async () => {
    const { resolver } = setup();
    await create("memo-novar", "{{MEMO_ABSENT}}");
    assert.equal(codeOf(await resolver.load("memo-novar", "http")), "CREDENTIAL_VARIABLE_MISSING");
    const down = new Redis(REDIS_URL, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
    });
    const box = createSecretBox({ masterKey: "resolver-master-key" });
    const events = new RedisEventPublisher(down, keys.events);
    const offline = new ConnectionResolver(
      new ConnectionCache({
        connections: new ConnectionStore({ redis: down, keys, box, events }),
        variables: new VariableStore({ redis: down, keys, box, events }),
        ttlMs: 30_000,
        now,
      }),
      { rotationEnforcement: "off", rotationGraceDays: 0, now },
    );
    const outage = await offline.load("memo-a", "http");
    assert.ok(!outage.ok);
    assert.equal(outage.denial.status, 503);
    down.disconnect();
  });
});
