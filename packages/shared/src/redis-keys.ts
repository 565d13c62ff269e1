import { z } from "zod";

/**
 * Every Redis key and channel the services share (DESIGN.md §4), under one configurable prefix (REDIS_PREFIX,
 * "sigilum:" by default). Keys that must live together in Redis Cluster carry a hash tag (`{...}`): a namespace's
 * nonces, a service's claims snapshot with its metadata and lock.
 */

export const DEFAULT_REDIS_PREFIX = "sigilum:";

export const QUEUES = {
  claimSubmissions: "claim-submissions",
  usageEvents: "usage-events",
  webhooks: "webhooks",
} as const;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/** Braces would move the cluster hash tag; valid ids never contain them, so this only defuses hostile input. */
function tag(value: string): string {
  return value.replace(/[{}%]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function eventsChannel(prefix: string = DEFAULT_REDIS_PREFIX): string {
  return `${prefix}events`;
}

/** Pub/sub channel for invalidation between replicas, with the default prefix. */
export const EVENTS_CHANNEL = eventsChannel();

export function createRedisKeys(prefix: string = DEFAULT_REDIS_PREFIX) {
  return {
    prefix,
    /** `<run id> <began> <margin>`: when the replay window's data set began (replay-epoch.ts). */
    replayEpoch: () => `${prefix}replay-epoch`,
    /** Replay window entry: `SET NX EX`. */
    nonce: (namespace: string, nonce: string) => `${prefix}nonce:{${tag(namespace)}}:${nonce}`,
    /** Approved (namespace, public key, subject) set of a service. */
    claims: (service: string) => `${prefix}claims:{${tag(service)}}`,
    /** fetched-at / expires-at of that snapshot (same slot as the set). */
    claimsMeta: (service: string) => `${prefix}claims:{${tag(service)}}:meta`,
    /** Services with a claims copy, scored by fetch time (what a starting verifier preloads). */
    claimsIndex: () => `${prefix}claims-index`,
    /** Single-flight refresh lock across replicas (same slot). */
    claimsLock: (service: string) => `${prefix}claims:{${tag(service)}}:lock`,
    /** Why the last claim submission of (service, agent key) failed for good, shown in the agent's next 403. */
    claimSubmitFailure: (service: string, claimId: string) =>
      `${prefix}claims:{${tag(service)}}:failed:${claimId}`,
    /** Pub/sub channel: a claim submission's job settled (recorded, retrying or refused for good). */
    claimSubmitSettled: () => `${prefix}claim-submissions:settled`,
    /** A connection, secrets AES-256-GCM encrypted. */
    connection: (id: string) => `${prefix}conn:${id}`,
    /** Set of every connection id. */
    connectionIds: () => `${prefix}conn-ids`,
    /** A shared credential variable, encrypted. */
    variable: (key: string) => `${prefix}var:${key}`,
    /** Set of every variable key. */
    variableKeys: () => `${prefix}var-keys`,
    /** Cached MCP discovery result of a connection. */
    mcpDiscovery: (connectionId: string) => `${prefix}mcp:disc:${connectionId}`,
    /** A connection's upstream MCP state shared by the proxy replicas (era, 2025 session), sealed. */
    mcpUpstream: (connectionId: string) => `${prefix}mcp:up:${connectionId}`,
    /** Single-flight handshake lock for that state across replicas. */
    mcpUpstreamLock: (connectionId: string) => `${prefix}mcp:up-lock:${connectionId}`,
    /** keyPrefix for a rate-limiter-flexible limiter (it appends `:<key>`). */
    rateLimit: (limiter: string) => `${prefix}rl:${limiter}`,
    /** Circuit breaker state of a connection's upstream. */
    circuitBreaker: (connectionId: string) => `${prefix}cb:${connectionId}`,
    /** bullmq `prefix` option: all queues in one hash slot, as bullmq requires on Redis Cluster. */
    bullmqPrefix: () => `${prefix}{bull}`,
    events: eventsChannel(prefix),
  };
}

export type RedisKeys = ReturnType<typeof createRedisKeys>;

const at = z.iso.datetime({ offset: true });
const id = z.string().min(1).max(256);

/** Messages on the events channel. `source` lets a replica skip its own events. */
export const gatewayEventSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("connection.changed"), id, at, source: z.string().max(256).optional() }),
  z.object({ type: z.literal("connection.deleted"), id, at, source: z.string().max(256).optional() }),
  z.object({ type: z.literal("variable.changed"), id, at, source: z.string().max(256).optional() }),
  z.object({ type: z.literal("claims.changed"), service: id, at, source: z.string().max(256).optional() }),
  /** A verifier wrote a fresh claims copy to Redis: replicas waiting on its refresh lock adopt it now. */
  z.object({ type: z.literal("claims.shared"), service: id, at, source: z.string().max(256).optional() }),
]);

export type GatewayEvent = z.infer<typeof gatewayEventSchema>;

type WithoutAt<E> = E extends unknown ? Omit<E, "at"> : never;

/** JSON for PUBLISH; `at` defaults to now. */
export function encodeEvent(event: WithoutAt<GatewayEvent> & { at?: string }): string {
  return JSON.stringify(gatewayEventSchema.parse({ ...event, at: event.at ?? new Date().toISOString() }));
}

/** Parses a channel message; undefined for anything that is not a valid event (never throws). */
export function parseEvent(message: string | Buffer): GatewayEvent | undefined {
  try {
    const result = gatewayEventSchema.safeParse(JSON.parse(message.toString()));
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}
