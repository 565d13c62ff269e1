import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type Relay, startRelay } from "@sigilum-gw/testkit/relay";
import { Redis } from "ioredis";
import { createProxyKeys } from "../src/store/keys.ts";
import { type UsageEvent, UsageQueueFullError, UsageRecorder } from "../src/usage/queue.ts";
import {
  authorizedGet,
  createTokenConnection,
  deletePrefix,
  eventually,
  onUsageQueue,
  REDIS_URL,
  type RunningProxy,
  randomPrefix,
  startProxy,
  startUpstream,
  testConfig,
  type Upstream,
  waitingEvents,
} from "./helpers.ts";

/**
 * GATEWAY_USAGE_DURABILITY and the queue bound, against real Redis and bullmq: a durable event is in Redis before
 * the answer ends, an event that cannot be stored cuts the answer, and a full queue refuses (counted) what the
 * bound does not allow.
 */

const event = (id: string): UsageEvent => ({
  event_id: id,
  namespace: "alice-ns",
  service: "svc",
  public_key: "ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
  subject: "alice",
  protocol: "http",
  action: "proxy",
  outcome: "success",
  response_bytes: 1,
});

describe("usage recorder: durable writes and the queue bound", () => {
  const prefix = randomPrefix();
  const bullmq = createProxyKeys(prefix).bullmq;
  let connection: Redis;
  after(async () => {
    connection?.disconnect();
    await deletePrefix(prefix);
  });

  test("recordDurable resolves once the event is in Redis; concurrent events share writes", async () => {
    connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const recorder = new UsageRecorder({ connection, prefix: bullmq });
    await recorder.recordDurable(event("d-1"));
    assert.equal(await waitingEvents(prefix), 1, "stored before the promise resolved");
    await Promise.all(Array.from({ length: 200 }, (_, i) => recorder.recordDurable(event(`d-many-${i}`))));
    assert.equal(await waitingEvents(prefix), 201);
    const batches = await onUsageQueue(prefix, (queue) => queue.getWaitingCount());
    assert.ok(batches < 50, `200 concurrent events took ${batches - 1} writes (group commit)`);
    await recorder.close();
  });

  test("at the bound: buffered events are dropped as queue_full, durable ones refused; depth reported", async () => {
    const drops: [number, string][] = [];
    const depths: number[] = [];
    const recorder = new UsageRecorder({
      connection,
      prefix: bullmq,
      flushIntervalMs: 10,
      maxQueuedBatches: 2,
      onDropped: (n, reason) => drops.push([n, reason]),
      onDepth: (d) => depths.push(d),
    });
    // The queue already holds more than 2 batches (previous test); the first reading sees it.
    recorder.record(event("b-1"));
    await eventually(() => depths.length > 0, 3000);
    assert.ok(depths[0]! >= 2);
    await assert.rejects(recorder.recordDurable(event("d-refused")), UsageQueueFullError);
    recorder.record(event("b-2"));
    await recorder.flush();
    assert.ok(
      drops.some(([, reason]) => reason === "queue_full"),
      JSON.stringify(drops),
    );
    const before = await waitingEvents(prefix);
    assert.equal(before, 201 + (drops.some(([n]) => n === 2) ? 0 : 1), "nothing beyond the bound was queued");
    await recorder.close();
  });

  test("Redis unreachable: a durable write rejects within its deadline (never hangs)", async () => {
    const dead = new Redis("redis://127.0.0.1:1", { maxRetriesPerRequest: null, lazyConnect: true });
    dead.on("error", () => {});
    const recorder = new UsageRecorder({ connection: dead, prefix: bullmq, durableTimeoutMs: 300 });
    const started = Date.now();
    await assert.rejects(
      recorder.recordDurable(event("d-lost")),
      /not stored in time|ECONNREFUSED|Connection/,
    );
    assert.ok(Date.now() - started < 2000);
    await recorder.close(300);
    dead.disconnect();
  });
});

