/**
 * The one bounded wait: a step that may never settle (Redis gone, a peer hung) is waited for at most `ms`. The
 * answer says how it ended instead of rejecting, so each caller decides what a timeout or a failure means to it;
 * the timer never outlives the wait. Plain sleeps use `node:timers/promises`.
 */

export type Bounded<T> =
  | { readonly settled: "resolved"; readonly value: T }
  | { readonly settled: "rejected"; readonly error: unknown }
  | { readonly settled: "timeout" };

const TIMED_OUT: Bounded<never> = { settled: "timeout" };

export async function withTimeout<T>(work: Promise<T>, ms: number): Promise<Bounded<T>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Bounded<T>>((resolve) => {
    timer = setTimeout(resolve, ms, TIMED_OUT);
  });
  try {
    return await Promise.race([
      work.then(
        (value): Bounded<T> => ({ settled: "resolved", value }),
        (error: unknown): Bounded<T> => ({ settled: "rejected", error }),
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
