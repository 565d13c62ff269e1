import { mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import type { BrowserGuardPolicy } from "@sigilum-gw/shared/browser-guard";
import { createHostAllowlist } from "@sigilum-gw/shared/host-allowlist";
import { createSigilumVerifier, DEFAULT_FUTURE_SKEW_SECONDS } from "@sigilum-gw/shared/http-signatures";
import { createLogger, type Logger } from "@sigilum-gw/shared/logger";
import { loadOrCreateJwtSecret } from "@sigilum-gw/shared/owner-token";
import { createRedisKeys, eventsChannel } from "@sigilum-gw/shared/redis-keys";
import { type NonceStore, RedisNonceStore } from "@sigilum-gw/shared/replay";
import { type ReplayEpoch, trackReplayEpoch } from "@sigilum-gw/shared/replay-epoch";
import express, { type Express } from "express";
import { Redis } from "ioredis";
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
import { PairingRelay } from "./pairing/relay.ts";
import { createPairingSocketServer, type PairingSocketServer } from "./pairing/socket.ts";
import { dashboardPagesRouter } from "./routes/dashboard-pages.ts";
import { apiRouter } from "./routes/index.ts";
import { type Sweeper, startSweeper } from "./sweeper.ts";
import { WebhookDelivery } from "./webhooks/delivery.ts";
import { createWebhookEvents } from "./webhooks/events.ts";
import { createWebhookSecretBox, webhookKey } from "./webhooks/secret-box.ts";

/** Which Host names and browser origins the API (and the pairing WebSocket) accept. */
function browserGuardPolicy(config: Config): BrowserGuardPolicy {
  return {
    hosts: createHostAllowlist([config.CONTROL_PLANE_PUBLIC_URL], config.CONTROL_PLANE_ALLOWED_HOSTS, {
      anyIpAddress: true,
    }),
    allowedOrigins: new Set(config.ALLOWED_ORIGINS),
  };
}

/** The express app: middleware, routes, 404 and the error envelope. No I/O of its own. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.use(requestId());
  app.use(cors(deps.config.ALLOWED_ORIGINS));
  app.use(securityHeaders());
  app.use(browserGuard(browserGuardPolicy(deps.config)));
  app.use(dashboardSessionGuard(deps.config));
  app.use(rawBodyReader(deps.config.CONTROL_PLANE_MAX_BODY_BYTES));
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
  close(): Promise<void>;
}

/** The verifier's replay-epoch marker, tracked on the nonce connection (shared/replay-epoch.ts). */
function trackEpoch(redis: Redis, config: Config, log: Logger): ReplayEpoch {
  return trackReplayEpoch(redis, createRedisKeys(config.REDIS_PREFIX).replayEpoch(), {
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
    allowPrivate: config.WEBHOOK_ALLOW_PRIVATE_TARGETS,
    retryDelaysMs: config.WEBHOOK_RETRY_DELAYS_SECONDS.map((s) => Number(s) * 1000),
    retryWindowMs: config.WEBHOOK_RETRY_WINDOW_SECONDS * 1000,
    timeoutMs: config.WEBHOOK_TIMEOUT_SECONDS * 1000,
  };
}

/** The pairing relay's two Redis connections (commands, subscriptions). */
function startPairing(redis: Redis, config: Config, log: Logger): PairingRelay {
  const subscriber = redis.duplicate({ enableOfflineQueue: true, lazyConnect: false });
  subscriber.on("error", (err) => log.warn({ err }, "pairing subscriber redis error"));
  const relay = new PairingRelay(
    redis,
    subscriber,
    config.REDIS_PREFIX,
    config.PAIRING_LEASE_SECONDS * 1000,
    log,
  );
  // Not awaited: with Redis down the control plane still starts (ioredis subscribes once it connects).
  relay.start().catch((err: unknown) => log.warn({ err }, "pairing subscription failed"));
  return relay;
}

async function openDb(config: Config, dataDir: string): Promise<Db> {
  if (config.DATABASE_URL) return createPgDb(config.DATABASE_URL);
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

function listen(server: Server, host: string | undefined, port: number): Promise<AddressInfo> {
  return new Promise((resolvePromise, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const where = `${host ?? "*"}:${port}`;
      reject(
        new Error(
          err.code === "EADDRINUSE"
            ? `control plane cannot listen on ${where}: address in use (set CONTROL_PLANE_ADDR to change it)`
            : `control plane cannot listen on ${where}: ${err.message} (CONTROL_PLANE_ADDR)`,
        ),
      );
    };
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolvePromise(server.address() as AddressInfo);
    });
  });
}

