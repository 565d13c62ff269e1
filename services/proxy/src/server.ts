import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { decideAdminAccess } from "@sigilum-gw/shared/admin-access";
import { createAuthzTokenCodec } from "@sigilum-gw/shared/authz-token";
import { type BrowserGuardPolicy, checkBrowserGuard } from "@sigilum-gw/shared/browser-guard";
import { answerClientErrors } from "@sigilum-gw/shared/client-error";
import { clientIp, createTrustedProxies } from "@sigilum-gw/shared/client-ip";
import { serviceApiKeyFor } from "@sigilum-gw/shared/config";
import { createHostAllowlist } from "@sigilum-gw/shared/host-allowlist";
import { checkRequestLimits } from "@sigilum-gw/shared/limits";
import { createLogger, decisionLog, type Logger } from "@sigilum-gw/shared/logger";
import { type DrainOutcome, metricsHandler, recordShutdownDrain } from "@sigilum-gw/shared/metrics";
import { requestIdFrom } from "@sigilum-gw/shared/request-id";
import { drainServer, listenOn, settleWithin } from "@sigilum-gw/shared/server-lifecycle";
import { Redis, type RedisOptions } from "ioredis";
import { createAdminApp } from "./admin/router.ts";
import { CatalogStore } from "./catalog/store.ts";
import type { ProxyConfig } from "./config.ts";
import { applyCors } from "./http/cors.ts";
import { DiscoveryService } from "./mcp/discovery.ts";
import { ToolCallRateLimiter } from "./mcp/rate-limit.ts";
import { handleMcpRequest, type McpDeps } from "./mcp/request.ts";
import { SharedSessions } from "./mcp/shared-session.ts";
import { McpUpstreams } from "./mcp/upstream.ts";
import { createProxyMetrics, type ProxyMetrics } from "./metrics.ts";
import { type Authorizer, createEnvoyAuthorizer, createInlineAuthorizer } from "./pipeline/authorize.ts";
import { createClaimStatusCheck } from "./pipeline/claim-status.ts";
import { asLoggable, writeDenial, writeError, writeFailure } from "./pipeline/errors.ts";
import type { ProxyContext } from "./pipeline/exchange.ts";
import { Forwarder } from "./pipeline/forward.ts";
import { handleProxyRequest, type RuntimeDeps } from "./pipeline/proxy-request.ts";
import { ConnectionResolver } from "./pipeline/resolve.ts";
import { routeOf } from "./pipeline/route.ts";
import { upstreamAddressGuard } from "./pipeline/upstream-address.ts";
import { WebSocketRelay } from "./pipeline/websocket.ts";
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
 * (runtime `/proxy/*` and `/slack*`, `/api/admin/*`, health, metrics).
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
  /** Binds the configured address; rejects with a message naming the env var when the port is taken. */
  listen(): Promise<AddressInfo>;
  /** Graceful drain then release of every resource; resolves with the drain outcome. */
  shutdown(): Promise<DrainOutcome>;
}

function redisOptions(extra: RedisOptions = {}): RedisOptions {
  return {
    lazyConnect: false,
    enableAutoPipelining: true,
    maxRetriesPerRequest: 2,
    connectTimeout: 5000,
    ...extra,
  };
}

const HEALTH_BODIES: Record<string, string> = {
  "/health": '{"check":"health","status":"ok"}\n',
  "/health/live": '{"check":"liveness","status":"ok"}\n',
};

