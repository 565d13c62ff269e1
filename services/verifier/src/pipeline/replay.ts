import type { NonceStore } from "@sigilum-gw/shared/replay";

/**
 * Stage 3: nonce replay window shared by every replica (Redis SET NX EX keyed by namespace and nonce). A store
 * failure is not a "fresh" answer: the caller maps it to 503 and never allows.
 */
export type ReplayOutcome = "fresh" | "replay" | "unavailable";

export async function checkReplay(
  store: NonceStore,
  namespace: string,
  nonce: string,
  ttlSeconds: number,
): Promise<ReplayOutcome> {
  try {
    return (await store.checkAndRecord(namespace, nonce, ttlSeconds)) ? "fresh" : "replay";
  } catch {
    return "unavailable";
  }
}
