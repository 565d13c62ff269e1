import { mkdirSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import type { BrowserGuardPolicy } from "@sigilum-gw/shared/browser-guard";
import { defaultEd25519Backend } from "@sigilum-gw/shared/ed25519";
import { createHostAllowlist } from "@sigilum-gw/shared/host-allowlist";
import { createSigilumVerifier, DEFAULT_FUTURE_SKEW_SECONDS } from "@sigilum-gw/shared/http-signatures";
import { createLogger, type Logger } from "@sigilum-gw/shared/logger";
import { createMetricsRegistry, type DrainOutcome, lifecycleMetrics } from "@sigilum-gw/shared/metrics";
import { loadOrCreateJwtSecret } from "@sigilum-gw/shared/owner-token";
import { createRedisKeys, eventsChannel } from "@sigilum-gw/shared/redis-keys";
import { type NonceStore, RedisNonceStore } from "@sigilum-gw/shared/replay";
import { type ReplayEpoch, trackReplayEpoch } from "@sigilum-gw/shared/replay-epoch";
import {
  createServiceServer,
  listenOn,
  type ServiceInstance,
  trackRequests,
} from "@sigilum-gw/shared/service-shell";
import express, { type Express } from "express";
import { Redis } from "ioredis";
import type { Registry } from "prom-client";
import { PgNonceStore } from "./auth/nonce-store.ts";
import type { Config } from "./config.ts";
import { createClaimsWatch } from "./dashboard/claims-watch.ts";
import { dashboardSessionGuard } from "./dashboard/session-guard.ts";
import type { Db } from "./db/db.ts";
import { migrate } from "./db/migrate.ts";
import { createPgDb } from "./db/pg.ts";
import { createPgliteDb } from "./db/pglite.ts";
import type { AppDeps } from "./deps.ts";
import { createClaimEvents, noClaimEvents } from "./events/publisher.ts";
import {
  browserGuard,
  cors,
  errorHandler,
  notFoundHandler,
  rawBodyReader,
  requestId,
  securityHeaders,
} from "./http/middleware.ts";
import { opsMiddleware } from "./http/ops.ts";
import { PairingRelay } from "./pairing/relay.ts";
import { createPairingSocketServer } from "./pairing/socket.ts";
import { dashboardPagesRouter } from "./routes/dashboard-pages.ts";
import { apiRouter } from "./routes/index.ts";
import { shutdownControlPlane } from "./shutdown.ts";
import { type Sweeper, startSweeper } from "./sweeper.ts";
import { WebhookDelivery } from "./webhooks/delivery.ts";
import { createWebhookEvents } from "./webhooks/events.ts";
import { createWebhookSecretBox, webhookKey } from "./webhooks/secret-box.ts";

/** Which Host names and browser origins the API (and the pairing WebSocket) accept. */
function browserGuardPolicy(config: Config): BrowserGuardPolicy {
  return {
    hosts: createHostAllowlist([config.publicUrl], config.allowedHosts, {
      anyIpAddress: true,
    }),
    allowedOrigins: new Set(config.allowedOrigins),
  };
}

/** The express app: middleware, ops routes, API routes, 404 and the error envelope. No I/O of its own. */
export function createApp(deps: AppDeps, ops: { registry: Registry; accepting: () => boolean }): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.use(requestId());
  app.use(cors(deps.config.allowedOrigins));
  app.use(securityHeaders());
  app.use(
    opsMiddleware(ops.registry, () =>
      ops.accepting() ? { ready: true } : { ready: false, message: "control plane is shutting down" },
    ),
  );
  app.use(browserGuard(browserGuardPolicy(deps.config)));
  app.use(dashboardSessionGuard(deps.config));
  app.use(rawBodyReader(deps.config.maxBodyBytes));
  app.use(dashboardPagesRouter());
  app.use(apiRouter(deps));
  app.use(notFoundHandler());
  app.use(errorHandler(deps.log));
  return app;
}

