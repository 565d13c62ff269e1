import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { type Clock, systemClock } from "@sigilum-gw/shared/clock";
import type { ClaimCopyStore } from "../store/claim-copies.ts";
import { type FeedClient, FeedError } from "./feed-client.ts";
import { approvalKey, ServiceStates, type Snapshot, snapshotOf } from "./service-states.ts";

/**
 * Approved claims per service (connection id): an in-process snapshot for the hot path (service-states.ts), a
 * Redis copy shared by every replica (store/claim-copies.ts), the control plane's feed as the source of truth.
 * The background refresh loop is refresher.ts.
 *
 * - A snapshot answers for `ttl` after it was fetched; the refresher re-fetches active services every `refresh`
 *   interval, so a revocation reaches every replica within about one interval (at once on a `claims.changed`
 *   event).
 * - A key missing from a fresh snapshot triggers at most one extra refresh per interval per service before the
 *   request is denied, so a new approval does not wait for the next cycle.
 * - Feed down: the last good snapshot answers until its TTL (plus the configured stale window), then lookups
 *   answer "unavailable" and the request fails closed. An invalidated snapshot is never served stale.
 */

/** `lookup_failed`: the feed refused us (no or bad service API key); `unavailable`: the feed or Redis is down. */
export type ClaimDecision = "approved" | "not_approved" | "unavailable" | "lookup_failed";

export type RefreshOutcome = "fetched" | "shared" | "error";

export interface ClaimsCacheEvents {
  refresh: [
    service: string,
    outcome: RefreshOutcome,
    detail: { error?: Error; approvals?: number; truncated?: boolean },
  ];
  /** After `invalidate` (undefined: every service). */
  invalidated: [service: string | undefined];
}

export interface ClaimsCacheOptions {
  copies: ClaimCopyStore;
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
  clock?: Clock;
}

/** Longest a replica waits for another replica's fetch before it asks the feed itself. */
const MAX_COPY_WAIT_MS = 3000;

export class ClaimsCache {
  readonly events = new EventEmitter<ClaimsCacheEvents>();
  readonly #o: Required<ClaimsCacheOptions>;
  readonly #states: ServiceStates;
  readonly #inflight = new Map<string, Promise<boolean>>();
  readonly #invalidatedAt = new Map<string, number>();
  readonly #copyWaiters = new Map<string, Set<() => void>>();
  #allInvalidatedAt = 0;
  #fetching = 0;
  #warm = false;
  readonly #instanceId = randomUUID();