export function createProxy(config: ProxyConfig, opts: ProxyOptions = {}): ProxyInstance {
  const logger = opts.logger ?? createLogger("proxy", { level: config.logLevel });
  const now = opts.now ?? Date.now;
  const metrics = createProxyMetrics();
  const keys = createProxyKeys(config.redisPrefix);

  // Request path: no offline queue and a short command timeout, so a dead Redis is a fast 503, never a hang.
  const redis = new Redis(config.redisUrl, redisOptions({ commandTimeout: 2000, enableOfflineQueue: false }));
  const subscriberConnection = new Redis(config.redisUrl, redisOptions({ maxRetriesPerRequest: null }));
  const queueConnection = new Redis(config.redisUrl, redisOptions({ maxRetriesPerRequest: null }));
  for (const [name, conn] of [
    ["redis", redis],
    ["subscriber", subscriberConnection],
    ["queue", queueConnection],
  ] as const) {
    conn.on("error", (err: Error) => logger.warn({ err, connection: name }, "redis connection error"));
  }

  const box = createSecretBox({ masterKey: config.masterKey, previousMasterKey: config.previousMasterKey });
  const events = new RedisEventPublisher(redis, keys.events);
  const connections = new ConnectionStore({ redis, keys, box, events });
  const variables = new VariableStore({ redis, keys, box, events });
  const catalog = new CatalogStore(redis, keys.catalog);
  const cache = new ConnectionCache({ connections, variables });
  const subscriber = new RedisEventSubscriber(subscriberConnection, keys.events);
  const mcpGuard = upstreamAddressGuard(config.allowLinkLocalUpstreams);
  const upstreams = new McpUpstreams({
    guard: mcpGuard,
    shared: new SharedSessions({ redis, box, key: keys.mcpUpstream, lockKey: keys.mcpUpstreamLock }),
    timeoutMs: config.mcp.timeoutMs,
    breaker: { failures: config.mcp.breakerFailures, cooldownMs: config.mcp.breakerCooldownMs },
  });
  // WebSockets admitted earlier are re-checked when a claim changes, and every 30 s in case an event was missed.
  let websockets: WebSocketRelay | undefined;
  const claimStillApproved = createClaimStatusCheck(config.verifierUrl, config.internalSecret, 5000);
  const recheckWebSockets = (connectionId?: string) => {
    if (!websockets) return;
    const ids = connectionId
      ? [connectionId]
      : [...new Set(websockets.sessions().map((s) => s.connectionId))];
    for (const id of ids) {
      websockets
        .revoke(id, (identity) => claimStillApproved(id, identity))
        .then((closed) => {
          if (closed > 0) logger.info({ connection: id, closed }, "websocket sessions closed: claim revoked");
        })
        .catch((err: unknown) => logger.warn({ err, connection: id }, "websocket claim re-check failed"));
    }
  };
  const recheckTimer = setInterval(() => recheckWebSockets(), 30_000);
  recheckTimer.unref();
  subscriber.onEvent((event) => {
    cache.handle(event);
    if (event.type === "connection.deleted") upstreams.forget(event.id);
  });
  subscriber.onClaimsChanged((service) => {
    recheckWebSockets(service);
    // Again shortly after: the verifiers hear the same event and may still have been refreshing.
    setTimeout(() => recheckWebSockets(service), 1000).unref();
  });
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
    connection: queueConnection,
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
          connection: queueConnection.duplicate(),
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
  websockets = new WebSocketRelay({
    stages,
    trustedProxies: runtime.trustedProxies,
    logger,
    handshakeTimeoutMs: config.proxyTimeoutMs,
    maxPayloadBytes: config.maxBodyBytes,
    allowLinkLocal: config.allowLinkLocalUpstreams,
    usage: usageRecording,
  });
  const allowedOrigins = new Set(config.admin.allowedOrigins);
  const browserGuard: BrowserGuardPolicy = {
    hosts: createHostAllowlist([config.publicUrl], config.allowedHosts, { anyIpAddress: true }),
    allowedOrigins,
  };
  const adminApp = createAdminApp({
    backup: new BackupStore({ redis, keys, box, events }),
    connections,
    variables,
    catalog,
    cache,
    pairingKey: new PairingKeyStore(redis, keys.pairingKey, box),
    maxBodyBytes: config.maxBodyBytes,
    now,
    mcp: { discovery, upstreams },
    allowLinkLocalUpstreams: config.allowLinkLocalUpstreams,
  });
  const serveMetrics = metricsHandler(metrics.registry);

  let closing = false;
  let inFlight = 0;

  function adminGuard(req: IncomingMessage, res: ServerResponse, requestId: string, path: string): boolean {
    applyCors(req, res, allowedOrigins);
    if (req.method === "OPTIONS") {
      res.statusCode = 204;
      res.setHeader("x-request-id", requestId);
      res.end();
      return false;
    }
    const ip = clientIp(req, runtime.trustedProxies);
    const refused = checkBrowserGuard(browserGuard, req.headers);
    const decision = refused
      ? ({ allowed: false, code: refused } as const)
      : decideAdminAccess(config.admin, req.headers, ip);
    if (config.logDecisions) {
      decisionLog(logger, decision.allowed ? "admin_access_granted" : "admin_access_denied", {
        request_id: requestId,
        mode: config.admin.mode,
        path,
        method: req.method,
        remote_ip: ip,
        decision: decision.allowed ? "allow" : "deny",
        ...(decision.allowed ? { via: decision.via } : { reason_code: decision.code }),
      });
    }
    if (!decision.allowed) {
      writeError(res, decision.code, requestId);
      return false;
    }
    return true;
  }

  function serveAdmin(req: IncomingMessage, res: ServerResponse, requestId: string, path: string): void {
    if (!adminGuard(req, res, requestId, path)) return;
    const controller = new AbortController();
    const timer = setTimeout(() => {
      controller.abort(new Error("admin request deadline exceeded"));
      if (!res.headersSent) {
        writeError(res, "SERVICE_UNAVAILABLE", requestId, { message: "admin request timed out" });
      }
    }, config.admin.timeoutMs);
    res.once("close", () => clearTimeout(timer));
    adminApp(req, res, {
      requestId,
      signal: controller.signal,
      onError: (err) => logger.error({ err: asLoggable(err), request_id: requestId }, "admin request failed"),
    });
  }

  async function serveReady(res: ServerResponse, requestId: string): Promise<void> {
    if (closing) {
      writeError(res, "NOT_READY", requestId, { message: "gateway is shutting down" });
      return;
    }
    try {
      await connections.ping();
    } catch {
      writeError(res, "NOT_READY", requestId);
      return;
    }
    writeText(res, 200, "application/json", '{"check":"readiness","status":"ok"}\n', requestId);
  }

  async function dispatch(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const url = req.url ?? "/";
    const method = req.method ?? "GET";
    const q = url.indexOf("?");
    const path = q === -1 ? url : url.slice(0, q);

    if (path === "/health" || path === "/health/live" || path === "/health/ready") {
      applyCors(req, res, allowedOrigins);
      if (method === "OPTIONS") return void writeText(res, 204, undefined, "", requestId);
      if (method !== "GET" && method !== "HEAD") return void writeError(res, "METHOD_NOT_ALLOWED", requestId);
      if (path === "/health/ready") return serveReady(res, requestId);
      return void writeText(res, 200, "application/json", HEALTH_BODIES[path]!, requestId);
    }
    if (path === "/metrics") {
      if (!adminGuard(req, res, requestId, path)) return;
      return serveMetrics(req, res);
    }
    if (path === "/api/admin" || path.startsWith("/api/admin/")) return serveAdmin(req, res, requestId, path);

    if (method === "CONNECT" || method === "TRACE") {
      return void writeError(res, "METHOD_NOT_ALLOWED", requestId);
    }
    if (!url.startsWith("/")) {
      return void writeError(res, "INVALID_REQUEST", requestId, {
        message: "absolute-form request targets are not accepted",
      });
    }
    const overLimit = checkRequestLimits(url, req.rawHeaders);
    if (overLimit) return void writeError(res, overLimit.code, requestId, { message: overLimit.message });
    const route = routeOf(url);
    if (!route.ok) return void writeDenial(res, route.denial, requestId);
    if (route.value?.kind === "proxy") return handleProxyRequest(runtime, req, res, route.value, requestId);
    if (route.value?.kind === "mcp") return handleMcpRequest(mcp, req, res, route.value, requestId);
    if (method === "GET" || method === "HEAD") {
      return void writeText(res, 200, "text/plain; charset=utf-8", "sigilum-gateway", requestId);
    }
    writeError(res, "METHOD_NOT_ALLOWED", requestId);
  }

  const server = createServer(
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
      inFlight++;
      metrics.lifecycle.requestsInFlight.inc();
      res.once("close", () => {
        inFlight--;
        metrics.lifecycle.requestsInFlight.dec();
      });
      dispatch(req, res, requestId).catch((err: unknown) => writeFailure(res, err, requestId, logger));
    },
  );
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const requestId = requestIdFrom(req.headers);
    if (closing || !websockets) return void socket.destroy();
    websockets.handleUpgrade(req, socket, head, requestId).catch((err: unknown) => {
      logger.error({ err: asLoggable(err), request_id: requestId }, "websocket upgrade failed");
      socket.destroy();
    });
  });
  answerClientErrors(server);

  /** Every step is bounded: Redis or an upstream may be gone, and shutdown must still finish. */
  async function releaseResources(): Promise<void> {
    await usage.close();
    await settleWithin(delivery?.close(), 2000);
    await settleWithin(authorizer.close(), 2000);
    await settleWithin(forwarder.close(), 2000);
    await settleWithin(upstreams.close(), 2000);
    await settleWithin(mcpGuard.dispatcher.close(), 2000);
    clearInterval(recheckTimer);
    websockets?.close();
    await forwarder.destroy().catch(() => {});
    await subscriber.close().catch(() => {});
    for (const conn of [redis, queueConnection]) {
      await settleWithin(conn.quit(), 1000);
      conn.disconnect();
    }
  }

  return {
    server,
    metrics,
    forwarder,
    connections,
    usage,
    async listen() {
      // Serve only once Redis answers (or after 5 s; then /health/ready reports it and requests get 503s).
      await waitUntilReady(redis, 5000);
      return listenOn(server, config.listen, config.listenVariable);
    },
    async shutdown() {
      closing = true;
      const started = performance.now();
      const outcome = await drainServer(server, () => inFlight, config.shutdownTimeoutMs);
      recordShutdownDrain(metrics.lifecycle, outcome, (performance.now() - started) / 1000);
      logger.info({ outcome, seconds: (performance.now() - started) / 1000 }, "proxy drained");
      await releaseResources();
      return outcome;
    },
  };
}

function waitUntilReady(conn: Redis, ms: number): Promise<void> {
  if (conn.status === "ready") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      conn.off("ready", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    conn.once("ready", done);
  });
}

function writeText(
  res: ServerResponse,
  status: number,
  contentType: string | undefined,
  body: string,
  requestId: string,
): void {
  res.statusCode = status;
  if (contentType) res.setHeader("content-type", contentType);
  res.setHeader("x-request-id", requestId);
  res.setHeader("content-length", Buffer.byteLength(body));
  res.end(body);
}
