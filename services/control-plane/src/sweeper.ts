import type { Logger } from "@sigilum-gw/shared/logger";
import { purgeExpiredNonces } from "./auth/nonce-store.ts";
import { expireStalePendingClaims } from "./claims/sweep.ts";
import type { Db } from "./db/db.ts";
import { purgeOldDeliveries } from "./webhooks/deliveries.ts";

export interface Sweeper {
  runOnce(): Promise<{ expired: number; noncesPurged: number; deliveriesPurged: number }>;
  stop(): Promise<void>;
}

/** Periodic housekeeping: expire stale pending claims, purge old PostgreSQL nonces and webhook deliveries. */
export function startSweeper(
  db: Db,
  opts: {
    intervalSeconds: number;
    expiryHours: number;
    log: Logger;
    /** Told about each claim the sweep expired (webhooks). */
    onExpired?: (claimId: string) => Promise<void>;
  },
): Sweeper {
  let running: Promise<unknown> = Promise.resolve();
  const runOnce = async () => {
    const expired = await expireStalePendingClaims(db, opts.expiryHours);
    for (const claim of expired) await opts.onExpired?.(claim.claim_id);
    const noncesPurged = await purgeExpiredNonces(db);
    const deliveriesPurged = await purgeOldDeliveries(db);
    if (expired.length > 0) opts.log.info({ expired: expired.length }, "expired stale pending claims");
    return { expired: expired.length, noncesPurged, deliveriesPurged };
  };
  const tick = () => {
    running = runOnce().catch((err) => opts.log.warn({ err }, "sweep failed"));
  };
  const timer = setInterval(tick, opts.intervalSeconds * 1000);
  timer.unref();
  tick();
  return {
    runOnce,
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
