import assert from "node:assert/strict";
import { describe } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { until } from "@sigilum-gw/testkit/until";
import { assertFailClosed, UNDER_LOAD } from "./harness/expect.ts";
import { faultSuite } from "./harness/suite.ts";
import { recoveryMs, startTraffic, tally } from "./harness/traffic.ts";

/**
 * Faults of the shared state under traffic: Redis killed (-9) and restarted (append-only file, fsync always), the
 * control plane killed and restarted. Whole gateway as real processes, buffered usage (the default). Expected:
 * documented codes while it is down, recovery on its own (measured), and nothing lost: connections, approvals, a
 * claim submission queued during the outage and every usage event are there afterwards.
 */

describe("faults: Redis and the control plane (buffered usage)", { timeout: 600_000 }, () => {
  const suite = faultSuite({ verifiers: 1, proxies: 2 });
  const test = suite.test;
  const usageCounted = suite.usageCounted;

  test("Redis killed (-9) mid-traffic: fail closed with 503s, recovers by itself, nothing lost", async (t) => {
    const traffic = startTraffic(suite.stack, { lanes: 3, strangerEvery: 4 });
    await sleep(1000);
    await suite.stack.redis.kill("SIGKILL");
    await sleep(2000);
    await suite.stack.redis.start();
    const restartedAt = traffic.now();
    // A restarted Redis starts a new replay epoch: signatures older than it plus the skew margin (5 s) are refused.
    await sleep(8000);
    const outcomes = await traffic.stop();
    t.diagnostic(JSON.stringify(tally(outcomes)));
    assertFailClosed(outcomes, [
      "REDIS_UNAVAILABLE",
      "SERVICE_UNAVAILABLE",
      "AUTH_CLAIMS_UNAVAILABLE",
      "AUTH_REPLAY_WINDOW_RESET",
    ]);
    assert.ok(
      outcomes.some((o) => o.status === 503),
      "the outage was seen",
    );
    const recovery = recoveryMs(outcomes, restartedAt);
    t.diagnostic(`first success after Redis answered again: ${recovery?.toFixed(0)} ms`);
    assert.ok(recovery !== undefined && recovery < 10_000, `recovery ${recovery} ms`);
    await usageCounted(outcomes, t);
  });

  test("after the Redis restart, restarted proxies and verifier still have the connection and the approval", async (t) => {
    for (const name of ["proxy-0", "proxy-1", "verifier-0"] as const) {
      await suite.stack.kill(name, "SIGTERM");
      await suite.stack.start(name);
    }
    const ok = await suite.stack.call("/v1/after-restarts");
    assert.equal(ok.status, 200, ok.body);
    const refused = await suite.stack.call("/v1/after-restarts", suite.stack.stranger);
    assert.ok(refused.status === 403 || refused.status === 429, `${refused.status}`);
    t.diagnostic(
      "connection record and approval read back from Redis / the control plane by fresh processes",
    );
    await usageCounted([], t, { alsoForwarded: 1 });
  });

  test("the control plane killed (-9): approved agents keep working, a claim filed meanwhile and all usage arrive after its restart", async (t) => {
    const traffic = startTraffic(suite.stack, { lanes: 2, strangerEvery: 4 });
    await sleep(1000);
    await suite.stack.kill("control-plane");
    const newcomer = await suite.stack.newAgent();
    const asked = await suite.stack.call("/v1/let-me-in", newcomer);
    assert.equal(asked.code, "AUTH_CLAIM_REQUIRED", asked.body.slice(0, 200));
    await sleep(2000);
    await suite.stack.start("control-plane");
    const restartedAt = performance.now();
    await sleep(1000);
    const outcomes = await traffic.stop();
    t.diagnostic(JSON.stringify(tally(outcomes)));
    // The feed cannot be read, but cached approvals stand: the approved agent is not refused (except by load).
    assertFailClosed(outcomes, UNDER_LOAD);
    const claim = await until("the claim filed during the outage", 30_000, async () =>
      (await suite.stack.claims()).find((c) => c.public_key === newcomer.publicKey),
    );
    t.diagnostic(
      `the queued claim submission arrived ${(performance.now() - restartedAt).toFixed(0)} ms after the restart`,
    );
    assert.equal(claim.status, "pending");
    await usageCounted(outcomes, t, { timeoutMs: 30_000 });
  });
});
