import { createRedisKeys } from "@sigilum-gw/shared/redis-keys";

/**
 * Redis keys of the proxy's durable state (shared layout, DESIGN.md §4). Each record is one hash, so every write
 * to a record is a single-key (cluster-safe) script. The id sets are supersets of the stored records (written
 * before and removed after the record), so a crash never leaves a record that cannot be listed.
 */
export interface ProxyKeys {
  connection(id: string): string;
  readonly connectionIndex: string;
  variable(key: string): string;
  readonly variableIndex: string;
  /** The service catalog (one JSON value shared by every replica). */
  readonly catalog: string;
  /** The gateway's sealed-box key pair (secret key sealed under the master key). */
  readonly pairingKey: string;
  readonly events: string;
  /** bullmq `prefix` option. */
  readonly bullmq: string;
  /** Cached MCP discovery of a connection (TTL + stale-if-error window). */
  mcpDiscovery(connectionId: string): string;
  /** A connection's upstream MCP state shared by the replicas (era, 2025 session), and its handshake lock. */
  mcpUpstream(connectionId: string): string;
  mcpUpstreamLock(connectionId: string): string;
  /** keyPrefix of a rate-limiter-flexible limiter. */
  rateLimit(limiter: string): string;
}

export function createProxyKeys(prefix: string): ProxyKeys {
  const shared = createRedisKeys(prefix);
  return {
    connection: shared.connection,
    connectionIndex: shared.connectionIds(),
    variable: shared.variable,
    variableIndex: shared.variableKeys(),
    catalog: `${prefix}service-catalog`,
    pairingKey: `${prefix}pairing-key`,
    events: shared.events,
    bullmq: shared.bullmqPrefix(),
    mcpDiscovery: shared.mcpDiscovery,
    mcpUpstream: shared.mcpUpstream,
    mcpUpstreamLock: shared.mcpUpstreamLock,
    rateLimit: shared.rateLimit,
  };
}
