import { GatewayError } from "@sigilum-gw/shared/errors";
import { recordUpstream } from "@sigilum-gw/shared/metrics";
import type { Redis } from "ioredis";
import { z } from "zod";
import { isForbiddenAddressError } from "../http/upstream-address.ts";
import type { ProxyMetrics } from "../metrics.ts";
import type { McpDiscovery } from "../model/connection/types.ts";
import type { ConnectionStore } from "../store/connections.ts";
import { describeUpstreamError } from "./errors.ts";
import type { DiscoveredServer, DiscoveredTool, McpUpstreams, UpstreamTarget } from "./upstream.ts";

/**
 * Discovery with a cache shared by every replica (spec §6.5): one Redis key per connection holding the last
 * discovery (server, tools, when, last error). `auto` serves a fresh copy without any network call — fresh means
 * younger than GATEWAY_MCP_DISCOVERY_CACHE_TTL_SECONDS and, for a 2026-07-28 server, than the list result's own
 * `ttlMs`; otherwise (and always in `force`) the server is asked. A failed refresh keeps the previous tools, and
 * in `auto` they are served as `stale_if_error` while younger than TTL + GATEWAY_MCP_DISCOVERY_STALE_IF_ERROR_SECONDS;
 * past that, a clean 502 MCP_DISCOVERY_FAILED. Each refresh is also mirrored on the connection (admin JSON).
 */

export type RefreshMode = "auto" | "force";
export type DiscoverySource = "cache_hit" | "refreshed" | "stale_if_error";

export interface DiscoverySnapshot {
  server: DiscoveredServer["server"];
  tools: DiscoveredTool[];
  /** Epoch ms of the last successful discovery (null: never). */
  last_discovered_at: number | null;
  last_discovery_error?: string;
  /** The server's own freshness for its tool list (2026-07-28), ms. */
  ttl_ms?: number;
}

const snapshotSchema = z.object({
  server: z.object({
    name: z.string().optional(),
    version: z.string().optional(),
    protocol_version: z.string().optional(),
  }),
  tools: z.array(
    z.object({ name: z.string(), description: z.string().optional(), input_schema: z.string().optional() }),
  ),
  last_discovered_at: z.number().nullable(),
  last_discovery_error: z.string().optional(),
  ttl_ms: z.number().optional(),
});

const REFRESH_ALIASES: Record<string, RefreshMode> = {
  auto: "auto",
  if_stale: "auto",
  cache: "auto",
  false: "auto",
  "0": "auto",
  no: "auto",
  force: "force",
  always: "force",
  true: "force",
  "1": "force",
  yes: "force",
};

/** Query `refresh` (spec §6.5); empty → the route's default. */
export function parseRefreshMode(raw: string | null, fallback: RefreshMode): RefreshMode {
  const value = (raw ?? "").trim().toLowerCase();
  if (value === "") return fallback;
  const mode = REFRESH_ALIASES[value];
  if (!mode) {
    throw new GatewayError(
      "INVALID_REFRESH_MODE",
      `invalid refresh mode ${JSON.stringify((raw ?? "").slice(0, 64))}: expected auto|force`,
    );
  }
  return mode;
}

export interface DiscoveryOptions {
  redis: Redis;
  key: (connectionId: string) => string;
  upstreams: McpUpstreams;
  connections: ConnectionStore;
  metrics: ProxyMetrics;
  ttlMs: number;
  staleMs: number;
  now: () => number;
  onStale?: (connectionId: string, error: string) => void;
}

export interface DiscoveryResult {
  snapshot: DiscoverySnapshot;
  source: DiscoverySource;
}

export class DiscoveryService {
  readonly #opts: DiscoveryOptions;
  /** One refresh at a time per connection in this process. */
  readonly #inflight = new Map<string, Promise<DiscoverySnapshot>>();
  /** The last value read per connection and its parse, so an unchanged entry is not parsed again. */
  readonly #parsed = new Map<string, { raw: string; snapshot: DiscoverySnapshot }>();

  constructor(opts: DiscoveryOptions) {
    this.#opts = opts;
  }

