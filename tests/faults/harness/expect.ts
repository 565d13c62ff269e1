import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { ERROR_CATALOGUE } from "@sigilum-gw/shared/errors";
import type { FaultStack } from "./stack.ts";
import { type Outcome, tally } from "./traffic.ts";

/**
 * Fail-closed answers that a process starting (a CPU burst) can cause on a small busy machine: a verifier Redis
 * command past its 250 ms deadline (VERIFIER_REDIS_COMMAND_TIMEOUT_MS) is a 503, never an allow.
 */
export const UNDER_LOAD = ["REDIS_UNAVAILABLE"];

/**
 * What every fault test checks on the traffic it saw: the agent that was never approved got nothing but refusals,
 * and every failed request of the approved agent carries one of the documented codes the fault may cause
 * (`NETWORK` = no answer at all: only when a process holding the connection died).
 */
export function assertFailClosed(outcomes: Outcome[], allowed: readonly string[]): void {
  const leaked = outcomes.filter((o) => o.who === "stranger" && o.status >= 200 && o.status < 400);
  assert.equal(leaked.length, 0, `an unapproved agent got through: ${JSON.stringify(tally(outcomes))}`);
  for (const o of outcomes.filter((o) => o.who === "stranger" && o.status !== 0)) {
    assert.ok(
      o.code !== undefined && o.code in ERROR_CATALOGUE,
      `stranger: undocumented answer ${o.status} ${o.body.slice(0, 200)}`,
    );
  }
  for (const o of outcomes.filter((o) => o.who === "agent" && o.status !== 200)) {
    const code = o.code ?? `HTTP ${o.status}`;
    assert.ok(
      allowed.includes(code),
      `unexpected ${o.status} ${code} (${JSON.stringify(tally(outcomes))}): ${o.body.slice(0, 200)}`,
    );
    if (code !== "NETWORK") assert.ok(code in ERROR_CATALOGUE, `${code} is not in the error catalogue`);
  }
}

export type UsageCounts = Record<number, number>;

/** The agent's answers that must each have exactly one usage event, by status: forwarded requests (200, 502, 504). */
export function forwarded(outcomes: Outcome[]): UsageCounts {
  const counts: UsageCounts = { 200: 0, 502: 0, 504: 0 };
  for (const o of outcomes) if (o.who === "agent" && o.status in counts) counts[o.status]! += 1;
  return counts;
}

const delta = (now: UsageCounts, before: UsageCounts, status: number) =>
  (now[status] ?? 0) - (before[status] ?? 0);

/**
 * Waits until the control plane holds at least the expected usage rows (by status) beyond `before`, then checks
 * the count is exact: one event per forwarded request (plus at most `cut` more 200s: answers cut by a crash after
 * their event was stored), and for 503s no more events than 503 answers (requests refused after authorization,
 * e.g. the connection store down, are recorded as errors). Returns the new counts and how long delivery took.
 */
export async function assertUsageCounted(
  stack: FaultStack,
  before: UsageCounts,
  outcomes: Outcome[],
  opts: { timeoutMs?: number; cut?: number; alsoForwarded?: number } = {},
): Promise<{ counts: UsageCounts; ms: number; summary: string }> {
  const want = forwarded(outcomes);
  want[200]! += opts.alsoForwarded ?? 0;
  const started = performance.now();
  // Deliveries refused during the fault wait out their retry backoff (doubling, jittered): up to ~16 s after a few
  // seconds of outage, so allow three times that before counting them lost.
  let now = await stack.usageByStatus();
  const short = () => Object.entries(want).some(([s, n]) => delta(now, before, Number(s)) < n);
  while (short() && performance.now() - started < (opts.timeoutMs ?? 60_000)) {
    await sleep(200);
    now = await stack.usageByStatus();
  }
  const ms = performance.now() - started;
  await sleep(500);
  now = await stack.usageByStatus();
  const summary = Object.entries(want)
    .map(([s, n]) => `${s}: ${delta(now, before, Number(s))} events / ${n} answers`)
    .join(", ");
  for (const [status, n] of Object.entries(want)) {
    const got = delta(now, before, Number(status));
    assert.ok(got >= n, `usage events lost (${summary})`);
    const extra = status === "200" ? (opts.cut ?? 0) : 0;
    assert.ok(got <= n + extra, `more usage events than answers (${summary})`);
  }
  const refused = outcomes.filter((o) => o.who === "agent" && o.status === 503).length;
  assert.ok(delta(now, before, 503) <= refused, `more 503 events than 503 answers (${summary})`);
  return { counts: now, ms, summary };
}

/** The counts once nothing more arrives (unchanged for a second, at most 15 s): where the next test starts from. */
export async function settledCounts(stack: FaultStack): Promise<UsageCounts> {
  const deadline = Date.now() + 15_000;
  let last = JSON.stringify(await stack.usageByStatus());
  for (;;) {
    await sleep(1000);
    const now = await stack.usageByStatus();
    if (JSON.stringify(now) === last || Date.now() > deadline) return now;
    last = JSON.stringify(now);
  }
}
