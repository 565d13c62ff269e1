import assert from "node:assert/strict";
import { describe } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { assertFailClosed, forwarded } from "../harness/expect.ts";
import { faultSuite } from "../harness/suite.ts";
import { startTraffic, tally } from "../harness/traffic.ts";

/**
 * The slow fault tests (`npm run test:faults`): a usage worker killed with a batch in hand (bullmq hands the job to
 * a worker again only after its lock expires: ~30 s), and what a proxy crash costs in the default `buffered` mode
 * (measured and reported: the events still in memory are gone).
 */

describe("faults: usage delivery (buffered usage)", { timeout: 600_000 }, () => {
  const suite = faultSuite({ verifiers: 1, proxies: 2 });
  const test = suite.test;
  const usageCounted = suite.usageCounted;

  test("the usage worker killed (-9) while delivering: after its restart every event arrives, none twice", async (t) => {
    const traffic = startTraffic(suite.stack, { lanes: 3, strangerEvery: 5 });
    await sleep(1500);
    await suite.stack.kill("usage-worker");
    await sleep(1500);
    await suite.stack.start("usage-worker");
    await sleep(1000);
    const outcomes = await traffic.stop();
    t.diagnostic(JSON.stringify(tally(outcomes)));
    assertFailClosed(outcomes, ["REDIS_UNAVAILABLE"]);
    await usageCounted(outcomes, t, { timeoutMs: 90_000 });
  });

  test("a proxy killed (-9) in buffered mode: what it had not queued yet is lost (measured)", async (t) => {
    const traffic = startTraffic(suite.stack, { lanes: 4 });
    await sleep(1500);
    await suite.stack.kill("proxy-0");
    await sleep(1000);
    await suite.stack.start("proxy-0");
    await sleep(500);
    const outcomes = await traffic.stop();
    t.diagnostic(JSON.stringify(tally(outcomes)));
    assertFailClosed(outcomes, ["NETWORK", "REDIS_UNAVAILABLE"]);
    await sleep(3000);
    const now = await suite.stack.usageByStatus();
    const answered = forwarded(outcomes)[200] ?? 0;
    const stored = (now[200] ?? 0) - (suite.baseline[200] ?? 0);
    const lost = answered - stored;
    t.diagnostic(
      `buffered: ${lost} of ${answered} answered requests have no usage event after a proxy crash`,
    );
    // At most what two proxies forward in the 250 ms flush interval plus the answers cut by the crash.
    assert.ok(lost >= 0 && lost <= answered / 4, `${lost} lost`);
    suite.baseline = now;
  });
});