  async get(target: UpstreamTarget, mode: RefreshMode): Promise<DiscoveryResult> {
    const id = target.record.id;
    const cached = await this.read(id);
    if (mode === "auto" && cached && this.#isFresh(cached)) {
      this.#opts.metrics.mcp.mcpDiscoveryTotal.inc({ result: "cache_hit" });
      return { snapshot: cached, source: "cache_hit" };
    }
    const started = performance.now();
    try {
      const snapshot = await this.#refresh(target, cached);
      this.#opts.metrics.mcp.mcpDiscoveryTotal.inc({ result: "success" });
      recordUpstream(this.#opts.metrics.upstream, "mcp", "success", (performance.now() - started) / 1000);
      return { snapshot, source: "refreshed" };
    } catch (err) {
      const seconds = (performance.now() - started) / 1000;
      const message = describeUpstreamError(err, target.credential ? [target.credential] : []);
      const failed = await this.#recordFailure(target, cached, message);
      recordUpstream(this.#opts.metrics.upstream, "mcp", "error", seconds, "mcp_discovery_failed");
      if (isForbiddenAddressError(err)) {
        this.#opts.metrics.mcp.mcpDiscoveryTotal.inc({ result: "error" });
        throw new GatewayError("UPSTREAM_ADDRESS_FORBIDDEN");
      }
      if (mode === "auto" && this.#staleUsable(failed)) {
        this.#opts.metrics.mcp.mcpDiscoveryTotal.inc({ result: "stale_if_error" });
        this.#opts.onStale?.(id, message);
        return { snapshot: failed, source: "stale_if_error" };
      }
      this.#opts.metrics.mcp.mcpDiscoveryTotal.inc({ result: "error" });
      throw new GatewayError("MCP_DISCOVERY_FAILED", `mcp discovery failed: ${message}`);
    }
  }

  async read(connectionId: string): Promise<DiscoverySnapshot | undefined> {
    const raw = await this.#opts.redis.get(this.#opts.key(connectionId));
    if (raw === null) return undefined;
    const known = this.#parsed.get(connectionId);
    if (known?.raw === raw) return known.snapshot;
    let snapshot: DiscoverySnapshot;
    try {
      snapshot = snapshotSchema.parse(JSON.parse(raw)) as DiscoverySnapshot;
    } catch {
      return undefined; // a corrupt entry is a miss, never a tool list
    }
    if (this.#parsed.size >= 10_000) this.#parsed.clear();
    this.#parsed.set(connectionId, { raw, snapshot });
    return snapshot;
  }

  async forget(connectionId: string): Promise<void> {
    await this.#opts.redis.del(this.#opts.key(connectionId));
  }

  #ttlFor(snapshot: DiscoverySnapshot): number {
    return snapshot.ttl_ms === undefined ? this.#opts.ttlMs : Math.min(this.#opts.ttlMs, snapshot.ttl_ms);
  }

  #age(snapshot: DiscoverySnapshot): number {
    return Math.max(0, this.#opts.now() - (snapshot.last_discovered_at ?? 0));
  }

  #isFresh(snapshot: DiscoverySnapshot): boolean {
    const ttl = this.#ttlFor(snapshot);
    return (
      ttl > 0 &&
      snapshot.tools.length > 0 &&
      snapshot.last_discovered_at !== null &&
      snapshot.last_discovery_error === undefined &&
      this.#age(snapshot) <= ttl
    );
  }

  #staleUsable(snapshot: DiscoverySnapshot): boolean {
    return (
      this.#opts.staleMs > 0 &&
      snapshot.tools.length > 0 &&
      snapshot.last_discovered_at !== null &&
      this.#age(snapshot) <= this.#ttlFor(snapshot) + this.#opts.staleMs
    );
  }

  #refresh(target: UpstreamTarget, cached: DiscoverySnapshot | undefined): Promise<DiscoverySnapshot> {
    const id = target.record.id;
    let running = this.#inflight.get(id);
    if (!running) {
      running = (async () => {
        const found = await this.#opts.upstreams.discover(target);
        const snapshot: DiscoverySnapshot = {
          server: found.server,
          tools: found.tools,
          last_discovered_at: this.#opts.now(),
          ...(found.ttlMs !== undefined ? { ttl_ms: found.ttlMs } : {}),
        };
        await this.#save(id, snapshot, cached);
        return snapshot;
      })().finally(() => this.#inflight.delete(id));
      this.#inflight.set(id, running);
    }
    return running;
  }

  async #recordFailure(
    target: UpstreamTarget,
    cached: DiscoverySnapshot | undefined,
    message: string,
  ): Promise<DiscoverySnapshot> {
    const failed: DiscoverySnapshot = {
      server: cached?.server ?? {},
      tools: cached?.tools ?? [],
      last_discovered_at: cached?.last_discovered_at ?? null,
      last_discovery_error: message,
      ...(cached?.ttl_ms !== undefined ? { ttl_ms: cached.ttl_ms } : {}),
    };
    await this.#save(target.record.id, failed, cached).catch(() => {});
    return failed;
  }

  async #save(
    id: string,
    snapshot: DiscoverySnapshot,
    previous: DiscoverySnapshot | undefined,
  ): Promise<void> {
    const keepMs = Math.max(this.#opts.ttlMs + this.#opts.staleMs, 60_000);
    await this.#opts.redis.set(this.#opts.key(id), JSON.stringify(snapshot), "PX", keepMs);
    if (previous && sameDiscovery(previous, snapshot)) return;
    // The connection's own copy (admin JSON); written only when something a reader sees changed.
    await this.#opts.connections
      .update(id, (record) => ({ ...record, mcp_discovery: toRecordDiscovery(snapshot) }))
      .catch(() => {});
  }
}

function sameDiscovery(a: DiscoverySnapshot, b: DiscoverySnapshot): boolean {
  return (
    a.last_discovery_error === b.last_discovery_error &&
    JSON.stringify(a.server) === JSON.stringify(b.server) &&
    JSON.stringify(a.tools) === JSON.stringify(b.tools)
  );
}

export function toRecordDiscovery(snapshot: DiscoverySnapshot): McpDiscovery {
  const out: McpDiscovery = { server: snapshot.server, last_discovered_at: snapshot.last_discovered_at };
  if (snapshot.tools.length > 0) out.tools = snapshot.tools;
  if (snapshot.last_discovery_error) out.last_discovery_error = snapshot.last_discovery_error;
  return out;
}

/** The MCPDiscovery JSON of spec §5.1 for a snapshot. */
export function discoveryJson(snapshot: DiscoverySnapshot, formatTime: (ms: number | null) => string) {
  const out: Record<string, unknown> = { server: snapshot.server };
  if (snapshot.tools.length > 0) out["tools"] = snapshot.tools;
  out["last_discovered_at"] = formatTime(snapshot.last_discovered_at);
  if (snapshot.last_discovery_error) out["last_discovery_error"] = snapshot.last_discovery_error;
  return out;
}
