import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { initIdentity } from "@sigilum-gw/shared/identity";
import { type ControlPlane, startControlPlane } from "@sigilum-gw/testkit/control-plane";
import { type ServiceProcess, spawnService } from "@sigilum-gw/testkit/process";
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
} from "./helpers.ts";

/**
 * GATEWAY_USAGE_DELIVERY=separate: the proxy only queues usage events, and the usage worker, a process of its own,
 * delivers them to the control plane signed with the gateway identity. Real Redis, real bullmq, real HTTP.
 */

const WORKER_MAIN = fileURLToPath(new URL("../src/usage-worker/main.ts", import.meta.url));
const SERVICE_KEY = "svc-usage-worker-key";
const GATEWAY_NAMESPACE = "gateway-usage-worker";

describe("usage worker: delivers what a separate-mode proxy queues", () => {
  const prefix = randomPrefix();
  let controlPlane: ControlPlane;
  let home: string;
  let upstream: Upstream;
  let gw: RunningProxy;
  let worker: ServiceProcess | undefined;

  const spawnWorker = (identityHome: string) =>
    spawnService(WORKER_MAIN, "usage worker listening", {
      USAGE_WORKER_ADDR: "127.0.0.1:0",
      REDIS_URL,
      REDIS_PREFIX: prefix,
      SIGILUM_REGISTRY_URL: controlPlane.url,
      SIGILUM_SERVICE_API_KEY: SERVICE_KEY,
      GATEWAY_SIGILUM_HOME: identityHome,
      GATEWAY_SIGILUM_NAMESPACE: GATEWAY_NAMESPACE,
      LOG_LEVEL: "info",
    });

  before(async () => {
    controlPlane = await startControlPlane({ apiKey: SERVICE_KEY });
    home = await mkdtemp(join(tmpdir(), "usage-worker-"));
    await initIdentity({ namespace: GATEWAY_NAMESPACE, homeDir: home });
    upstream = await startUpstream();
    gw = await startProxy(
      testConfig({
        redisPrefix: prefix,
        registryUrl: controlPlane.url,
        usageDelivery: "separate",
        identity: { namespace: GATEWAY_NAMESPACE, home },
      }),
    );
    await createTokenConnection(gw.url, "metered", upstream.url);
  });
  after(async () => {
    await worker?.stop();
    await gw.stop();
    await upstream.close();
    await controlPlane.close();
    await deletePrefix(prefix);
    await rm(home, { recursive: true, force: true });
  });

  test("the proxy queues the event and does not deliver it itself", async () => {
    const res = await authorizedGet(gw.url, "/proxy/metered/v1/items");
    assert.equal(res.status, 200);
    await gw.proxy.usage.flush();
    await onUsageQueue(prefix, async (queue) => {
      // Observed, not waited for: no worker consumes the queue, and the batch sits in it undelivered.
      assert.deepEqual(await queue.getWorkers(), [], "the proxy runs no usage worker of its own");
      assert.equal(await queue.getWaitingCount(), 1, "one batch waits in the queue");
      assert.equal(controlPlane.usageEvents.length, 0, "nothing delivered without a worker");
    });
  });

  test("the worker delivers it, signed by the gateway, with the service key; then reports ready", async () => {
    worker = await spawnWorker(home);
    await eventually(() => controlPlane.usageEvents.length === 1, 10_000);
    const [delivered] = controlPlane.usageEvents;
    assert.equal(delivered!.signer, GATEWAY_NAMESPACE);
    assert.equal(delivered!.headers.authorization, `Bearer ${SERVICE_KEY}`);
    assert.equal(delivered!.body.service, "metered");
    assert.equal(delivered!.body.request_path, "/v1/items");
    assert.equal(delivered!.status, 201);

    const base = `http://127.0.0.1:${worker.port}`;
    await eventually(async () => (await fetch(`${base}/health/ready`)).status === 200, 5000);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /sigilum_gateway_usage_submit_failed_total/);
    assert.match(metrics, /^sigilum_gateway_usage_batches_waiting\{[^}]*\} 0$/m, "the backlog is empty");
    assert.match(metrics, /service="usage-worker"/);
    assert.doesNotMatch(metrics, /upstream-token/);

    // Events queued from now on arrive too (the worker keeps consuming).
    assert.equal((await authorizedGet(gw.url, "/proxy/metered/v1/more")).status, 200);
    await gw.proxy.usage.flush();
    await eventually(() => controlPlane.usageEvents.length === 2, 10_000);
  });

  test("SIGTERM stops it cleanly", async () => {
    assert.equal(await worker!.stop("SIGTERM"), 0);
    worker = undefined;
  });

  test("without the gateway identity it stays live but never ready, delivers nothing, and shows the backlog", async () => {
    const empty = await mkdtemp(join(tmpdir(), "usage-worker-empty-"));
    const lonely = await spawnWorker(empty);
    try {
      const base = `http://127.0.0.1:${lonely.port}`;
      assert.equal((await fetch(`${base}/health/live`)).status, 200);
      const ready = await fetch(`${base}/health/ready`);
      assert.equal(ready.status, 503);
      assert.equal(((await ready.json()) as { code: string }).code, "NOT_READY");
      assert.match(lonely.output(), /gateway identity unavailable/);
      // What nobody delivers shows as backlog.
      assert.equal((await authorizedGet(gw.url, "/proxy/metered/v1/waiting")).status, 200);
      await gw.proxy.usage.flush();
      const metrics = await (await fetch(`${base}/metrics`)).text();
      assert.match(metrics, /^sigilum_gateway_usage_batches_waiting\{[^}]*\} 1$/m);
    } finally {
      await lonely.stop();
      await rm(empty, { recursive: true, force: true });
    }
  });
});
