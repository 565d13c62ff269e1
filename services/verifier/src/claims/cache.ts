import { randomUUID } from "node:crypto";
import type { RedisKeys } from "@sigilum-gw/shared/redis-keys";
import type { Redis } from "ioredis";
import { z } from "zod";
import { type Approval, type FeedClient, FeedError } from "./feed-client.ts";

/**
 * Approved claims per service (connection id): an in-process snapshot for the hot path, a Redis copy shared by
 * every replica (`<prefix>claims:{service}`), the control plane's feed as the source of truth.
 *
 * - A snapshot answers for `ttl` after it was fetched; a background refresher re-fetches active services every
 *   `refresh` interval, so a revocation reaches every replica within about one interval (at once on a
 *   `claims.changed` event).
 * - A key missing from a fresh snapshot triggers at most one extra refresh per interval per service before the
 *   request is denied, so a new approval does not wait for the next cycle.
 * - Feed down: the last good snapshot answers until its TTL (plus the configured stale window), then lookups
 *   answer "unavailable" and the request fails closed. An invalidated snapshot is never served stale.
 */

/** `lookup_failed`: the feed refused us (no or bad service API key); `unavailable`: the feed or Redis is down. */
export type ClaimDecision = "approved" | "not_approved" | "unavailable" | "lookup_failed";

interface Snapshot {
  keys: Set<string>;
  fetchedAt: number;
  truncated: boolean;
}

const sharedCopySchema = z.object({
  v: z.literal(1),
  fetched_at: z.number().int().nonnegative(),
  truncated: z.boolean().optional(),
  approvals: z.array(z.tuple([z.string(), z.string()])),
});

export interface ClaimsCacheEvents {
  onRefresh?(
    service: string,
    outcome: "fetched" | "shared" | "error",
    detail?: { error?: Error; approvals?: number; truncated?: boolean },
  ): void;
}

export interface ClaimsCacheOptions {
  redis: Redis;
  keys: RedisKeys;
  feed: FeedClient;
  ttlMs: number;
  refreshMs: number;
  staleIfErrorMs: number;
  /** Upper bound of one feed refresh (the cross-replica lock lives this long). */
  feedTimeoutMs: number;
  /**
   * Longest a request waits for a refresh before it is answered from what is known (Envoy's check timeout is
   * short); the refresh itself continues and serves the next requests.
   */
  lookupWaitMs?: number;
  maxServices?: number;
  /**
   * Feed fetches in flight at once. Any self-made key can sign requests for any connection id, so without a cap a
   * flood of made-up ids would turn into a flood of feed calls; past it, an unknown service answers "unavailable".
   */
  maxConcurrentFetches?: number;
  now?: () => number;
  events?: ClaimsCacheEvents;
}

