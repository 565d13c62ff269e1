import type { IncomingMessage, Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { createAuthzTokenCodec } from "@sigilum-gw/shared/authz-token";
import type { BrowserGuardPolicy } from "@sigilum-gw/shared/browser-guard";
import { createTrustedProxies } from "@sigilum-gw/shared/client-ip";
import { createHostAllowlist } from "@sigilum-gw/shared/host-allowlist";
import { createLogger, type Logger } from "@sigilum-gw/shared/logger";
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
import type { ProxyConfig } from "./config.ts";
import { applyCors } from "./http/cors.ts";
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
import { subscribeToStoreEvents } from "./service/events.ts";
import { createProxyMcp } from "./service/mcp.ts";
import { openProxyRedis } from "./service/redis.ts";
import { createProxyRouter } from "./service/router.ts";
import { openProxyStores } from "./service/stores.ts";
import { startProxyUsage } from "./service/usage.ts";
import type { ConnectionStore } from "./store/connections.ts";
import { createProxyKeys } from "./store/keys.ts";
import type { UsageRecorder } from "./usage/queue.ts";

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

  const stores = openProxyStores(config, redis, keys, logger);
  const { connections, cache } = stores;
  const mcp = createProxyMcp({ config, redis, box: stores.box, keys, connections, metrics, logger, now });

  const codec = createAuthzTokenCodec(config.internalSecret);
  const authorizer: Authorizer =
    config.authzMode === "envoy"
      ? createEnvoyAuthorizer(codec)
      : createInlineAuthorizer({ verifierUrl: config.verifierUrl, codec, timeoutMs: config.authzTimeoutMs });
  const forwarder = new Forwarder({
    timeoutMs: config.proxyTimeoutMs,
    allowLinkLocal: config.allowLinkLocalUpstreams,
  });
  const usage = startProxyUsage({ config, queue: clients.queue, keys, metrics, logger });

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
    usage: usage.recorder,
    usageDurable: usage.recording.durable,
    logger,
    logDecisions: config.logDecisions,
    trustedProxies: createTrustedProxies(config.trustedProxyCidrs),
  };
  const websockets = new WebSocketRelay({
    stages,
    trustedProxies: runtime.trustedProxies,
    logger,
    handshakeTimeoutMs: config.proxyTimeoutMs,
    maxPayloadBytes: config.maxBodyBytes,
    allowLinkLocal: config.allowLinkLocalUpstreams,
    usage: usage.recording,
  });
  const recheck = startClaimRecheck({
    websockets,
    verifierUrl: config.verifierUrl,
    internalSecret: config.internalSecret,
    logger,
  });
  const subscriber = subscribeToStoreEvents({
    connection: clients.subscriber,
    channel: keys.events,
    cache,
    upstreams: mcp.upstreams,
    claimsChanged: recheck.claimsChanged,
    logger,
  });

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
      ...stores,
      maxBodyBytes: config.maxBodyBytes,
      now,
      mcp: { discovery: mcp.discovery, upstreams: mcp.upstreams },
      allowLinkLocalUpstreams: config.allowLinkLocalUpstreams,
    }),
    adminTimeoutMs: config.admin.timeoutMs,
    runtime,
    mcp: mcp.deps(runtime, usage.recording),
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
    await settleWithin(authorizer.close(), 2000);
    await settleWithin(forwarder.close(), 2000);
    await mcp.close();
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
    usage: usage.recorder,
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
