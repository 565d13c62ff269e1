import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { answerClientErrors, writeRawError } from "@sigilum-gw/shared/client-error";
import { createTrustedProxies } from "@sigilum-gw/shared/client-ip";
import type { Clock } from "@sigilum-gw/shared/clock";
import { serviceApiKeyFor } from "@sigilum-gw/shared/config";
import type { Ed25519Backend } from "@sigilum-gw/shared/ed25519";
import { CHECK_PATH_PREFIX } from "@sigilum-gw/shared/ext-authz";
import { createHostAllowlist } from "@sigilum-gw/shared/host-allowlist";
import { DEFAULT_FUTURE_SKEW_SECONDS } from "@sigilum-gw/shared/http-signatures";
import { loadIdentity, type SigilumIdentity } from "@sigilum-gw/shared/identity";
import {
  createLogger,
  type DecisionEvent,
  decisionLog,
  flushLogs,
  type Logger,
  stdoutDestination,
} from "@sigilum-gw/shared/logger";
import { createRedisKeys, parseEvent } from "@sigilum-gw/shared/redis-keys";
import { RedisNonceStore } from "@sigilum-gw/shared/replay";
import { trackReplayEpoch } from "@sigilum-gw/shared/replay-epoch";
import { drainServer, listenOn, settleWithin } from "@sigilum-gw/shared/server-lifecycle";
import type { Worker } from "bullmq";
import type { Redis } from "ioredis";
import { createApp } from "./app.ts";
import { createAuthzMinter } from "./authz.ts";
import { CLAIM_STATUS_PATH, createClaimStatusHandler } from "./check/claim-status.ts";
import { createCheckHandler } from "./check/http-handler.ts";
import { ClaimsCache } from "./claims/cache.ts";
import { createFeedClient } from "./claims/feed-client.ts";
import { ClaimsRefresher } from "./claims/refresher.ts";
import { ClaimSubmitter, startClaimWorker } from "./claims/submissions.ts";
import { clusterMetricsSource, isClusterWorker } from "./cluster.ts";
import type { VerifierConfig } from "./config.ts";
import { createVerifierMetrics, type VerifierMetrics } from "./metrics.ts";
import { createSignatureVerifier } from "./pipeline/signature.ts";
import { ClaimCopyStore } from "./store/claim-copies.ts";
import { connectionStored, openVerifierRedis, redisAnswers } from "./store/clients.ts";
import { CorkedNonceStore } from "./store/corked-nonces.ts";

/** Wiring only: builds the verifier from its config and owns start/stop. */

export interface VerifierServiceOptions {
  /** Unix seconds for the signature freshness check (tests, vectors). */
  now?: () => number;
  /** Clock of the claims cache and its refresher (tests move it by hand). */
  clock?: Clock;
  logger?: Logger;
  identity?: SigilumIdentity;
  backend?: Ed25519Backend;
  /** Run the claim-submission worker in this process (default true). */
  runWorker?: boolean;
}

export interface VerifierService {
  readonly server: Server;
  readonly metrics: VerifierMetrics;
  readonly claims: ClaimsCache;
  readonly redis: Redis;
  readonly logger: Logger;
  start(): Promise<AddressInfo>;
  stop(): Promise<void>;
}

