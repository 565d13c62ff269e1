import { setTimeout as sleep } from "node:timers/promises";
import type { SigilumClient } from "@sigilum-gw/sdk";
import type { CallResult, FaultStack } from "./stack.ts";

/** One request of the traffic: when it started and ended (ms since the traffic began) and what it got. */
export interface Outcome extends CallResult {
  at: number;
  end: number;
  who: "agent" | "stranger";
}

export interface Traffic {
  outcomes: Outcome[];
  /** Stops sending and resolves when every request in flight has its answer. */
  stop(): Promise<Outcome[]>;
  /** Milliseconds since the traffic began. */
  now(): number;
}

const live = new Set<Traffic>();

/** Stops every traffic still running (a test that failed half-way must not leave its lanes behind). */
export async function stopAllTraffic(): Promise<void> {
  await Promise.all([...live].map((t) => t.stop()));
}

/**
 * Closed-loop traffic through the gateway: `lanes` agents' requests back to back, and every `strangerEvery`-th
 * request from an agent that was never approved (must be refused whatever breaks).
 */
export function startTraffic(
  stack: FaultStack,
  opts: {
    lanes?: number;
    strangerEvery?: number;
    /** What each request is (default: a GET through the HTTP connection). */
    send?: (who: SigilumClient, i: number) => Promise<CallResult>;
  } = {},
): Traffic {
  const send = opts.send ?? ((who: SigilumClient, i: number) => stack.call(`/v1/items/${i}`, who));
  const started = performance.now();
  const now = () => performance.now() - started;
  const outcomes: Outcome[] = [];
  let running = true;
  let n = 0;
  const lane = async () => {
    while (running) {
      const i = n++;
      const stranger = opts.strangerEvery !== undefined && i % opts.strangerEvery === 0;
      const who: SigilumClient = stranger ? stack.stranger : stack.agent;
      const at = now();
      const result = await send(who, i);
      outcomes.push({ ...result, at, end: now(), who: stranger ? "stranger" : "agent" });
      if (result.status === 0 || result.status >= 500) await sleep(20);
    }
  };
  const lanes = Array.from({ length: opts.lanes ?? 4 }, lane);
  const traffic: Traffic = {
    outcomes,
    now,
    async stop() {
      running = false;
      live.delete(traffic);
      await Promise.all(lanes);
      return outcomes;
    },
  };
  live.add(traffic);
  return traffic;
}

/** Counts by "status code" for a failure message. */
export function tally(outcomes: Outcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) {
    const key = `${o.who} ${o.status}${o.code ? ` ${o.code}` : ""}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** Time from `from` to the first request started after it that succeeded (ms), or undefined. */
export function recoveryMs(outcomes: Outcome[], from: number): number | undefined {
  const ok = outcomes
    .filter((o) => o.who === "agent" && o.at >= from && o.status === 200)
    .sort((a, b) => a.at - b.at);
  return ok[0] ? ok[0].end - from : undefined;
}