const approvalKey = (namespace: string, publicKey: string) => `${namespace}\u0000${publicKey}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class ClaimsCache {
  readonly #o: Required<Omit<ClaimsCacheOptions, "events">> & { events: ClaimsCacheEvents };
  readonly #snapshots = new Map<string, Snapshot>();
  readonly #inflight = new Map<string, Promise<boolean>>();
  readonly #lastAccess = new Map<string, number>();
  readonly #lastMissRefresh = new Map<string, number>();
  readonly #lastFailure = new Map<string, { at: number; misconfigured: boolean }>();
  readonly #invalidatedAt = new Map<string, number>();
  #allInvalidatedAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  #fetching = 0;
  #warm = false;
  readonly #instanceId = randomUUID();

  constructor(options: ClaimsCacheOptions) {
    this.#o = {
      maxServices: 10_000,
      lookupWaitMs: 800,
      maxConcurrentFetches: 32,
      now: Date.now,
      events: {},
      ...options,
    } as Required<Omit<ClaimsCacheOptions, "events">> & { events: ClaimsCacheEvents };
  }

  get warm(): boolean {
    return this.#warm;
  }

  #dataKey(service: string): string {
    return this.#o.keys.claims(service);
  }

  #lockKey(service: string): string {
    return this.#o.keys.claimsLock(service);
  }

  #invalidated(service: string, fetchedAt: number): boolean {
    return fetchedAt < this.#allInvalidatedAt || fetchedAt < (this.#invalidatedAt.get(service) ?? 0);
  }

  /** A snapshot that may answer now without the feed: fresh and not invalidated since it was fetched. */
  #fresh(service: string, now: number): Snapshot | undefined {
    const snapshot = this.#snapshots.get(service);
    if (
      !snapshot ||
      now >= snapshot.fetchedAt + this.#o.ttlMs ||
      this.#invalidated(service, snapshot.fetchedAt)
    )
      return undefined;
    return snapshot;
  }

  /** Synchronous hot path: true only when a fresh snapshot approves the key; undefined = ask `lookup`. */
  approvedFromMemory(service: string, namespace: string, publicKey: string): true | undefined {
    const now = this.#o.now();
    const snapshot = this.#fresh(service, now);
    if (snapshot?.keys.has(approvalKey(namespace, publicKey))) {
      this.#lastAccess.set(service, now);
      return true;
    }
    return undefined;
  }

  async lookup(service: string, namespace: string, publicKey: string): Promise<ClaimDecision> {
    if (!service || !namespace || !publicKey) return "not_approved";
    const key = approvalKey(namespace, publicKey);
    const now = this.#o.now();
    this.#touch(service, now);
    const fresh = this.#fresh(service, now);
    if (fresh) {
      if (fresh.keys.has(key)) return "approved";
      const last = this.#lastMissRefresh.get(service) ?? 0;
      if (now - last < this.#o.refreshMs) return "not_approved";
      this.#lastMissRefresh.set(service, now);
      await this.#refreshWithin(service);
      return (this.#fresh(service, this.#o.now()) ?? fresh).keys.has(key) ? "approved" : "not_approved";
    }
    await this.#refreshWithin(service);
    const after = this.#o.now();
    const refreshed = this.#fresh(service, after);
    if (refreshed) return refreshed.keys.has(key) ? "approved" : "not_approved";
    const stale = this.#snapshots.get(service);
    if (
      stale &&
      this.#o.staleIfErrorMs > 0 &&
      after < stale.fetchedAt + this.#o.ttlMs + this.#o.staleIfErrorMs &&
      !this.#invalidated(service, stale.fetchedAt)
    ) {
      return stale.keys.has(key) ? "approved" : "not_approved";
    }
    return this.#lastFailure.get(service)?.misconfigured ? "lookup_failed" : "unavailable";
  }

  async #refreshWithin(service: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const budget = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#o.lookupWaitMs);
    });
    await Promise.race([this.refresh(service), budget]);
    clearTimeout(timer);
  }

  #touch(service: string, now: number): void {
    if (!this.#lastAccess.has(service) && this.#lastAccess.size >= this.#o.maxServices) this.#evictOldest();
    this.#lastAccess.set(service, now);
  }

  #evictOldest(): void {
    let oldest: string | undefined;
    let oldestAt = Number.POSITIVE_INFINITY;
    for (const [service, at] of this.#lastAccess) {
      if (at < oldestAt) {
        oldest = service;
        oldestAt = at;
      }
    }
    if (oldest === undefined) return;
    this.#lastAccess.delete(oldest);
    this.#snapshots.delete(oldest);
    this.#lastMissRefresh.delete(oldest);
    this.#lastFailure.delete(oldest);
  }

  /** Single-flight per service in this process; resolves true when a fresh snapshot is in memory afterwards. */
  refresh(service: string): Promise<boolean> {
    let running = this.#inflight.get(service);
    if (!running) {
      running = this.#doRefresh(service).finally(() => this.#inflight.delete(service));
      this.#inflight.set(service, running);
    }
    return running;
  }

  async #readShared(service: string): Promise<Snapshot | undefined> {
    let text: string | null;
    try {
      text = await this.#o.redis.get(this.#dataKey(service));
    } catch {
      return undefined;
    }
    if (!text) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return undefined;
    }
    const parsed = sharedCopySchema.safeParse(json);
    if (!parsed.success) return undefined;
    return {
      keys: new Set(parsed.data.approvals.map(([ns, pk]) => approvalKey(ns, pk))),
      fetchedAt: parsed.data.fetched_at,
      truncated: parsed.data.truncated ?? false,
    };
  }

  /**
   * A shared copy is adopted only when it is newer than ours, from this refresh round (younger than half an
   * interval: ticks are aligned, so an older copy belongs to the previous round), and not invalidated.
   */
  #adoptable(service: string, shared: Snapshot | undefined, now: number): shared is Snapshot {
    if (
      !shared ||
      now - shared.fetchedAt >= this.#o.refreshMs / 2 ||
      this.#invalidated(service, shared.fetchedAt)
    )
      return false;
    const own = this.#snapshots.get(service);
    return !own || shared.fetchedAt > own.fetchedAt;
  }

  async #doRefresh(service: string): Promise<boolean> {
    const started = this.#o.now();
    const shared = await this.#readShared(service);
    if (this.#adoptable(service, shared, started)) {
      this.#snapshots.set(service, shared);
      this.#o.events.onRefresh?.(service, "shared", { approvals: shared.keys.size });
      return true;
    }
    const lastFailure = this.#lastFailure.get(service);
    if (lastFailure !== undefined && started - lastFailure.at < Math.min(this.#o.refreshMs, 2000)) {
      return this.#fresh(service, started) !== undefined;
    }
    if (this.#fetching >= this.#o.maxConcurrentFetches) return this.#fresh(service, started) !== undefined;
    this.#fetching++;
    try {
      return await this.#fetchAndStore(service, started);
    } finally {
      this.#fetching--;
    }
  }

  async #fetchAndStore(service: string, started: number): Promise<boolean> {
    const lockToken = `${this.#instanceId}:${started}`;
    const locked = await this.#tryLock(service, lockToken);
    if (locked === false) {
      // Another replica is fetching this service: wait for its copy instead of hitting the feed twice.
      const deadline = started + Math.min(this.#o.feedTimeoutMs, 3000);
      while (this.#o.now() < deadline) {
        await sleep(25);
        const copy = await this.#readShared(service);
        if (this.#adoptable(service, copy, this.#o.now())) {
          this.#snapshots.set(service, copy);
          this.#o.events.onRefresh?.(service, "shared", { approvals: copy.keys.size });
          return true;
        }
      }
    }
    try {
      const result = await this.#o.feed.fetchApprovals(service);
      // Stamped with the start of the fetch: an invalidation that arrives while it runs may describe a change the
      // feed did not show yet, and then this snapshot must not answer.
      const snapshot: Snapshot = {
        keys: new Set(result.approvals.map((a: Approval) => approvalKey(a.namespace, a.publicKey))),
        fetchedAt: started,
        truncated: result.truncated,
      };
      this.#snapshots.set(service, snapshot);
      this.#lastFailure.delete(service);
      await this.#writeShared(service, snapshot, result.approvals);
      this.#o.events.onRefresh?.(service, "fetched", {
        approvals: snapshot.keys.size,
        truncated: result.truncated,
      });
      return true;
    } catch (error) {
      this.#lastFailure.set(service, {
        at: this.#o.now(),
        misconfigured: error instanceof FeedError && error.misconfigured,
      });
      this.#o.events.onRefresh?.(service, "error", { error: error as Error });
      return this.#fresh(service, this.#o.now()) !== undefined;
    } finally {
      if (locked === true) await this.#unlock(service, lockToken);
    }
  }

  /** true = we hold the lock, false = someone else does, undefined = Redis unusable (fetch without a lock). */
  async #tryLock(service: string, token: string): Promise<boolean | undefined> {
    try {
      const ok = await this.#o.redis.set(this.#lockKey(service), token, "PX", this.#o.feedTimeoutMs, "NX");
      return ok === "OK";
    } catch {
      return undefined;
    }
  }

  async #unlock(service: string, token: string): Promise<void> {
    try {
      if ((await this.#o.redis.get(this.#lockKey(service))) === token)
        await this.#o.redis.del(this.#lockKey(service));
    } catch {
      // The lock expires on its own.
    }
  }

  async #writeShared(service: string, snapshot: Snapshot, approvals: Approval[]): Promise<void> {
    const body = JSON.stringify({
      v: 1,
      fetched_at: snapshot.fetchedAt,
      truncated: snapshot.truncated,
      approvals: approvals.map((a) => [a.namespace, a.publicKey]),
    });
    const lifetime = this.#o.ttlMs + this.#o.staleIfErrorMs + this.#o.refreshMs;
    try {
      await this.#o.redis.set(this.#dataKey(service), body, "PX", lifetime);
    } catch {
      // Other replicas fetch for themselves; the local snapshot still answers.
    }
  }

  /** `claims.changed`: drop what we know (for one service or all) so the next lookup asks the feed. */
  async invalidate(service?: string): Promise<void> {
    const now = this.#o.now();
    if (service) {
      this.#invalidatedAt.set(service, now);
      this.#snapshots.delete(service);
      this.#lastFailure.delete(service);
      this.#lastMissRefresh.delete(service);
      try {
        await this.#o.redis.del(this.#dataKey(service));
      } catch {
        // The invalidation mark alone keeps the old copy from being adopted.
      }
      return;
    }
    this.#allInvalidatedAt = now;
    this.#snapshots.clear();
    this.#lastFailure.clear();
    this.#lastMissRefresh.clear();
  }

  /** Services used recently (or preloaded) are refreshed every interval, so the hot path rarely waits. */
  async refreshActive(): Promise<void> {
    const now = this.#o.now();
    const horizon = 2 * this.#o.ttlMs;
    const due: string[] = [];
    for (const [service, at] of this.#lastAccess) if (now - at <= horizon) due.push(service);
    await Promise.all(due.map((service) => this.refresh(service)));
  }

  /**
   * Loads the given services; the cache is warm once each has a fresh snapshot, or the feed refused it (no or a
   * refused service API key: a service this gateway no longer serves, e.g. a claims copy left in Redis by a deleted
   * service, must not hold readiness forever; its lookups answer `lookup_failed`).
   */
  async warmUp(services: readonly string[]): Promise<boolean> {
    const now = this.#o.now();
    for (const service of services) this.#touch(service, now);
    const results = await Promise.all(services.map((service) => this.refresh(service)));
    this.#warm = results.every((loaded, i) => loaded || this.#refused(services[i] as string));
    return this.#warm;
  }

  #refused(service: string): boolean {
    const refused = this.#lastFailure.get(service)?.misconfigured === true;
    // Not refreshed again every interval: it is looked at again when a request asks for it.
    if (refused) this.#lastAccess.delete(service);
    return refused;
  }

  /**
   * Refresh ticks are aligned to wall-clock multiples of the interval, so every replica ticks together: one takes
   * the Redis lock and fetches, the others adopt its fresh copy. Each replica's data is then never older than about
   * one interval, and the feed sees one fetch per service per interval however many replicas run.
   */
  start(preload: readonly string[]): void {
    if (this.#started) return;
    this.#started = true;
    const tick = async () => {
      if (!this.#warm) await this.warmUp(preload).catch(() => false);
      await this.refreshActive().catch(() => undefined);
    };
    const schedule = () => {
      if (!this.#started) return;
      const delay = this.#o.refreshMs - (this.#o.now() % this.#o.refreshMs);
      this.#timer = setTimeout(() => {
        void tick();
        schedule();
      }, delay);
      this.#timer.unref();
    };
    void tick();
    schedule();
  }

  stop(): void {
    this.#started = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
