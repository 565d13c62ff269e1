import { decisionLog, type Logger } from "@sigilum-gw/shared/logger";
import { settleWithin } from "@sigilum-gw/shared/service-shell";
import type { Redis } from "ioredis";
import type { ProxyConfig } from "../config.ts";
import { upstreamAddressGuard } from "../http/upstream-address.ts";
import { DiscoveryService } from "../mcp/discovery.ts";
import { ToolCallRateLimiter } from "../mcp/rate-limit.ts";
import type { McpDeps } from "../mcp/request.ts";
import { SharedSessions } from "../mcp/shared-session.ts";
import { McpUpstreams } from "../mcp/upstream.ts";
import type { ProxyMetrics } from "../metrics.ts";
import type { RuntimeDeps } from "../pipeline/proxy-request.ts";
import type { ConnectionStore } from "../store/connections.ts";
import type { SecretBox } from "../store/crypto.ts";
import type { ProxyKeys } from "../store/keys.ts";
import type { UsageRecording } from "../usage/event.ts";

/** MCP: upstream sessions (shared across replicas), tool discovery with stale-if-error, the tool-call rate limit. */
export interface ProxyMcp {
  upstreams: McpUpstreams;
  discovery: DiscoveryService;
  /** What the MCP request handler needs besides the runtime's stages. */
  deps(runtime: RuntimeDeps, usage: UsageRecording): McpDeps;
  close(): Promise<void>;
}

export function createProxyMcp(deps: {
  config: ProxyConfig;
  redis: Redis;
  box: SecretBox;
  keys: ProxyKeys;
  connections: ConnectionStore;
  metrics: ProxyMetrics;
  logger: Logger;
  now: () => number;
}): ProxyMcp {
  const { config, redis, keys, logger } = deps;
  const guard = upstreamAddressGuard(config.allowLinkLocalUpstreams);
  const upstreams = new McpUpstreams({
    guard,
    shared: new SharedSessions({
      redis,
      box: deps.box,
      key: keys.mcpUpstream,
      lockKey: keys.mcpUpstreamLock,
    }),
    timeoutMs: config.mcp.timeoutMs,
    breaker: { failures: config.mcp.breakerFailures, cooldownMs: config.mcp.breakerCooldownMs },
  });
  const discovery = new DiscoveryService({
    redis,
    key: keys.mcpDiscovery,
    upstreams,
    connections: deps.connections,
    metrics: deps.metrics,
    ttlMs: config.mcp.discoveryTtlMs,
    staleMs: config.mcp.staleIfErrorMs,
    now: deps.now,
    onStale: (connection, error) => {
      if (config.logDecisions) {
        decisionLog(logger, "mcp_discovery_stale_if_error", {
          connection,
          reason_code: "MCP_DISCOVERY_STALE_IF_ERROR",
          error,
        });
      }
    },
  });
  const limiter = new ToolCallRateLimiter(
    redis,
    keys.rateLimit("mcp-tool-call"),
    config.mcp.toolCallsPerMinute,
  );
  return {
    upstreams,
    discovery,
    deps: (runtime, usage) => ({
      ...runtime,
      usage,
      discovery,
      upstreams,
      limiter,
      passthrough: { discovery, limiter, timeoutMs: config.mcp.timeoutMs, guard },
    }),
    async close() {
      await settleWithin(upstreams.close(), 2000);
      await settleWithin(guard.dispatcher.close(), 2000);
    },
  };
}
