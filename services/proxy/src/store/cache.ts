import type { ConnectionStore, VersionedConnection } from "./connections.ts";
import type { StoreEventOrResync } from "./events.ts";
import type { VariableStore } from "./variables.ts";

/**
 * In-process read-through cache of connections (with decrypted secrets) and variable values, so the hot path
 * does no Redis round trip. Invalidation comes from the events channel that every replica's admin writes publish
 * on: a replica hears about a change before its admin call has even answered, so the next request anywhere uses
 * the new record. The cache is trusted only while that channel is live: when the subscription drops, every lookup
 * reads Redis until it is back (and the cache is cleared on resubscribe, since events may have been missed). Misses
 * are never cached (a new connection is visible at once); the TTL bounds anything else. A load that overlaps an
 * invalidation is not cached (generation check).
 */

interface Entry<T> {
  value: T;
  expiresAt: number;
}

class ReadThrough<T> {
  readonly #entries = new Map<string, Entry<T>>();
  readonly #loading = new Map<string, Promise<T | null>>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  #generation = 0;

  constructor(ttlMs: number, maxEntries: number, now: () => number) {
    this.#ttlMs = ttlMs;
    this.#maxEntries = maxEntries;
    this.#now = now;
  }

  get(key: string, load: () => Promise<T | null>): Promise<T | null> {
    const hit = this.#entries.get(key);
    if (hit) {
      if (hit.expiresAt > this.#now()) return Promise.resolve(hit.value);
      this.#entries.delete(key);
    }
    const pending = this.#loading.get(key);
    if (pending) return pending;
    const generation = this.#generation;
    const promise: Promise<T | null> = load().then(
      (value) => {
        if (this.#loading.get(key) === promise) this.#loading.delete(key);
        if (value !== null && generation === this.#generation) {
          if (this.#entries.size >= this.#maxEntries) this.#entries.clear();
          this.#entries.set(key, { value, expiresAt: this.#now() + this.#ttlMs });
        }
        return value;
      },
      (err: unknown) => {
        if (this.#loading.get(key) === promise) this.#loading.delete(key);
        throw err;
      },
    );
    this.#loading.set(key, promise);
    return promise;
  }

  invalidate(key: string): void {
    this.#generation++;
    this.#entries.delete(key);
    this.#loading.delete(key);
  }

  clear(): void {
    this.#generation++;
    this.#entries.clear();
    this.#loading.clear();
  }
}

export interface ConnectionCacheOptions {
  connections: ConnectionStore;
  variables: VariableStore;
  ttlMs?: number;
  maxEntries?: number;
  now?: () => number;
}

export class ConnectionCache {
  readonly #connections: ConnectionStore;
  readonly #variables: VariableStore;
  readonly #connectionEntries: ReadThrough<VersionedConnection>;
  readonly #variableEntries: ReadThrough<string>;
  readonly #ttlMs: number;
  readonly #now: () => number;
  /** True while the events subscription is established; until then (and while it is down) nothing is cached. */
  #live = false;
  #revision = 0;

  constructor(opts: ConnectionCacheOptions) {
    const ttl = opts.ttlMs ?? 30_000;
    const max = opts.maxEntries ?? 10_000;
    const now = opts.now ?? Date.now;
    this.#ttlMs = ttl;
    this.#now = now;
    this.#connections = opts.connections;
    this.#variables = opts.variables;
    this.#connectionEntries = new ReadThrough(ttl, max, now);
    this.#variableEntries = new ReadThrough(ttl, max, now);
  }

  get live(): boolean {
    return this.#live;
  }

  /**
   * Changes on every event and every change of liveness: a value derived from cached entries (a resolved
   * connection) is current only while the revision it was derived at is, the cache is live, and within the TTL.
   */
  get revision(): number {
    return this.#revision;
  }

  /** When a value derived now must be derived again at the latest (same TTL as the entries). */
  derivedExpiry(): number {
    return this.#now() + this.#ttlMs;
  }

  now(): number {
    return this.#now();
  }

  connection(id: string): Promise<VersionedConnection | null> {
    const load = () => this.#connections.getWithSecrets(id);
    return this.#live ? this.#connectionEntries.get(id, load) : load();
  }

  async variable(key: string): Promise<string | undefined> {
    const load = async () => (await this.#variables.getVersioned(key))?.value ?? null;
    const value = this.#live ? await this.#variableEntries.get(key, load) : await load();
    return value ?? undefined;
  }

  /** The events subscription went up or down. */
  setLive(live: boolean): void {
    this.#revision++;
    this.#live = live;
    this.#connectionEntries.clear();
    this.#variableEntries.clear();
  }

  handle(event: StoreEventOrResync): void {
    this.#revision++;
    switch (event.type) {
      case "connection.changed":
      case "connection.deleted":
        this.#connectionEntries.invalidate(event.id);
        break;
      case "variable.changed":
        this.#variableEntries.invalidate(event.id);
        break;
      case "resync":
        this.#connectionEntries.clear();
        this.#variableEntries.clear();
        break;
      default:
        break;
    }
  }
}