export interface RunningControlPlane {
  url: string;
  server: Server;
  deps: AppDeps;
  sweeper: Sweeper;
  redis: Redis | undefined;
  /** Idempotent graceful stop; resolves with the drain outcome. */
  close(): Promise<DrainOutcome>;
}

/** The verifier's replay-epoch marker, tracked on the nonce connection (shared/replay-epoch.ts). */
function trackEpoch(redis: Redis, config: Config, log: Logger): ReplayEpoch {
  return trackReplayEpoch(redis, createRedisKeys(config.redisPrefix).replayEpoch(), {
    marginSeconds: DEFAULT_FUTURE_SKEW_SECONDS,
    onChange: (notBefore) =>
      log.warn(
        { not_before: notBefore },
        "Redis restarted or lost data: signatures created before this moment are refused (replay window reset)",
      ),
  });
}

function webhookSettings(config: Config) {
  return {
    allowPrivate: config.webhooks.allowPrivateTargets,
    retryDelaysMs: config.webhooks.retryDelaysMs,
    retryWindowMs: config.webhooks.retryWindowMs,
    timeoutMs: config.webhooks.timeoutMs,
  };
}

/** The pairing relay's two Redis connections (commands, subscriptions). */
function startPairing(redis: Redis, config: Config, log: Logger): PairingRelay {
  const subscriber = redis.duplicate({ enableOfflineQueue: true, lazyConnect: false });
  subscriber.on("error", (err) => log.warn({ err }, "pairing subscriber redis error"));
  const relay = new PairingRelay(redis, subscriber, config.redisPrefix, config.pairingLeaseMs, log);
  // Not awaited: with Redis down the control plane still starts (ioredis subscribes once it connects).
  relay.start().catch((err: unknown) => log.warn({ err }, "pairing subscription failed"));
  return relay;
}

async function openDb(config: Config, dataDir: string): Promise<Db> {
  if (config.databaseUrl) return createPgDb(config.databaseUrl);
  return createPgliteDb(join(dataDir, "pgdata"));
}

async function connectRedis(url: string, log: Logger): Promise<Redis> {
  // No offline queue: while Redis is down, nonce checks fail at once (503) instead of hanging.
  const redis = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  redis.on("error", (err) => log.warn({ err }, "redis error"));
  try {
    await redis.connect();
  } catch (err) {
    log.error({ err }, "redis unreachable at start; signed requests answer 503 until it is back");
  }
  return redis;
}

