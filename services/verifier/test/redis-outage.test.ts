import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { after, before, describe, test } from "node:test";
import { signRequest } from "@sigilum-gw/shared/http-signatures";
import { createIdentity, type SigilumIdentity } from "@sigilum-gw/shared/identity";
import { type ControlPlane, startControlPlane } from "@sigilum-gw/testkit/control-plane";
import { hasExited, killOnExit, stopProcess } from "@sigilum-gw/testkit/process";
import { Redis } from "ioredis";
import { envelopeCode, envoyCheck, rawCheck } from "./helpers/envoy-check.ts";
import { type RunningVerifier, SERVICE_API_KEY, startVerifier, waitFor } from "./helpers/harness.ts";

/** Our own redis-server on a random port, stopped and restarted mid-run (never the machine's shared Redis). */

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    {
      stdio: "ignore",
    },
  );
  killOnExit(child);
  const probe = new Redis({ port, lazyConnect: true, retryStrategy: () => 50 });
  probe.on("error", () => undefined);
  const up = await waitFor(async () => (await probe.ping().catch(() => "")) === "PONG", 5000, 50);
  probe.disconnect();
  assert.ok(up, "redis-server started");
  return child;
}

async function stopRedis(child: ChildProcess): Promise<void> {
  await stopProcess(child, "SIGKILL");
}

/** Own redis-server, the loopback feed approving `agent` for crm, a verifier on that Redis with a short timeout. */
async function startOutageRig(agent: SigilumIdentity) {
  const port = await freePort();
  const redis = await startRedis(port);
  const feed = await startControlPlane({ apiKey: SERVICE_API_KEY });
  feed.approve("crm", agent.namespace, agent.publicKey);
  const verifier = await startVerifier(feed.url, {
    REDIS_URL: `redis://127.0.0.1:${port}`,
    VERIFIER_REDIS_COMMAND_TIMEOUT_MS: "200",
  });
  return { port, redis, feed, verifier };
}

describe("Redis stopped mid-run", () => {
  let port: number;
  let redis: ChildProcess;
  let feed: ControlPlane;
  let verifier: RunningVerifier;
  const agent = createIdentity("outage-agent");
  const stranger = createIdentity("outage-stranger");
  const check = (who = agent) => {
    const s = signRequest(who, { url: "http://127.0.0.1:38100/proxy/crm/x", method: "GET" });
    return envoyCheck(verifier.port, { method: s.method, url: s.url, headers: s.headers, body: null });
  };
  const ready = async () => (await rawCheck(verifier.port, "GET", "/health/ready", [["host", "x"]])).status;

  before(async () => {
    ({ port, redis, feed, verifier } = await startOutageRig(agent));
  });
  after(async () => {
    await verifier?.stop();
    if (redis) await stopRedis(redis);
    await feed?.close();
  });

  test("fails closed with a 503 envelope, then recovers without a restart", async () => {
    assert.equal((await check()).status, 200);
    assert.equal(await ready(), 200);

    await stopRedis(redis);
    for (let i = 0; i < 10; i++) {
      const started = Date.now();
      const response = await check();
      assert.equal(response.status, 503, response.body);
      assert.equal(envelopeCode(response), "REDIS_UNAVAILABLE");
      assert.equal(response.headers["x-sigilum-authz"], undefined);
      assert.ok(Date.now() - started < 1000, "fails fast");
    }
    assert.equal(
      envelopeCode(await check(stranger)),
      "REDIS_UNAVAILABLE",
      "no claim path without Redis either",
    );
    assert.equal(await ready(), 503);
    assert.equal((await rawCheck(verifier.port, "GET", "/health/live", [["host", "x"]])).status, 200);

    redis = await startRedis(port);
    assert.ok(await waitFor(async () => (await check()).status === 200, 8000, 100), "recovered");
    assert.equal(await ready(), 200);
    const unapproved = await check(stranger);
    assert.equal(unapproved.headers["x-sigilum-code"], "AUTH_CLAIM_REQUIRED");
  });

  test("stops within its shutdown budget while Redis is down (a shutdown never waits on Redis)", async () => {
    await stopRedis(redis);
    const started = performance.now();
    await verifier.stop();
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 10_000, `stopped after ${Math.round(elapsed)} ms`);
  });
});

describe("Redis hung mid-run (connected, not answering)", () => {
  let redis: ChildProcess;
  let feed: ControlPlane;
  let verifier: RunningVerifier;
  const agent = createIdentity("hung-agent");
  const check = () => {
    const s = signRequest(agent, { url: "http://127.0.0.1:38100/proxy/crm/x", method: "GET" });
    return envoyCheck(verifier.port, { method: s.method, url: s.url, headers: s.headers, body: null });
  };

  before(async () => {
    ({ redis, feed, verifier } = await startOutageRig(agent));
  });
  after(async () => {
    if (redis && !hasExited(redis)) redis.kill("SIGCONT");
    await verifier?.stop();
    if (redis) await stopRedis(redis);
    await feed?.close();
  });

  test("nonce checks answer 503 within the command timeout, and allow again once Redis answers", async () => {
    assert.equal((await check()).status, 200);
    redis.kill("SIGSTOP");
    try {
      const started = performance.now();
      const answers = await Promise.all(Array.from({ length: 20 }, () => check()));
      const elapsed = performance.now() - started;
      // Answered while Redis is still stopped (no answer would ever come without the command timeout), and not
      // before that timeout: the checks were sent and waited for. No upper bound: a loaded machine is slow.
      assert.equal(hasExited(redis), false);
      for (const response of answers) {
        assert.equal(response.status, 503, response.body);
        assert.equal(envelopeCode(response), "REDIS_UNAVAILABLE");
        assert.equal(response.headers["x-sigilum-authz"], undefined);
      }
      assert.ok(elapsed >= 190, `answered after the 200 ms command timeout (${elapsed} ms)`);
    } finally {
      redis.kill("SIGCONT");
    }
    assert.ok(await waitFor(async () => (await check()).status === 200, 5000, 50), "recovered");
  });
});
