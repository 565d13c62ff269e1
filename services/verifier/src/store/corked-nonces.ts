import type { NonceStore } from "@sigilum-gw/shared/replay";
import type { Redis } from "ioredis";

/**
 * The nonce checks of one event-loop turn leave in one socket write: the first check of a turn corks the Redis
 * connection's socket and a setImmediate uncorks it, so the SETs ioredis writes one by one go out as a single
 * writev. Same batching as ioredis auto-pipelining, which this replaces on the hot path: its Pipeline objects keep
 * each other alive across young-generation GCs (~3.8 MB promoted per scavenge, 4–5 ms pauses), while corking
 * promotes almost nothing and costs ~4 µs less CPU per decision (both measured, docs/decisions.md "Verifier").
 */
export class CorkedNonceStore implements NonceStore {
  readonly #redis: Redis;
  readonly #inner: NonceStore;
  #corked: Redis["stream"] | undefined;

  /** `inner` sends its commands through `redis`, a client without auto-pipelining. */
  constructor(redis: Redis, inner: NonceStore) {
    this.#redis = redis;
    this.#inner = inner;
  }

  checkAndRecord(namespace: string, nonce: string, ttlSeconds: number): Promise<boolean> {
    // Only a ready connection: before that ioredis refuses the command (no offline queue) without writing.
    if (this.#corked === undefined && this.#redis.status === "ready") {
      const socket = this.#redis.stream;
      socket.cork();
      this.#corked = socket;
      setImmediate(this.#uncork);
    }
    return this.#inner.checkAndRecord(namespace, nonce, ttlSeconds);
  }

  readonly #uncork = (): void => {
    const socket = this.#corked;
    this.#corked = undefined;
    // The socket corked at the start of the turn, even if ioredis has replaced it since (reconnect).
    socket?.uncork();
  };
}