export async function createVerifierService(
  config: VerifierConfig,
  options: VerifierServiceOptions = {},
): Promise<VerifierService> {
  // Asynchronous stdout: under load, lines written while a write is in flight go out together (one syscall), and
  // the hot path never blocks on a slow log pipe. Flushed on stop.
  const logDestination = options.logger ? undefined : stdoutDestination();
  const logger =
    options.logger ??
    createLogger("verifier", {
      level: config.logLevel,
      ...(logDestination ? { destination: logDestination } : {}),
    });
  const identity =
    options.identity ??
    (await loadIdentity({
      ...(config.signerNamespace ? { namespace: config.signerNamespace } : {}),
      ...(config.signerHome ? { homeDir: config.signerHome } : {}),
    }));
  const metrics = createVerifierMetrics();
  const keys = createRedisKeys(config.redisPrefix);
  const apiKeyFor = (service: string) => serviceApiKeyFor(service, config.serviceApiKeyEnv);

  const clients = openVerifierRedis(config.redisUrl, config.redisCommandTimeoutMs);
  const { redis, subscriber } = clients;
  // Learned on every (re)connection of the nonce connection, before it checks a nonce (replay-epoch.ts).
  const epoch = trackReplayEpoch(redis, keys.replayEpoch(), {
    marginSeconds: DEFAULT_FUTURE_SKEW_SECONDS,
    onChange: (notBefore) =>
      logger.warn(
        { not_before: notBefore },
        "Redis restarted or lost data: signatures created before this moment are refused (replay window reset)",
      ),
  });

  const feed = createFeedClient({
    registryUrl: config.registryUrl,
    identity,
    apiKeyFor,
    maxApproved: config.claims.maxApproved,
    timeoutMs: config.claims.feedTimeoutMs,
  });
  const copies = new ClaimCopyStore(redis, keys);
  const claims = new ClaimsCache({
    copies,
    feed,
    ttlMs: config.claims.ttlSeconds * 1000,
    refreshMs: config.claims.refreshSeconds * 1000,
    staleIfErrorMs: config.claims.staleIfErrorSeconds * 1000,
    feedTimeoutMs: config.claims.feedTimeoutMs,
    lookupWaitMs: config.claims.lookupWaitMs,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  claims.events.on("refresh", (service, outcome, detail) => {
    metrics.claimsRefresh.inc({ outcome });
    if (outcome === "error") {
      logger.warn({ connection: service, error: detail.error?.message }, "claims refresh failed");
    } else if (detail.truncated) {
      logger.warn({ connection: service, approvals: detail.approvals }, "claims cache truncated");
    }
  });
  const refresher = new ClaimsRefresher(claims, config.claims.refreshSeconds * 1000);
  const submitter = new ClaimSubmitter({
    redis,
    queueConnection: clients.queue,
    keys,
    autoRegister: config.submissions.autoRegister,
    ratePerMinute: config.submissions.ratePerMinute,
    dedupeSeconds: config.submissions.dedupeSeconds,
    timeoutMs: Math.max(config.redisCommandTimeoutMs * 2, 500),
    settleMs: config.claims.lookupWaitMs,
  });

  const verifier = createSignatureVerifier({
    maxAgeSeconds: config.signatureMaxAgeSeconds,
    now: options.now,
    backend: options.backend,
  });
  const log = config.logDecisions
    ? (event: string, fields: Record<string, unknown>) => decisionLog(logger, event as DecisionEvent, fields)
    : undefined;
  let closing = false;
  const check = createCheckHandler({
    pipeline: {
      isClosing: () => closing,
      maxBodyBytes: config.maxBodyBytes,
      verifier,
      nonces: new CorkedNonceStore(redis, new RedisNonceStore(redis, config.redisPrefix)),
      epoch,
      claims,
      submitter,
      trusted: createTrustedProxies(config.trustedProxyCidrs),
      publicOrigin: config.publicOrigin,
      // With a public URL the signed authority is that URL's, whatever the Host; else the Host is pinned.
      signedHosts: config.publicOrigin ? undefined : createHostAllowlist([], config.allowedHosts),
      nonceTtlSeconds: config.nonceTtlSeconds,
      bypass: config.bypass,
      connectionKnown: async (service) =>
        apiKeyFor(service) !== "" || (await connectionStored(redis, keys, service)),
    },
    metrics,
    mintAuthz: createAuthzMinter(config.internalSecret),
    log,
    onError: (error, requestId) =>
      logger.error(
        { request_id: requestId, err: error },
        "check failed unexpectedly; answered INTERNAL_ERROR",
      ),
  });

  const app = createApp({
    registry: metrics.registry,
    ...(isClusterWorker() ? { metricsText: clusterMetricsSource(metrics.registry) } : {}),
    admin: config.admin,
    readiness: {
      async check() {
        const redisOk = await redisAnswers(redis);
        const claimsOk = claims.warm || config.claims.coldStartAllowed;
        return {
          ready: redisOk && claimsOk && !closing,
          checks: { redis: redisOk, claims: claimsOk, accepting: !closing },
        };
      },
    },
  });

  const claimStatus = createClaimStatusHandler({
    internalSecret: config.internalSecret,
    lookup: (service, namespace, publicKey) => claims.lookup(service, namespace, publicKey),
  });
  const isCheck = (url: string) =>
    url.startsWith(`${CHECK_PATH_PREFIX}/`) ||
    url === CHECK_PATH_PREFIX ||
    url.startsWith(`${CHECK_PATH_PREFIX}?`);
  const server = createServer(
    { maxHeaderSize: 64 * 1024, requestTimeout: 30_000, headersTimeout: 10_000, keepAliveTimeout: 65_000 },
    (req: IncomingMessage, res: ServerResponse) => {
      if (isCheck(req.url ?? "")) return check(req, res);
      if ((req.url ?? "").split("?")[0] === CLAIM_STATUS_PATH) {
        return void claimStatus(req, res).catch(() => {
          if (!res.headersSent) res.writeHead(503).end();
        });
      }
      metrics.inFlight.inc();
      res.once("close", () => metrics.inFlight.dec());
      app(req, res);
    },
  );
  answerClientErrors(server);
  // CONNECT and protocol upgrades never reach a handler on their own: answer them instead of dropping the socket.
  server.on("connect", (_req: IncomingMessage, socket: Socket) =>
    writeRawError(socket, 405, "Method Not Allowed", "METHOD_NOT_ALLOWED", "method not allowed"),
  );
  server.on("upgrade", (_req: IncomingMessage, socket: Socket) =>
    writeRawError(
      socket,
      400,
      "Bad Request",
      "INVALID_REQUEST",
      "protocol upgrades are not part of the check contract",
    ),
  );

  const worker: Worker | undefined =
    options.runWorker === false || !config.submissions.autoRegister
      ? undefined
      : startClaimWorker({
          connection: clients.worker,
          store: redis,
          failureTtlSeconds: Math.max(config.submissions.dedupeSeconds, 30),
          keys,
          registryUrl: config.registryUrl,
          identity,
          apiKeyFor,
          timeoutMs: config.claims.feedTimeoutMs,
          onResult(claim, result) {
            const fields = { connection: claim.service, namespace: claim.namespace, subject: claim.subject };
            if ("error" in result) {
              metrics.claimSubmissions.inc({ result: result.final ? "failed" : "retry" });
              if (result.final)
                logger.warn(
                  { ...fields, error: result.error },
                  "claim submission failed: no owner can approve this agent yet",
                );
              log?.("proxy_claim_submit", {
                ...fields,
                decision: "error",
                reason_code: "CLAIM_SUBMIT_FAILED",
                error: result.error,
                final: result.final,
              });
            } else {
              metrics.claimSubmissions.inc({ result: "recorded" });
              log?.("proxy_claim_submit", {
                ...fields,
                claim_id: result.claimId,
                claim_status: result.status,
                http_status: result.httpStatus,
                reason_code: result.code,
              });
            }
          },
        });

  const eventsChannel = keys.events;
  subscriber.on("message", (channel: string, message: string) => {
    if (channel !== eventsChannel) return;
    const event = parseEvent(message);
    if (event?.type === "claims.shared") return claims.copyShared(event.service);
    if (event?.type !== "claims.changed") return;
    void claims.invalidate(event.service);
    logger.info({ connection: event.service }, "claims invalidated by event");
  });

  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });

  return {
    server,
    metrics,
    claims,
    redis,
    logger,
    async start() {
      if (config.bypass.enabled) {
        logger.warn(
          {
            GATEWAY_ALLOW_UNSIGNED_PROXY: true,
            connections: config.bypass.connections.length ? config.bypass.connections : "ALL",
          },
          "DEVELOPMENT BYPASS ON: signature and claims checks are SKIPPED for these connections. Never run this in production.",
        );
      }
      await subscriber.subscribe(eventsChannel).catch((error: Error) => {
        logger.warn(
          { error: error.message },
          "could not subscribe to claims events; revocations apply at the next refresh",
        );
      });
      refresher.start([...new Set([...config.claims.preloadServices, ...(await copies.services())])]);
      const address = await listenOn(server, config.listen, "VERIFIER_ADDR");
      logger.info(
        { port: address.port, address: address.address, ed25519: verifier.backend.name },
        "verifier listening",
      );
      return address;
    },
    async stop() {
      if (closing) return;
      closing = true;
      refresher.stop();
      epoch.close();
      // Open connections are the checks still being answered: Envoy keeps them alive between checks, so the
      // idle ones are closed as they finish.
      const outcome = await drainServer(server, () => sockets.size, config.shutdownTimeoutMs);
      // Redis may be the reason we stop: every step that talks to it is bounded, then the sockets are dropped.
      // Without Redis a graceful worker close waits forever for its job loop; forced, its timers stop too.
      await settleWithin(worker?.close(clients.worker.status !== "ready"), 2000);
      await settleWithin(submitter.close(), 2000);
      await Promise.all(clients.all.map((client) => settleWithin(client.quit(), 2000)));
      for (const client of clients.all) client.disconnect();
      logger.info({ outcome }, "verifier stopped");
      if (logDestination) await flushLogs(logDestination);
    },
  };
}
