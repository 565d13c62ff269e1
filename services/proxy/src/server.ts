import type { IncomingMessage, Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { createAuthzTokenCodec } from "@sigilum-gw/shared/authz-token";
import type { BrowserGuardPolicy } from "@sigilum-gw/shared/browser-guard";
import { createTrustedProxies } from "@sigilum-gw/shared/client-ip";
import { serviceApiKeyFor } from "@sigilum-gw/shared/config";
import { createHostAllowlist } from "@sigilum-gw/shared/host-allowlist";
import { createLogger, decisionLog, type Logger } from "@sigilum-gw/shared/logger";
import type { DrainOutcome } from "@sigilum-gw/shared/metrics";
import { requestIdFrom } from "@sigilum-gw/shared/request-id";
import {
  createServiceServer,
  drainServer,
  listenOn,
  opsRoutes,
  settleWithin,
  trackRequests,
} from "@sigilum-gw/shared/service-shell";
import { createAdminApp } from "./admin/router.ts";
import { CatalogStore } from "./catalog/store.ts";
import type { ProxyConfig } from "./config.ts";
import { applyCors } from "./http/cors.ts";
import { upstreamAddressGuard } from "./http/upstream-address.ts";
import { DiscoveryService } from "./mcp/discovery.ts";
import { ToolCallRateLimiter } from "./mcp/rate-limit.ts";
import type { McpDeps } from "./mcp/request.ts";
import { SharedSessions } from "./mcp/shared-session.ts";
import { McpUpstreams } from "./mcp/upstream.ts";
import { createProxyMetrics, type ProxyMetrics } from "./metrics.ts";
import { type Authorizer, createEnvoyAuthorizer, createInlineAuthorizer } from "./pipeline/authorize.ts";
import { asLoggable, writeError, writeFailure } from "./pipeline/errors.ts";
import type { ProxyContext } from "./pipeline/exchange.ts";
import { Forwarder } from "./pipeline/forward.ts";
import type { RuntimeDeps } from "./pipeline/proxy-request.ts";
import { ConnectionResolver } from "./pipeline/resolve.ts";
import { WebSocketRelay } from "./pipeline/websocket.ts";
import { createAdminGuard } from "./service/admin-guard.ts";
import { startClaimRecheck } from "./service/claim-recheck.ts";
import { openProxyRedis } from "./service/redis.ts";
import { createProxyRouter } from "./service/router.ts";
import { BackupStore } from "./store/backup.ts";
import { ConnectionCache } from "./store/cache.ts";
import { ConnectionStore } from "./store/connections.ts";
import { createSecretBox } from "./store/crypto.ts";
import { RedisEventPublisher, RedisEventSubscriber } from "./store/events.ts";
import { createProxyKeys } from "./store/keys.ts";
import { PairingKeyStore } from "./store/pairing-key.ts";
import { VariableStore } from "./store/variables.ts";
import { startUsageDelivery } from "./usage/delivery.ts";
import type { UsageRecording } from "./usage/event.ts";
import { UsageRecorder } from "./usage/queue.ts";

/**
 * Wiring only: builds the stores, stages and routes from the configuration and serves them on one HTTP server
 * (runtime `/proxy/*` and `/slack*`, `/api/admin/*`, health, metrics; routing in service/router.ts).
 */

export interface ProxyOptions {
  logger?: Logger;
  now?: () => number;
}

export interface ProxyInstance {
  server: Server;
  metrics: ProxyMetrics;
  forwarder: Forwarder;
  connections: ConnectionStore;
  usage: UsageRecorder;
  /** Fields of the listening line. */
  listening: Record<string, unknown>;
  /** Binds the configured address; rejects with a message naming the env var when the port is taken. */
  start(): Promise<AddressInfo>;
  /** Graceful drain then release of every resource; resolves with the drain outcome. */
  stop(): Promise<DrainOutcome>;
}

export function createProxy(config: ProxyConfig, opts: ProxyOptions = {}): ProxyInstance {
  const logger = opts.logger ?? createLogger("proxy", { level: config.logLevel });
  const now = opts.now ?? Date.now;
  const metrics = createProxyMetrics();
  const keys = createProxyKeys(config.redisPrefix);
  const clients = openProxyRedis(config.redisUrl, logger);
  const { redis } = clients;

  const box = createSecretBox({ masterKey: config.masterKey, previousMasterKey: config.previousMasterKey });
  const events = new RedisEventPublisher(redis, keys.events);
  const connections = new ConnectionStore({ redis, keys, box, events });
  const variables = new VariableStore({ redis, keys, box, events });
  const cache = new ConnectionCache({ connections, variables });
  const mcpGuard = upstreamAddressGuard(config.allowLinkLocalUpstreams);
  const upstreams = new McpUpstreams({
    guard: mcpGuard,
    shared: new SharedSessions({ redis, box, key: keys.mcpUpstream, lockKey: keys.mcpUpstreamLock }),
    timeoutMs: config.mcp.timeoutMs,
    breaker: { failures: config.mcp.breakerFailures, cooldownMs: config.mcp.breakerCooldownMs },
  });

  const codec = createAuthzTokenCodec(config.internalSecret);
  const authorizer: Authorizer =
    config.authzMode === "envoy"
      ? createEnvoyAuthorizer(codec)
      : createInlineAuthorizer({ verifierUrl: config.verifierUrl, codec, timeoutMs: config.authzTimeoutMs });
  const forwarder = new Forwarder({
    timeoutMs: config.proxyTimeoutMs,
    allowLinkLocal: config.allowLinkLocalUpstreams,
  });
  const usage = new UsageRecorder({
    connection: clients.queue,
    prefix: keys.bullmq,
    maxQueuedBatches: config.usageQueueMaxBatches,
    onDropped: (n, reason) => metrics.usageEventsDropped.inc({ reason }, n),
    onError: (err) => logger.warn({ err }, "usage events could not be queued"),
    onDepth: (batches) => metrics.usageQueueDepth.set(batches),
  });
  // Embedded delivery only: with GATEWAY_USAGE_DELIVERY=separate a usage-worker process consumes the queue.
  const delivery =
    config.registryUrl && config.usageDelivery === "embedded"
      ? startUsageDelivery({
          registryUrl: config.registryUrl,
          identity: config.identity,
          serviceKeyFor: (service) => serviceApiKeyFor(service, config.serviceApiKeyEnv),
          connection: clients.queue.duplicate(),
          prefix: keys.bullmq,
          logger,
          logDecisions: config.logDecisions,
          submitFailed: metrics.usageSubmitFailed,
        })
      : undefined;

  if (config.previousMasterKey) {
    Promise.all([connections.reencryptStale(), variables.reencryptStale()])
      .then(([c, v]) =>
        logger.info({ connections: c, variables: v }, "re-sealed secrets under the current master key"),
      )
      .catch((err: unknown) =>
        logger.error({ err }, "re-sealing secrets under the current master key failed"),
      );
  }

  const stages: ProxyContext = {
    authorizer,
    resolver: new ConnectionResolver(cache, {
      rotationEnforcement: config.rotationEnforcement,
      rotationGraceDays: config.rotationGraceDays,
      now,
    }),
    maxBodyBytes: config.maxBodyBytes,
  };
  const runtime: RuntimeDeps = {
    stages,
    forwarder,
    metrics,
    usage,
    usageDurable: config.usageDurability === "durable",
    logger,
    logDecisions: config.logDecisions,
    trustedProxies: createTrustedProxies(config.trustedProxyCidrs),
  };
  const discovery = new DiscoveryService({
    redis,
    key: keys.mcpDiscovery,
    upstreams,
    connections,
    metrics,
    ttlMs: config.mcp.discoveryTtlMs,
    staleMs: config.mcp.staleIfErrorMs,
    now,
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
  const usageRecording: UsageRecording = {
    sink: usage,
    durable: runtime.usageDurable,
    notStored: () => metrics.usageEventsDropped.inc({ reason: "not_stored" }),
  };
  const mcp: McpDeps = {
    ...runtime,
    usage: usageRecording,
    discovery,
    upstreams,
    limiter,
    passthrough: { discovery, limiter, timeoutMs: config.mcp.timeoutMs, guard: mcpGuard },
  };
  const websockets = new WebSocketRelay({
    stages,
    trustedProxies: runtime.trustedProxies,
    logger,
    handshakeTimeoutMs: config.proxyTimeoutMs,
    maxPayloadBytes: config.maxBodyBytes,
    allowLinkLocal: config.allowLinkLocalUpstreams,
    usage: usageRecording,
  });
  const recheck = startClaimRecheck({
    websockets,
    verifierUrl: config.verifierUrl,
    internalSecret: config.internalSecret,
    logger,
  });
  const subscriber = new RedisEventSubscriber(clients.subscriber, keys.events);
  subscriber.onEvent((event) => {
    cache.handle(event);
    if (event.type === "connection.deleted") upstreams.forget(event.id);
  });
  subscriber.onClaimsChanged((service) => recheck.claimsChanged(service));
  subscriber.onLiveChange((live) => {
    if (live !== cache.live)
      logger.info(
        { live },
        live
          ? "cache invalidation channel up"
          : "cache invalidation channel down: reading Redis on every request",
      );
    cache.setLive(live);
  });
  subscriber.start().catch((err: unknown) => logger.error({ err }, "events subscription failed"));

  const allowedOrigins = new Set(config.admin.allowedOrigins);
  const browserGuard: BrowserGuardPolicy = {
    hosts: createHostAllowlist([config.publicUrl], config.allowedHosts, { anyIpAddress: true }),
    allowedOrigins,
  };
  const adminGuard = createAdminGuard({
    config,
    browserGuard,
    trustedProxies: runtime.trustedProxies,
    logger,
  });
  let closing = false;
  const dispatch = createProxyRouter({
    ops: opsRoutes({
      service: "proxy",
      registry: metrics.registry,
      decorate: (req, res) => applyCors(req, res, allowedOrigins),
      allowMetrics: adminGuard,
      async ready() {
        if (closing) return { ready: false, message: "gateway is shutting down" };
        return {
          ready: await connections.ping().then(
            () => true,
            () => false,
          ),
        };
      },
    }),
    adminGuard,
    adminApp: createAdminApp({
      backup: new BackupStore({ redis, keys, box, events }),
      connections,
      variables,
      catalog: new CatalogStore(redis, keys.catalog),
      cache,
      pairingKey: new PairingKeyStore(redis, keys.pairingKey, box),
      maxBodyBytes: config.maxBodyBytes,
      now,
      mcp: { discovery, upstreams },
      allowLinkLocalUpstreams: config.allowLinkLocalUpstreams,
    }),
    adminTimeoutMs: config.admin.timeoutMs,
    runtime,
    mcp,
    logger,
  });

  const server = createServiceServer(
    {
      requestTimeout: 60_000,
      headersTimeout: 5_000,
      keepAliveTimeout: 120_000,
      // Request headers are capped at 1 MiB (spec §8.4).
      maxHeaderSize: 1024 * 1024,
    },
    (req, res) => {
      const requestId = requestIdFrom(req.headers);
      if (closing) {
        res.setHeader("connection", "close");
        writeError(res, "SERVICE_UNAVAILABLE", requestId, { message: "gateway is shutting down" });
        return;
      }
      dispatch(req, res, requestId).catch((err: unknown) => writeFailure(res, err, requestId, logger));
    },
  );
  const inFlight = trackRequests(server, metrics.lifecycle);
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const requestId = requestIdFrom(req.headers);
    if (closing) return void socket.destroy();
    websockets.handleUpgrade(req, socket, head, requestId).catch((err: unknown) => {
      logger.error({ err: asLoggable(err), request_id: requestId }, "websocket upgrade failed");
      socket.destroy();
    });
  });

  /** Every step is bounded: Redis or an upstream may be gone, and shutdown must still finish. */
  async function releaseResources(): Promise<void> {
    await usage.close();
    await settleWithin(delivery?.close(), 2000);
    await settleWithin(authorizer.close(), 2000);
    await settleWithin(forwarder.close(), 2000);
    await settleWithin(upstreams.close(), 2000);
    await settleWithin(mcpGuard.dispatcher.close(), 2000);
    recheck.stop();
    websockets.close();
    await forwarder.destroy().catch(() => {});
    await subscriber.close().catch(() => {});
    await clients.close();
  }

  return {
    server,
    metrics,
    forwarder,
    connections,
    usage,
    listening: { mode: config.authzMode, variable: config.listenVariable },
    async start() {
      // Serve only once Redis answers (or after 5 s; then /health/ready reports it and requests get 503s).
      await clients.ready(5000);
      return listenOn(server, config.listen, config.listenVariable);
    },
    async stop() {
      closing = true;
      const started = performance.now();
      const outcome = await drainServer(server, inFlight, config.shutdownTimeoutMs, metrics.lifecycle);
      logger.info({ outcome, seconds: (performance.now() - started) / 1000 }, "proxy drained");
      await releaseResources();
      return outcome;
    },
  };
}