/** Opens the database (migrating it), Redis if configured, and starts listening. */
export async function startControlPlane(
  config: Config,
  opts: { log?: Logger } = {},
): Promise<RunningControlPlane> {
  const log = opts.log ?? createLogger("control-plane", { level: config.logLevel });
  const dataDir = resolve(config.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db = await openDb(config, dataDir);
  let redis: Redis | undefined;
  let epoch: ReplayEpoch | undefined;
  let delivery: WebhookDelivery | undefined;
  try {
    const applied = await migrate(db);
    if (applied.length > 0) log.info({ applied }, "database migrated");
    const jwtSecret = loadOrCreateJwtSecret(dataDir, config.jwtSecret);
    redis = config.redisUrl ? await connectRedis(config.redisUrl, log) : undefined;
    const nonces: NonceStore = redis ? new RedisNonceStore(redis, config.redisPrefix) : new PgNonceStore(db);
    epoch = redis ? trackEpoch(redis, config, log) : undefined;
    const webhookBox = createWebhookSecretBox(webhookKey(config.webhooks.secretEncryptionKey, jwtSecret));
    const settings = webhookSettings(config);
    delivery = redis
      ? new WebhookDelivery({
          db,
          box: webhookBox,
          redis,
          prefix: createRedisKeys(config.redisPrefix).bullmqPrefix(),
          settings,
          log,
        })
      : undefined;
    const deps: AppDeps = {
      config,
      db,
      jwtSecret,
      nonces,
      signed: {
        verifier: createSigilumVerifier({
          maxAgeSeconds: config.signatureMaxAgeSeconds,
          allowAgentIdComponent: false,
          backend: defaultEd25519Backend(config.ed25519Backend),
        }),
        nonces,
        nonceTtlSeconds: config.signatureNonceTtlSeconds,
        ...(epoch ? { epoch } : {}),
        publicUrl: config.publicUrl,
        trustProxy: config.trustProxy,
      },
      events: redis ? createClaimEvents(redis, eventsChannel(config.redisPrefix), log) : noClaimEvents,
      limits: {
        maxApprovedAgentsPerService: config.limits.approvedAgentsPerService,
        maxConnectedServicesPerNamespace: config.limits.connectedServicesPerNamespace,
        maxPendingAuthorizations: config.limits.pendingAuthorizations,
        claimNonceTtlSeconds: config.signatureNonceTtlSeconds,
      },
      log,
      claimsWatch: createClaimsWatch(db, { intervalMs: 1000, log }),
      eventStreams: new Set(),
      pairing: redis ? startPairing(redis, config, log) : undefined,
      webhooks: delivery
        ? { delivery, box: webhookBox, policy: settings, maxPerService: config.webhooks.maxPerService }
        : undefined,
      webhookEvents: createWebhookEvents(db, delivery, log),
    };
    const registry = createMetricsRegistry({ service: "control-plane" });
    const lifecycle = lifecycleMetrics(registry);
    let closing: Promise<DrainOutcome> | undefined;
    const server = createServiceServer(
      { requestTimeout: 30_000, headersTimeout: 15_000 },
      createApp(deps, { registry, accepting: () => !closing }),
    );
    const inFlight = trackRequests(server, lifecycle);
    const pairingSockets = deps.pairing
      ? createPairingSocketServer({
          db,
          relay: deps.pairing,
          log,
          leaseMs: config.pairingLeaseMs,
          maxFrameBytes: 2 * config.maxBodyBytes,
          browserGuard: browserGuardPolicy(config),
        })
      : undefined;
    server.on("upgrade", (req, socket, head) => {
      if (pairingSockets) return pairingSockets.handleUpgrade(req, socket, head);
      socket.end("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    });
    server.keepAliveTimeout = 5_000;
    const addr = await listenOn(server, config.listen, "CONTROL_PLANE_ADDR");
    const sweeper = startSweeper(db, {
      intervalSeconds: config.sweepIntervalSeconds,
      expiryHours: config.pendingAuthorizationExpiryHours,
      log,
      onExpired: (claimId) => deps.webhookEvents.claim("request.expired", claimId),
    });
    const shownHost = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
    const url = `http://${shownHost}:${addr.port}`;
    const openRedis = redis;
    return {
      url,
      server,
      deps,
      sweeper,
      redis,
      close: () => {
        closing ??= shutdownControlPlane({
          server,
          inFlight,
          lifecycle,
          deps,
          pairing: deps.pairing,
          pairingSockets,
          delivery,
          sweeper,
          epoch,
          redis: openRedis,
          db,
          timeoutMs: config.shutdownTimeoutMs,
        });
        return closing;
      },
    };
  } catch (err) {
    epoch?.close();
    await delivery?.close().catch(() => {});
    redis?.disconnect();
    await db.close().catch(() => {});
    throw err;
  }
}

/** The control plane as the service shell runs it (main.ts). */
export function controlPlaneService(config: Config, log: Logger): ServiceInstance {
  let running: RunningControlPlane | undefined;
  const service: ServiceInstance = {
    async start() {
      running = await startControlPlane(config, { log });
      service.listening = {
        url: running.url,
        database: config.databaseUrl ? "postgresql" : "pglite",
        redis: Boolean(running.redis),
      };
      return running.server.address() as AddressInfo;
    },
    stop: () => running?.close() ?? Promise.resolve("success"),
  };
  return service;
}
