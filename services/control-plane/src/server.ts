import { mkdirSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { createLogger, type Logger } from "@sigilum-gw/shared/logger";
import { createMetricsRegistry, type DrainOutcome, lifecycleMetrics } from "@sigilum-gw/shared/metrics";
import { loadOrCreateJwtSecret } from "@sigilum-gw/shared/owner-token";
import type { ReplayEpoch } from "@sigilum-gw/shared/replay-epoch";
import {
  createServiceServer,
  listenOn,
  type ServiceInstance,
  trackRequests,
} from "@sigilum-gw/shared/service-shell";
import type { Redis } from "ioredis";
import { browserGuardPolicy, createApp } from "./app.ts";
import type { Config } from "./config.ts";
import { migrate } from "./db/migrate.ts";
import { openDb } from "./db/open.ts";
import type { AppDeps } from "./deps.ts";
import { createPairingSocketServer } from "./pairing/socket.ts";
import { shutdownControlPlane } from "./shutdown.ts";
import { buildAppDeps } from "./startup/deps.ts";
import { connectRedis, trackEpoch } from "./startup/redis.ts";
import { type Sweeper, startSweeper } from "./sweeper.ts";
import type { WebhookDelivery } from "./webhooks/delivery.ts";

export interface RunningControlPlane {
  url: string;
  server: Server;
  deps: AppDeps;
  sweeper: Sweeper;
  redis: Redis | undefined;
  /** Idempotent graceful stop; resolves with the drain outcome. */
  close(): Promise<DrainOutcome>;
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
    epoch = redis ? trackEpoch(redis, config, log) : undefined;
    const deps = buildAppDeps({ config, db, jwtSecret, redis, epoch, log });
    delivery = deps.webhooks?.delivery;
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
