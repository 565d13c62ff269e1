import { LRUCache } from "lru-cache";

/**
 * What the claims cache knows per service (connection id), bounded: past `max` services the least recently used
 * is forgotten whole (snapshot, activity, failure), so made-up connection ids cannot grow memory.
 */

export interface Snapshot {
  /** `approvalKey(namespace, publicKey)` of every approved pair. */
  keys: Set<string>;
  fetchedAt: number;
  truncated: boolean;
}

export interface ServiceState {
  snapshot?: Snapshot;
  /** Last time a request asked (undefined: not refreshed in the background). */
  activeAt?: number;
  /** Last extra refresh a miss on a fresh snapshot triggered (at most one per interval). */
  lastMissRefresh: number;
  /** Last failed feed fetch; `misconfigured` when the feed refused our service API key. */
  lastFailure?: { at: number; misconfigured: boolean };
}

export const approvalKey = (namespace: string, publicKey: string) => `${namespace}\u0000${publicKey}`;

export function snapshotOf(
  approvals: readonly (readonly [string, string])[],
  fetchedAt: number,
  truncated: boolean,
): Snapshot {
  return {
    keys: new Set(approvals.map(([namespace, key]) => approvalKey(namespace, key))),
    fetchedAt,
    truncated,
  };
}

export class ServiceStates {
  readonly #states: LRUCache<string, ServiceState>;

  constructor(max: number) {
    this.#states = new LRUCache({ max });
  }

  /** The state of a service, if known; marks it recently used. */
  get(service: string): ServiceState | undefined {
    return this.#states.get(service);
  }

  /** The state of a service, created when unknown (which may forget the least recently used one). */
  of(service: string): ServiceState {
    let state = this.#states.get(service);
    if (!state) {
      state = { lastMissRefresh: 0 };
      this.#states.set(service, state);
    }
    return state;
  }

  /** Services a request asked for since `since` (the background refresher's list). */
  activeSince(since: number): string[] {
    const active: string[] = [];
    for (const [service, state] of this.#states.entries())
      if (state.activeAt !== undefined && state.activeAt >= since) active.push(service);
    return active;
  }

  /** Forgets what was fetched for every service (their activity stays). */
  forgetFetched(): void {
    for (const state of this.#states.values()) {
      delete state.snapshot;
      delete state.lastFailure;
      state.lastMissRefresh = 0;
    }
  }
}