  constructor(options: ClaimsCacheOptions) {
    this.#o = {
      maxServices: 10_000,
      lookupWaitMs: 800,
      maxConcurrentFetches: 32,
      clock: systemClock,
      ...options,
    };
    this.#states = new ServiceStates(this.#o.maxServices);
  }

  get warm(): boolean {
    return this.#warm;
  }

  get clock(): Clock {
    return this.#o.clock;
  }

  #invalidated(service: string, fetchedAt: number): boolean {
    return fetchedAt < this.#allInvalidatedAt || fetchedAt < (this.#invalidatedAt.get(service) ?? 0);
  }

  /** A snapshot that may answer now without the feed: fresh and not invalidated since it was fetched. */
  #fresh(service: string, now: number): Snapshot | undefined {
    const snapshot = this.#states.get(service)?.snapshot;
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
    const now = this.#o.clock.now();
    const snapshot = this.#fresh(service, now);
    if (snapshot?.keys.has(approvalKey(namespace, publicKey))) {
      this.#states.of(service).activeAt = now;
      return true;
    }
    return undefined;
  }

  async lookup(service: string, namespace: string, publicKey: string): Promise<ClaimDecision> {
    if (!service || !namespace || !publicKey) return "not_approved";
    const key = approvalKey(namespace, publicKey);
    const now = this.#o.clock.now();
    const state = this.#states.of(service);
    state.activeAt = now;
    const fresh = this.#fresh(service, now);
    if (fresh) {
      if (fresh.keys.has(key)) return "approved";
      if (now - state.lastMissRefresh < this.#o.refreshMs) return "not_approved";
      state.lastMissRefresh = now;
      await this.#refreshWithin(service);
      return (this.#fresh(service, this.#o.clock.now()) ?? fresh).keys.has(key) ? "approved" : "not_approved";
    }
    await this.#refreshWithin(service);
    const after = this.#o.clock.now();
    const refreshed = this.#fresh(service, after);
    if (refreshed) return refreshed.keys.has(key) ? "approved" : "not_approved";
    const stale = this.#states.get(service)?.snapshot;
    if (
      stale &&
      this.#o.staleIfErrorMs > 0 &&
      after < stale.fetchedAt + this.#o.ttlMs + this.#o.staleIfErrorMs &&
      !this.#invalidated(service, stale.fetchedAt)
    ) {
      return stale.keys.has(key) ? "approved" : "not_approved";
    }
    return this.#states.get(service)?.lastFailure?.misconfigured ? "lookup_failed" : "unavailable";
  }

  async #refreshWithin(service: string): Promise<void> {
    let budget: { cancel(): void } | undefined;
    const waited = new Promise<void>((resolve) => {
      budget = this.#o.clock.setTimeout(resolve, this.#o.lookupWaitMs);
    });
    await Promise.race([this.refresh(service), waited]);
    budget?.cancel();
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

  /** Resolves once no refresh is running (refreshes a finished one started are awaited too). */
  async settled(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.all(this.#inflight.values());
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
    const own = this.#states.get(service)?.snapshot;
    return !own || shared.fetchedAt > own.fetchedAt;
  }

  async #readShared(service: string): Promise<Snapshot | undefined> {
    const copy = await this.#o.copies.read(service);
    return copy && snapshotOf(copy.approvals, copy.fetchedAt, copy.truncated);
  }

  #adopt(service: string, shared: Snapshot): true {
    this.#states.of(service).snapshot = shared;
    this.events.emit("refresh", service, "shared", { approvals: shared.keys.size });
    return true;
  }

  async #doRefresh(service: string): Promise<boolean> {
    const started = this.#o.clock.now();
    const shared = await this.#readShared(service);
    if (this.#adoptable(service, shared, started)) return this.#adopt(service, shared);
    const lastFailure = this.#states.get(service)?.lastFailure;
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
    const locked = await this.#o.copies.tryLock(service, lockToken, this.#o.feedTimeoutMs);
    if (locked === false) {
      // Another replica is fetching this service: wait for its copy instead of hitting the feed twice.
      const copy = await this.#awaitCopy(service);
      if (copy) return this.#adopt(service, copy);
    }
    try {
      const result = await this.#o.feed.fetchApprovals(service);
      const approvals = result.approvals.map((a) => [a.namespace, a.publicKey] as [string, string]);
      // Stamped with the start of the fetch: an invalidation that arrives while it runs may describe a change the
      // feed did not show yet, and then this snapshot must not answer.
      const snapshot = snapshotOf(approvals, started, result.truncated);
      const state = this.#states.of(service);
      state.snapshot = snapshot;
      delete state.lastFailure;
      await this.#o.copies.write(
        service,
        { approvals, fetchedAt: started, truncated: result.truncated },
        this.#o.ttlMs + this.#o.staleIfErrorMs + this.#o.refreshMs,
      );
      this.events.emit("refresh", service, "fetched", {
        approvals: snapshot.keys.size,
        truncated: result.truncated,
      });
      return true;
    } catch (error) {
      this.#states.of(service).lastFailure = {
        at: this.#o.clock.now(),
        misconfigured: error instanceof FeedError && error.misconfigured,
      };
      this.events.emit("refresh", service, "error", { error: error as Error });
      return this.#fresh(service, this.#o.clock.now()) !== undefined;
    } finally {
      if (locked === true) await this.#o.copies.unlock(service, lockToken);
    }
  }

  /**
   * The copy another replica is fetching: adopted when its `claims.shared` event arrives (`copyShared`), or when
   * it was written before we listened; undefined when none came within the wait (then we fetch ourselves).
   */
  async #awaitCopy(service: string): Promise<Snapshot | undefined> {
    let waiter: (() => void) | undefined;
    let deadline: { cancel(): void } | undefined;
    const announced = new Promise<void>((resolve) => {
      waiter = resolve;
      deadline = this.#o.clock.setTimeout(resolve, Math.min(this.#o.feedTimeoutMs, MAX_COPY_WAIT_MS));
    });
    const waiters = this.#copyWaiters.get(service) ?? new Set();
    waiters.add(waiter as () => void);
    this.#copyWaiters.set(service, waiters);
    try {
      const early = await this.#readShared(service);
      if (this.#adoptable(service, early, this.#o.clock.now())) return early;
      await announced;
      const copy = await this.#readShared(service);
      return this.#adoptable(service, copy, this.#o.clock.now()) ? copy : undefined;
    } finally {
      deadline?.cancel();
      waiters.delete(waiter as () => void);
      if (waiters.size === 0) this.#copyWaiters.delete(service);
    }
  }

  /** `claims.shared`: a replica wrote a fresh copy of this service (wakes the refreshes waiting for it). */
  copyShared(service: string): void {
    for (const wake of this.#copyWaiters.get(service) ?? []) wake();
  }

  /** `claims.changed`: drop what we know (for one service or all) so the next lookup asks the feed. */
  async invalidate(service?: string): Promise<void> {
    const now = this.#o.clock.now();
    if (service) {
      this.#invalidatedAt.set(service, now);
      const state = this.#states.get(service);
      if (state) {
        delete state.snapshot;
        delete state.lastFailure;
        state.lastMissRefresh = 0;
      }
      await this.#o.copies.remove(service);
    } else {
      this.#allInvalidatedAt = now;
      this.#states.forgetFetched();
    }
    this.events.emit("invalidated", service);
  }

  /** Services used recently (or preloaded) are refreshed every interval, so the hot path rarely waits. */
  async refreshActive(): Promise<void> {
    const due = this.#states.activeSince(this.#o.clock.now() - 2 * this.#o.ttlMs);
    await Promise.all(due.map((service) => this.refresh(service)));
  }

  /**
   * Loads the given services; the cache is warm once each has a fresh snapshot, or the feed refused it (no or a
   * refused service API key: a service this gateway no longer serves, e.g. a claims copy left in Redis by a deleted
   * service, must not hold readiness forever; its lookups answer `lookup_failed`).
   */
  async warmUp(services: readonly string[]): Promise<boolean> {
    const now = this.#o.clock.now();
    for (const service of services) this.#states.of(service).activeAt = now;
    const results = await Promise.all(services.map((service) => this.refresh(service)));
    this.#warm = results.every((loaded, i) => loaded || this.#refused(services[i] as string));
    return this.#warm;
  }

  #refused(service: string): boolean {
    const state = this.#states.get(service);
    const refused = state?.lastFailure?.misconfigured === true;
    // Not refreshed again every interval: it is looked at again when a request asks for it.
    if (refused && state) delete state.activeAt;
    return refused;
  }
}
