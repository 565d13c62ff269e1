import { after, before, it, type TestContext } from "node:test";
import { assertUsageCounted, settledCounts, type UsageCounts } from "./expect.ts";
import { type FaultStack, type StackOptions, startFaultStack } from "./stack.ts";
import { type Outcome, stopAllTraffic } from "./traffic.ts";

/**
 * One fault stack for a `describe` block: started before its tests (with a deadline of its own: seven processes on
 * a busy machine take a while), stopped after them even when starting failed half-way or timed out. Each test that
 * fails stops its traffic and resets the usage baseline, so the next test counts only its own events.
 */
export interface FaultSuite {
  readonly stack: FaultStack;
  /** Usage rows by status when the current test started counting. */
  baseline: UsageCounts;
  test(name: string, fn: (t: TestContext) => Promise<void>): void;
  /** Checks the usage events of `outcomes` arrived exactly (see assertUsageCounted) and reports the timing. */
  usageCounted(
    outcomes: Outcome[],
    t: TestContext,
    opts?: { cut?: number; alsoForwarded?: number; timeoutMs?: number },
  ): Promise<void>;
}

export function faultSuite(options: StackOptions): FaultSuite {
  let starting: Promise<FaultStack> | undefined;
  let started: FaultStack | undefined;
  let baseline: UsageCounts = {};
  const suite: FaultSuite = {
    get stack() {
      if (!started) throw new Error("the fault stack did not start");
      return started;
    },
    get baseline() {
      return baseline;
    },
    set baseline(counts) {
      baseline = counts;
    },
    test(name, fn) {
      it(name, { timeout: 180_000 }, async (t) => {
        try {
          await fn(t);
        } catch (err) {
          await stopAllTraffic();
          baseline = await settledCounts(suite.stack);
          throw err;
        }
      });
    },
    async usageCounted(outcomes, t, opts = {}) {
      const { counts, ms, summary } = await assertUsageCounted(suite.stack, baseline, outcomes, opts);
      t.diagnostic(
        `usage ${summary}${opts.cut ? ` (+${opts.cut} cut answers)` : ""}; complete ${ms.toFixed(0)} ms after the traffic`,
      );
      baseline = counts;
    },
  };
  before(
    async () => {
      starting = startFaultStack(options);
      started = await starting;
      baseline = await settledCounts(started);
    },
    { timeout: 180_000 },
  );
  after(
    async () => {
      await stopAllTraffic();
      await (await starting?.catch(() => undefined))?.stop();
    },
    { timeout: 60_000 },
  );
  return suite;
}