/** Opens the database (migrating it), Redis if configured, and starts listening. */
export async function startControlPlane(
  config: Config,
  opts: { log?: Logger } = {},
): Promise<RunningControlPlane> {
  const log = opts.log ?? createLogger("control-plane", { level: config.LOG_LEVEL });
  const dataDir = resolve(config.CONTROL_PLANE_DATA_DIR);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db = await openDb(config, dataDir);
  let redis: Redis | undefined;
  let epoch: ReplayEpoch | undefined;
  let delivery: WebhookDelivery | undefined;
  try {
    const applied = await migrate(db);
    if (applied.length > 0) log.info({ applied }, "database migrated");
    const jwtSecret = loadOrCreateJwtSecret(dataDir, config.JWT_SECRET);
    redis = config.REDIS_URL ? await connectRedis(config.REDIS_URL, log) : undefined;
    const nonces: NonceStore = redis ? new RedisNonceStore(redis, config.REDIS_PREFIX) : new PgNonceStore(db);
    epoch = redis ? trackEpoch(redis, config, log) : undefined;
    const webhookBox = createWebhookSecretBox(webhookKey(config.WEBHOOK_SECRET_ENCRYPTION_KEY, jwtSecret));
    const settings = webhookSettings(config);
    delivery = redis
      ? new WebhookDelivery({
          db,
          box: webhookBox,
          redis,
          prefix: createRedisKeys(config.REDIS_PREFIX).bullmqPrefix(),
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
          maxAgeSeconds: config.SIGNATURE_MAX_AGE_SECONDS,
          allowAgentIdComponent: false,
        }),
        nonces,
        nonceTtlSeconds: config.SIGNATURE_NONCE_TTL_SECONDS,
        ...(epoch ? { epoch } : {}),
        publicUrl: config.CONTROL_PLANE_PUBLIC_URL,
        trustProxy: config.CONTROL_PLANE_TRUST_PROXY,
      },
      events: redis ? createClaimEvents(redis, eventsChannel(config.REDIS_PREFIX), log) : noClaimEvents,
      limits: {
        maxApprovedAgentsPerService: config.MAX_APPROVED_AGENTS_PER_SERVICE,
        maxConnectedServicesPerNamespace: config.MAX_CONNECTED_SERVICES_PER_NAMESPACE,
        maxPendingAuthorizations: config.MAX_PENDING_AUTHORIZATIONS,
        claimNonceTtlSeconds: config.SIGNATURE_NONCE_TTL_SECONDS,
      },
      log,
      claimsWatch: createClaimsWatch(db, { intervalMs: 1000, log }),
      eventStreams: new Set(),
      pairing: redis ? startPairing(redis, config, log) : undefined,
      webhooks: delivery
        ? { delivery, box: webhookBox, policy: settings, maxPerService: config.MAX_WEBHOOKS_PER_SERVICE }
        : undefined,
      webhookEvents: createWebhookEvents(db, delivery, log),
    };
    const server = createServer({ requestTimeout: 30_000, headersTimeout: 15_000 }, createApp(deps));
    const pairingSockets = deps.pairing
      ? createPairingSocketServer({
          db,
          relay: deps.pairing,
          log,
          leaseMs: config.PAIRING_LEASE_SECONDS * 1000,
          maxFrameBytes: 2 * config.CONTROL_PLANE_MAX_BODY_BYTES,
          browserGuard: browserGuardPolicy(config),
        })
      : undefined;
    server.on("upgrade", (req, socket, head) => {
      if (pairingSockets) return pairingSockets.handleUpgrade(req, socket, head);
      socket.end("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    });
    server.keepAliveTimeout = 5_000;
    const { host, port } = config.CONTROL_PLANE_ADDR;
    const addr = await listen(server, host, port);
    const sweeper = startSweeper(db, {
      intervalSeconds: config.CONTROL_PLANE_SWEEP_INTERVAL_SECONDS,
      expiryHours: config.PENDING_AUTHORIZATION_EXPIRY_HOURS,
      log,
      onExpired: (claimId) => deps.webhookEvents.claim("request.expired", claimId),
    });
    const shownHost = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
    const url = `http://${shownHost}:${addr.port}`;
    log.info(
      {
        url,
        port: addr.port,
        database: config.DATABASE_URL ? "postgresql" : "pglite",
        redis: Boolean(redis),
      },
      "control plane listening",
    );
    const openRedis = redis;
    let closing: Promise<void> | undefined;
    return {
      url,
      server,
      deps,
      sweeper,
      redis,
      close: () => {
        closing ??= shutdown({
          server,
          deps,
          pairing: deps.pairing,
          pairingSockets,
          delivery,
          sweeper,
          epoch,
          redis: openRedis,
          db,
          timeoutMs: config.CONTROL_PLANE_SHUTDOWN_TIMEOUT_SECONDS * 1000,
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

/** Stops accepting, lets in-flight requests finish (bounded), then closes Redis and the database. */
async function shutdown(parts: {
  server: Server;
  deps: AppDeps;
  pairing: PairingRelay | undefined;
  pairingSockets: PairingSocketServer | undefined;
  delivery: WebhookDelivery | undefined;
  sweeper: Sweeper;
  epoch: ReplayEpoch | undefined;
  redis: Redis | undefined;
  db: Db;
  timeoutMs: number;
}): Promise<void> {
  const closed = new Promise<void>((res) => parts.server.close(() => res()));
  parts.deps.claimsWatch.close();
  for (const stream of parts.deps.eventStreams) stream.end();
  // Paired gateways reconnect (to another replica when there is one) instead of holding the drain open.
  parts.pairing?.closeAll();
  parts.pairingSockets?.close();
  parts.server.closeIdleConnections();
  const timer = setTimeout(() => parts.server.closeAllConnections(), parts.timeoutMs);
  await closed;
  clearTimeout(timer);
  await parts.sweeper.stop();
  parts.pairing?.stop();
  parts.epoch?.close();
  await parts.delivery?.close();
  if (parts.redis) await parts.redis.quit().catch(() => parts.redis?.disconnect());
  await parts.db.close();
}
