import { randomUUID } from "node:crypto";
import { encodeEvent, type GatewayEvent, parseEvent } from "@sigilum-gw/shared/redis-keys";
import type { Redis } from "ioredis";

/**
 * Cache invalidation between replicas over the shared events channel. Pub/sub is at-most-once, so subscribers
 * also drop everything when their connection (re)subscribes, and caches keep a short TTL.
 */

export type StoreEvent =
  | { type: "connection.changed"; id: string }
  | { type: "connection.deleted"; id: string }
  | { type: "variable.changed"; id: string };

/** `resync` is local: the subscription was (re)established and anything may have been missed. */
export type StoreEventOrResync = StoreEvent | { type: "resync" };

export interface EventPublisher {
  publish(event: StoreEvent): Promise<void>;
}

/** Identifies this process's events (informational; a replica still applies its own events). */
export const EVENT_SOURCE = `proxy:${randomUUID()}`;

export class RedisEventPublisher implements EventPublisher {
  readonly #redis: Redis;
  readonly #channel: string;

  constructor(redis: Redis, channel: string) {
    this.#redis = redis;
    this.#channel = channel;
  }

  async publish(event: StoreEvent): Promise<void> {
    await this.#redis.publish(this.#channel, encodeEvent({ ...event, source: EVENT_SOURCE }));
  }
}

function toStoreEvent(event: GatewayEvent): StoreEvent | undefined {
  switch (event.type) {
    case "connection.changed":
    case "connection.deleted":
    case "variable.changed":
      return { type: event.type, id: event.id };
    default:
      // Other services' events (claims) are not ours.
      return undefined;
  }
}

export class RedisEventSubscriber {
  readonly #redis: Redis;
  readonly #channel: string;
  readonly #handlers = new Set<(event: StoreEventOrResync) => void>();
  readonly #liveHandlers = new Set<(live: boolean) => void>();
  readonly #claimsHandlers = new Set<(service: string) => void>();
  #started = false;
  #closed = false;

  /** `redis` must be a connection dedicated to this subscriber (it enters subscribe mode). */
  constructor(redis: Redis, channel: string) {
    this.#redis = redis;
    this.#channel = channel;
    this.#redis.on("message", (channel: string, message: string) => {
      if (channel !== this.#channel) return;
      const parsed = parseEvent(message);
      if (parsed?.type === "claims.changed")
        for (const handler of this.#claimsHandlers) handler(parsed.service);
      const event = parsed ? toStoreEvent(parsed) : undefined;
      if (event) this.#emit(event);
    });
    // Messages published while the connection is down are lost: report "not live" at once, and "live" again
    // only once the channel is subscribed anew (so caches are cleared and rebuilt from Redis).
    this.#redis.on("close", () => this.#setLive(false));
    this.#redis.on("ready", () => {
      if (this.#started) void this.#subscribe();
    });
  }

  async start(): Promise<void> {
    this.#started = true;
    await this.#subscribe();
  }

  /** The control plane changed a service's approved claims (open WebSockets are re-checked). */
  onClaimsChanged(handler: (service: string) => void): void {
    this.#claimsHandlers.add(handler);
  }

  onEvent(handler: (event: StoreEventOrResync) => void): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  /** Called with true when the channel is subscribed, false when the connection drops. */
  onLiveChange(handler: (live: boolean) => void): () => void {
    this.#liveHandlers.add(handler);
    return () => this.#liveHandlers.delete(handler);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#setLive(false);
    this.#handlers.clear();
    this.#liveHandlers.clear();
    this.#redis.disconnect();
  }

  async #subscribe(): Promise<void> {
    try {
      await this.#redis.subscribe(this.#channel);
      if (!this.#closed) {
        this.#emit({ type: "resync" });
        this.#setLive(true);
      }
    } catch {
      this.#setLive(false);
    }
  }

  #setLive(live: boolean): void {
    for (const handler of this.#liveHandlers) handler(live);
  }

  #emit(event: StoreEventOrResync): void {
    for (const handler of this.#handlers) handler(event);
  }
}
