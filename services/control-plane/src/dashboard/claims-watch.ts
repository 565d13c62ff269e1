import type { Logger } from "@sigilum-gw/shared/logger";
import type { Queryable } from "../db/db.ts";

type Listener = () => void;

/** Tells open dashboards when a namespace's claims change (a new request, an approval, an expiry...). */
export interface ClaimsWatch {
  subscribe(namespace: string, listener: Listener): () => void;
  /** Stops polling and drops every listener (shutdown). */
  close(): void;
}

/**
 * Polls one fingerprint of each watched namespace's claims (ids and statuses) from the database. The database
 * is what every replica shares, so a request filed through any replica, or expired by any sweeper, reaches every
 * open dashboard; one query per watched namespace per tick, however many tabs watch it.
 */
export function createClaimsWatch(db: Queryable, opts: { intervalMs: number; log: Logger }): ClaimsWatch {
  const watched = new Map<string, { listeners: Set<Listener>; fingerprint?: string }>();
  let polling = false;

  const fingerprint = async (namespace: string) => {
    const { rows } = await db.query<{ h: string }>(
      `SELECT md5(coalesce(string_agg(claim_id || ':' || status, ',' ORDER BY claim_id), '')) AS h
         FROM authorizations WHERE namespace = $1`,
      [namespace],
    );
    return rows[0]?.h ?? "";
  };

  const poll = async () => {
    if (polling) return;
    polling = true;
    try {
      for (const [namespace, entry] of watched) {
        const now = await fingerprint(namespace);
        if (entry.fingerprint !== undefined && entry.fingerprint !== now) {
          for (const listener of entry.listeners) listener();
        }
        entry.fingerprint = now;
      }
    } catch (err) {
      opts.log.warn({ err }, "dashboard claims watch failed");
    } finally {
      polling = false;
    }
  };

  const timer = setInterval(() => void poll(), opts.intervalMs);
  timer.unref();

  return {
    subscribe(namespace, listener) {
      let entry = watched.get(namespace);
      if (!entry) {
        entry = { listeners: new Set() };
        watched.set(namespace, entry);
      }
      entry.listeners.add(listener);
      return () => {
        entry.listeners.delete(listener);
        if (entry.listeners.size === 0 && watched.get(namespace) === entry) watched.delete(namespace);
      };
    },
    close() {
      clearInterval(timer);
      watched.clear();
    },
  };
}