describe("proxy with GATEWAY_USAGE_DURABILITY=durable", () => {
  const prefix = randomPrefix();
  let upstream: Upstream;
  let gw: RunningProxy;
  before(async () => {
    upstream = await startUpstream();
    gw = await startProxy(
      testConfig({ redisPrefix: prefix, usageDurability: "durable", usageQueueMaxBatches: 3 }),
    );
    await createTokenConnection(gw.url, "metered", upstream.url);
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
    await deletePrefix(prefix);
  });

  test("the event of every complete answer is already in Redis when the answer ends", async () => {
    for (let i = 1; i <= 3; i++) {
      const res = await authorizedGet(gw.url, `/proxy/metered/v1/items/${i}`);
      assert.equal(res.status, 200);
      assert.equal(await waitingEvents(prefix), i, "no flush needed: stored before the end of the answer");
    }
  });

  test("when the event cannot be stored (queue at its bound) the answer is cut, counted as not_stored", async () => {
    // The bound is judged on a reading at most 1 s old: the request that starts a fresh one still passes.
    await sleep(1100);
    await eventually(async () => {
      try {
        await authorizedGet(gw.url, "/proxy/metered/v1/after-bound");
        return false;
      } catch {
        return true;
      }
    }, 5000);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(
      metrics,
      /sigilum_gateway_usage_events_dropped_total\{[^}]*reason="not_stored"[^}]*\} [1-9]/,
    );
    assert.match(metrics, /^sigilum_gateway_usage_batches_waiting\{[^}]*\} [34]$/m);
    assert.equal(await waitingEvents(prefix), 4, "nothing stored after the reading that saw the bound");
  });
});

describe("durable usage over a slow link to Redis", () => {
  const prefix = randomPrefix();
  let relay: Relay;
  let upstream: Upstream;
  let gw: RunningProxy;
  before(async () => {
    relay = await startRelay(() => [Number(new URL(REDIS_URL).port || 6379)]);
    // As most APIs answer: a Content-Length, so the agent knows the answer is whole at its last byte.
    upstream = await startUpstream((req, res) => {
      if (req.url?.endsWith("/empty")) return void res.writeHead(204).end();
      if (req.url?.endsWith("/chunked")) {
        res.writeHead(200, { "content-type": "text/plain" });
        res.write("streamed ");
        return void setTimeout(() => res.end("answer"), 20);
      }
      const body = JSON.stringify({ ok: true, url: req.url });
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
    gw = await startProxy(
      testConfig({
        redisPrefix: prefix,
        redisUrl: `redis://127.0.0.1:${relay.port}`,
        usageDurability: "durable",
      }),
    );
    await createTokenConnection(gw.url, "slow-redis", upstream.url);
  });
  after(async () => {
    await gw.stop();
    await relay.close();
    await upstream.close();
    await deletePrefix(prefix);
  });

  test("the agent never holds a whole answer (Content-Length reached, chunked, or a 204) whose event is not in Redis yet", async () => {
    assert.equal((await authorizedGet(gw.url, "/proxy/slow-redis/v1/warm")).status, 200);
    assert.equal(await waitingEvents(prefix), 1);
    // Every write to Redis now takes 300 ms each way; the check below reads Redis directly.
    relay.delayMs = 300;
    const started = Date.now();
    const res = await authorizedGet(gw.url, "/proxy/slow-redis/v1/items/7");
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.text), { ok: true, url: "/v1/items/7" });
    assert.equal(await waitingEvents(prefix), 2, "the answer was whole before its event was stored");
    assert.ok(Date.now() - started >= 500, "the answer waited for the write");
    const empty = await authorizedGet(gw.url, "/proxy/slow-redis/v1/empty");
    assert.equal(empty.status, 204);
    assert.equal(await waitingEvents(prefix), 3, "the 204 was sent before its event was stored");
    const chunked = await authorizedGet(gw.url, "/proxy/slow-redis/v1/chunked");
    assert.equal(chunked.status, 200);
    assert.equal(chunked.headers["transfer-encoding"], "chunked");
    assert.equal(chunked.text, "streamed answer");
    assert.equal(await waitingEvents(prefix), 4, "the chunked answer ended before its event was stored");
    relay.delayMs = 0;
  });
});
