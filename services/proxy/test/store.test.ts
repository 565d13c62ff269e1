import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { GatewayError } from "@sigilum-gw/shared/errors";
import { Redis } from "ioredis";
import { buildNewConnection } from "../src/model/connection/create.ts";
import { ConnectionCache } from "../src/store/cache.ts";
import { ConnectionStore } from "../src/store/connections.ts";
import { createSecretBox } from "../src/store/crypto.ts";
import { RedisEventPublisher, RedisEventSubscriber } from "../src/store/events.ts";
import { createProxyKeys } from "../src/store/keys.ts";
import { VariableStore } from "../src/store/variables.ts";
import { deletePrefix, dumpPrefix, eventually, REDIS_URL, randomPrefix } from "./helpers.ts";

const SECRET = "sk-live-STORE-SECRET-0001";

describe("connection and variable stores on real Redis", () => {
  const prefix = randomPrefix();
  const keys = createProxyKeys(prefix);
  let redis: Redis;
  let connections: ConnectionStore;
  let variables: VariableStore;

  function stores(masterKey: string, previousMasterKey?: string) {
    const box = createSecretBox({ masterKey, previousMasterKey });
    const events = new RedisEventPublisher(redis, keys.events);
    return {
      connections: new ConnectionStore({ redis, keys, box, events }),
      variables: new VariableStore({ redis, keys, box, events }),
    };
  }

  before(() => {
    redis = new Redis(REDIS_URL);
    ({ connections, variables } = stores("master-A"));
  });
  after(async () => {
    await deletePrefix(prefix);
    redis.disconnect();
  });

  const newConnection = (id: string, secret = SECRET) =>
    buildNewConnection(
      { id, base_url: "https://api.example.com", auth_secret_key: "k", secrets: { k: secret } },
      1000,
    );

  test("create, get with secrets, list sorted, duplicate → CONNECTION_EXISTS", async () => {
    const b = newConnection("conn-b");
    const a = newConnection("conn-a");
    await connections.create(b.record, b.secrets);
    await connections.create(a.record, a.secrets);
    assert.deepEqual(
      (await connections.list()).map((c) => c.id),
      ["conn-a", "conn-b"],
    );
    const loaded = await connections.getWithSecrets("conn-a");
    assert.deepEqual(loaded?.secrets, { k: SECRET });
    await assert.rejects(
      connections.create(a.record, a.secrets),
      (err: GatewayError) => err.code === "CONNECTION_EXISTS",
    );
    assert.equal(await connections.getWithSecrets("nope"), null);
  });

  test("secrets never appear in Redis in clear", async () => {
    const dump = await dumpPrefix(prefix);
    assert.ok(dump.includes("conn-a"));
    assert.ok(!dump.includes(SECRET), "plaintext secret found in Redis");
    assert.ok(!dump.includes(Buffer.from(SECRET).toString("base64")), "base64 secret found in Redis");
  });

  test("a secret blob copied onto another connection does not open", async () => {
    const hashA = await redis.hgetall(keys.connection("conn-a"));
    await redis.hset(keys.connection("conn-b"), "secret:1", hashA["secret:1"]!);
    await assert.rejects(connections.getWithSecrets("conn-b"), /failed authentication/);
    await connections.delete("conn-b");
    const b = newConnection("conn-b");
    await connections.create(b.record, b.secrets);
  });

  test("concurrent updates never lose a write (compare-and-set on rev)", async () => {
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        connections.update("conn-a", (c) => ({ ...c, credential_keys: [...c.credential_keys, `x${i}`] })),
      ),
    );
    const record = await connections.get("conn-a");
    assert.equal(record?.credential_keys.length, 11);
  });

  test("rotate writes a new version atomically; update/rotate of a missing id → CONNECTION_NOT_FOUND", async () => {
    const rotated = await connections.rotate("conn-b", ({ record, secrets }) => ({
      record: { ...record, secret_version: record.secret_version + 1 },
      secrets: { ...secrets, k: "rotated-value" },
    }));
    assert.equal(rotated.secret_version, 2);
    assert.deepEqual((await connections.getWithSecrets("conn-b"))?.secrets, { k: "rotated-value" });
    await assert.rejects(
      connections.update("missing", (c) => c),
      (e: GatewayError) => e.code === "CONNECTION_NOT_FOUND",
    );
    await assert.rejects(
      connections.rotate("missing", (c) => c),
      (e: GatewayError) => e.code === "CONNECTION_NOT_FOUND",
    );
  });

  test("delete removes the record and every secret version", async () => {
    assert.equal(await connections.delete("conn-b"), true);
    assert.equal(await redis.exists(keys.connection("conn-b")), 0);
    assert.equal(await connections.delete("conn-b"), false);
    assert.deepEqual(
      (await connections.list()).map((c) => c.id),
      ["conn-a"],
    );
  });

  test("variables: upsert keeps created_at and the first subject; delete twice → not found", async () => {
    const first = await variables.upsert("OPENAI_API_KEY", "sk-var-VALUE-1", "user_123", 10);
    const second = await variables.upsert("OPENAI_API_KEY", "sk-var-VALUE-2", "user_999", 20);
    assert.equal(second.created_at, first.created_at);
    assert.equal(second.updated_at, 20);
    assert.equal(second.created_by_subject, "user_123");
    assert.equal(await variables.getValue("OPENAI_API_KEY"), "sk-var-VALUE-2");
    assert.equal((await variables.list()).length, 1);
    const dump = await dumpPrefix(prefix);
    assert.ok(!dump.includes("sk-var-VALUE"));
    await variables.delete("OPENAI_API_KEY");
    await assert.rejects(variables.delete("OPENAI_API_KEY"), (e: GatewayError) => e.code === "NOT_FOUND");
    assert.equal(await variables.getValue("OPENAI_API_KEY"), undefined);
  });

  test("master-key rotation: previous key still reads; re-seal moves every record to the new key", async () => {
    await variables.upsert("ROTATE_ME", "var-under-A", "", 1);
    const rotatedStores = stores("master-B", "master-A");
    const newOnly = stores("master-B");
    assert.deepEqual((await rotatedStores.connections.getWithSecrets("conn-a"))?.secrets, { k: SECRET });
    await assert.rejects(newOnly.connections.getWithSecrets("conn-a"), /no master key/);
    assert.equal(await rotatedStores.connections.reencryptStale(), 1);
    assert.equal(await rotatedStores.variables.reencryptStale(), 1);
    assert.equal(await rotatedStores.connections.reencryptStale(), 0, "idempotent");
    assert.deepEqual((await newOnly.connections.getWithSecrets("conn-a"))?.secrets, { k: SECRET });
    assert.equal(await newOnly.variables.getValue("ROTATE_ME"), "var-under-A");
    await assert.rejects(connections.getWithSecrets("conn-a"), /no master key/);
  });

  test("cache: serves from memory while the events channel is live, invalidated by another process's writes", async () => {
    const box = createSecretBox({ masterKey: "master-B" });
    const writerRedis = new Redis(REDIS_URL);
    const subRedis = new Redis(REDIS_URL);
    try {
      const writer = new ConnectionStore({
        redis: writerRedis,
        keys,
        box,
        events: new RedisEventPublisher(writerRedis, keys.events),
      });
      const readerEvents = new RedisEventPublisher(redis, keys.events);
      const cache = new ConnectionCache({
        connections: new ConnectionStore({ redis, keys, box, events: readerEvents }),
        variables: new VariableStore({ redis, keys, box, events: readerEvents }),
        ttlMs: 60_000,
      });
      const subscriber = new RedisEventSubscriber(subRedis, keys.events);
      const seen: string[] = [];
      subscriber.onEvent((e) => {
        seen.push(e.type);
        cache.handle(e);
      });
      subscriber.onLiveChange((live) => cache.setLive(live));
      await subscriber.start();
      assert.equal(cache.live, true);

      const c = buildNewConnection(
        { id: "cached-one", base_url: "https://x.example", auth_secret_key: "k", secrets: { k: "v1" } },
        1,
      );
      await writer.create(c.record, c.secrets);
      await eventually(() => seen.includes("connection.changed"), 1000);
      assert.deepEqual((await cache.connection("cached-one"))?.secrets, { k: "v1" });

      // A change that publishes no event is not seen: the copy really comes from memory.
      const key = keys.connection("cached-one");
      const meta = JSON.parse((await redis.hget(key, "meta"))!);
      await redis.hset(key, "meta", JSON.stringify({ ...meta, name: "renamed-behind-the-back" }));
      assert.equal((await cache.connection("cached-one"))?.record.name, "cached-one");

      // A rotation through another store publishes: the next lookup sees it.
      await writer.rotate("cached-one", ({ record }) => ({
        record: { ...record, secret_version: 2 },
        secrets: { k: "v2" },
      }));
      await eventually(async () => (await cache.connection("cached-one"))?.secrets.k === "v2", 1000);
      assert.equal((await cache.connection("cached-one"))?.record.name, "renamed-behind-the-back");

      // Channel down: every lookup reads Redis; back up: cached again (after a resync).
      subRedis.disconnect(true);
      await eventually(() => !cache.live, 2000);
      await redis.hset(key, "meta", JSON.stringify({ ...meta, secret_version: 2, name: "while-down" }));
      assert.equal((await cache.connection("cached-one"))?.record.name, "while-down");
      await eventually(() => cache.live, 5000);

      await writer.delete("cached-one");
      await eventually(async () => (await cache.connection("cached-one")) === null, 1000);
      await subscriber.close();
      assert.equal(cache.live, false);
    } finally {
      writerRedis.disconnect();
      subRedis.disconnect();
    }
  });
});
