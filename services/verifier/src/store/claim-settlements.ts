import type { RedisKeys } from "@sigilum-gw/shared/redis-keys";
import type { Redis } from "ioredis";
import { z } from "zod";

/**
 * How a claim submission's job settled, told to every replica over one pub/sub channel: the worker (any replica)
 * publishes after it recorded the outcome, and a request waiting to say whether its submission was refused wakes
 * up at once instead of polling the job. One subscription per process, on the shared subscriber connection.
 */

export type Settlement =
  | { outcome: "recorded" | "retrying" }
  | { outcome: "failed"; httpStatus: number; code: string };

const messageSchema = z.discriminatedUnion("outcome", [
  z.object({ submission: z.string().max(64), outcome: z.enum(["recorded", "retrying"]) }),
  z.object({
    submission: z.string().max(64),
    outcome: z.literal("failed"),
    http_status: z.number().int(),
    code: z.string().max(128),
  }),
]);

/** Never throws: a lost message only makes a waiting request time out (its submission then reads as queued). */
export async function publishSettlement(
  redis: Redis,
  keys: RedisKeys,
  submission: string,
  settlement: Settlement,
): Promise<void> {
  const message =
    settlement.outcome === "failed"
      ? { submission, outcome: "failed", http_status: settlement.httpStatus, code: settlement.code }
      : { submission, outcome: settlement.outcome };
  await redis.publish(keys.claimSubmitSettled(), JSON.stringify(message)).catch(() => undefined);
}

function parseMessage(text: string): { submission: string; settlement: Settlement } | undefined {
  try {
    const parsed = messageSchema.safeParse(JSON.parse(text));
    if (!parsed.success) return undefined;
    const m = parsed.data;
    const settlement: Settlement =
      m.outcome === "failed"
        ? { outcome: "failed", httpStatus: m.http_status, code: m.code }
        : { outcome: m.outcome };
    return { submission: m.submission, settlement };
  } catch {
    return undefined;
  }
}

export class SettlementListener {
  readonly #subscriber: Redis;
  readonly #waiters = new Map<string, Set<(settlement: Settlement) => void>>();

  /** Subscribes `subscriber` (a connection in subscribe mode, shared with other channels) to the channel. */
  constructor(subscriber: Redis, keys: RedisKeys) {
    this.#subscriber = subscriber;
    const channel = keys.claimSubmitSettled();
    subscriber.on("message", (from: string, text: string) => {
      if (from !== channel) return;
      const message = parseMessage(text);
      const waiters = message && this.#waiters.get(message.submission);
      if (!message || !waiters) return;
      this.#waiters.delete(message.submission);
      for (const wake of waiters) wake(message.settlement);
    });
    subscriber.subscribe(channel).catch(() => undefined);
  }

  /**
   * Starts listening for `submission` before the caller looks at its job, so a settlement between the look and the
   * wait is not missed. `wait` resolves with the settlement, or undefined after `ms` (or at once without Redis).
   */
  expect(submission: string): { wait(ms: number): Promise<Settlement | undefined>; cancel(): void } {
    let settled: Settlement | undefined;
    let wake: ((settlement: Settlement | undefined) => void) | undefined;
    const onSettled = (settlement: Settlement) => {
      settled = settlement;
      wake?.(settlement);
    };
    const waiters = this.#waiters.get(submission) ?? new Set();
    waiters.add(onSettled);
    this.#waiters.set(submission, waiters);
    const cancel = () => {
      waiters.delete(onSettled);
      if (waiters.size === 0 && this.#waiters.get(submission) === waiters) this.#waiters.delete(submission);
    };
    return {
      wait: (ms) => {
        if (settled || this.#subscriber.status !== "ready" || ms <= 0) {
          cancel();
          return Promise.resolve(settled);
        }
        return new Promise((resolve) => {
          const timer = setTimeout(() => wake?.(undefined), ms);
          wake = (settlement) => {
            clearTimeout(timer);
            cancel();
            resolve(settlement);
          };
        });
      },
      cancel,
    };
  }
}
