import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createIdentity } from "@sigilum-gw/shared/identity";
import { type ControlPlane, startControlPlane } from "@sigilum-gw/testkit/control-plane";
import type { Worker } from "bullmq";
import { Redis } from "ioredis";
import { createProxyKeys } from "../src/store/keys.ts";
import { type UsageEvent, UsageRecorder } from "../src/usage/queue.ts";
import { startUsageSubmitter } from "../src/usage/submitter.ts";
import { deletePrefix, eventually, REDIS_URL, randomPrefix } from "./helpers.ts";

/**
 * Usage events through the real bullmq queue to a real HTTP control plane: signed with the gateway identity and
 * the service API key, retried on 5xx, final on a missing key, reported as usage_submit_failed.
 */

const event = (id: string, service = "github-proxy"): UsageEvent => ({
  event_id: id,
  namespace: "alice-ns",
  service,
  public_key: "ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
  subject: "alice",
  protocol: "http",
  action: "proxy",
  outcome: "success",
  status_code: 200,
  duration_ms: 12,
  response_bytes: 345,
  request_method: "GET",
  request_path: "/user",
  remote_ip: "127.0.0.1",
});

describe("usage events: queue → worker → control plane", () => {
  const prefix = randomPrefix();
  const bullmq = createProxyKeys(prefix).bullmq;
  const gateway = createIdentity("gateway-usage");
  let controlPlane: ControlPlane;
  let queueRedis: Redis;
  let workerRedis: Redis;
  let recorder: UsageRecorder;
  let worker: Worker;
  const failures: { id: string; error: string; final: boolean }[] = [];

  before(async () => {
    controlPlane = await startControlPlane({ apiKey: "svc-usage-key" });
    queueRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    workerRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    recorder = new UsageRecorder({ connection: queueRedis, prefix: bullmq, flushIntervalMs: 10 });
    worker = startUsageSubmitter({
      connection: workerRedis,
      prefix: bullmq,
      registryUrl: controlPlane.url,
      identity: gateway,
      serviceKeyFor: (service) => (service === "unkeyed-service" ? "" : "svc-usage-key"),
      onFailed: (e, error, final) => failures.push({ id: e.event_id, error, final }),
    });
  });
  after(async () => {
    await worker.close();
    await recorder.close();
    queueRedis.disconnect();
    workerRedis.disconnect();
    await controlPlane.close();
    await deletePrefix(prefix);
  });

  test("delivered in a batch post signed by the gateway, with the service key and the spec body", async () => {
    recorder.record(event("ev-1"));
    await eventually(() => controlPlane.usageEvents.length === 1, 5000);
    const [delivered] = controlPlane.usageEvents;
    assert.equal(controlPlane.usageBatches, 1);
    assert.equal(delivered!.signer, "gateway-usage", "signed with the gateway identity");
    assert.equal(delivered!.headers["sigilum-subject"], "gateway-usage", "a batch is the gateway's own call");
    assert.equal(delivered!.headers.authorization, "Bearer svc-usage-key");
    assert.deepEqual(delivered!.body, event("ev-1"));
    assert.deepEqual(controlPlane.rejected, []);
  });

  test("a 5xx is retried; a missing service key is final; both reported", async () => {
    controlPlane.usageStatus = 503;
    recorder.record(event("ev-retry"));
    await eventually(() => failures.some((f) => f.id === "ev-retry"), 5000);
    const first = failures.find((f) => f.id === "ev-retry")!;
    assert.equal(first.final, false);
    assert.match(first.error, /HTTP 503/);
    controlPlane.usageStatus = 201;
    // bullmq's exponential backoff (1 s) brings it back.
    await eventually(
      () => controlPlane.usageEvents.some((e) => e.body.event_id === "ev-retry" && e.status === 201),
      8000,
    );

    recorder.record(event("ev-nokey", "unkeyed-service"));
    await eventually(() => failures.some((f) => f.id === "ev-nokey"), 5000);
    const nokey = failures.find((f) => f.id === "ev-nokey")!;
    assert.equal(nokey.final, true);
    assert.match(nokey.error, /service API key not configured/);
  });

  test("batching: many events are queued in few round trips and all delivered", async () => {
    for (let i = 0; i < 50; i++) recorder.record(event(`ev-batch-${i}`));
    for (let i = 0; i < 5; i++) recorder.record(event(`ev-other-${i}`, "other-service"));
    await recorder.flush();
    const ours = () =>
      controlPlane.usageEvents.filter((e) => /^ev-(batch|other)-/.test(String(e.body.event_id)));
    await eventually(() => ours().length === 55, 8000);
    // One post per service of the queued batch: the batches these events came in, whatever else was posted.
    const batchesOf = (service: string) =>
      new Set(
        ours()
          .filter((e) => e.body.service === service)
          .map((e) => e.batch),
      );
    assert.equal(batchesOf("github-proxy").size, 1);
    assert.equal(batchesOf("other-service").size, 1);
    assert.notDeepEqual(batchesOf("github-proxy"), batchesOf("other-service"));
    assert.equal(ours().filter((e) => e.body.service === "other-service").length, 5);
  });

  test("a registry without the batch route (404, the reference API): one signed post per event", async () => {
    controlPlane.batchRoute = false;
    recorder.record(event("ev-single"));
    await eventually(() => controlPlane.usageEvents.some((e) => e.body.event_id === "ev-single"), 5000);
    const delivered = controlPlane.usageEvents.find((e) => e.body.event_id === "ev-single")!;
    assert.equal(delivered.headers["sigilum-subject"], "alice", "sigilum-subject is the caller's subject");
    assert.deepEqual(delivered.body, event("ev-single"));
  });

  test("a slow control plane: the events of a batch are posted several at a time", async () => {
    assert.equal(controlPlane.batchRoute, false, "per-event posts (the previous test)");
    const before = controlPlane.usageEvents.length;
    controlPlane.delayMs = 200;
    controlPlane.maxUsageInFlight = controlPlane.usageInFlight;
    try {
      for (let i = 0; i < 20; i++) recorder.record(event(`ev-slow-${i}`));
      await recorder.flush();
      await eventually(() => controlPlane.usageEvents.length >= before + 20, 20_000);
      // Observed at the control plane: several posts of the batch were waiting for their answer at once.
      assert.ok(controlPlane.maxUsageInFlight > 1, `at most ${controlPlane.maxUsageInFlight} post in flight`);
    } finally {
      controlPlane.delayMs = 0;
    }
  });
});
