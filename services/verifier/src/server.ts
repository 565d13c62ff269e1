import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createTrustedProxies } from "@sigilum-gw/shared/client-ip";
import type { Clock } from "@sigilum-gw/shared/clock";
import { serviceApiKeyFor } from "@sigilum-gw/shared/config";
import { defaultEd25519Backend, type Ed25519Backend } from "@sigilum-gw/shared/ed25519";
import { createHostAllowlist } from "@sigilum-gw/shared/host-allowlist";
import { DEFAULT_FUTURE_SKEW_SECONDS } from "@sigilum-gw/shared/http-signatures";
import { loadIdentity, type SigilumIdentity } from "@sigilum-gw/shared/identity";
import { createLogger, type DecisionEvent, decisionLog, type Logger } from "@sigilum-gw/shared/logger";
import { type DrainOutcome, lifecycleMetrics } from "@sigilum-gw/shared/metrics";
import { createRedisKeys } from "@sigilum-gw/shared/redis-keys";
import { RedisNonceStore } from "@sigilum-gw/shared/replay";
import { trackReplayEpoch } from "@sigilum-gw/shared/replay-epoch";
import { drainServer, listenOn, settleWithin, trackSockets } from "@sigilum-gw/shared/service-shell";
import type { Redis } from "ioredis";
import { createAuthzMinter } from "./authz.ts";
import { createClaimStatusHandler } from "./check/claim-status.ts";
import { createCheckHandler } from "./check/http-handler.ts";
import type { ClaimsCache } from "./claims/cache.ts";
import { ClaimSubmitter } from "./claims/submissions.ts";
import { clusterMetricsSource, isClusterWorker } from "./cluster.ts";
import type { VerifierConfig } from "./config.ts";
import { createVerifierMetrics, type VerifierMetrics } from "./metrics.ts";
import { createSignatureVerifier } from "./pipeline/signature.ts";
import { startSubmissionWorker } from "./service/claim-worker.ts";
import { createVerifierClaims } from "./service/claims.ts";
import { createVerifierServer } from "./service/http.ts";
import { verifierOpsRoutes } from "./service/ops.ts";
import { SettlementListener } from "./store/claim-settlements.ts";
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
  /** Fields of the listening line. */
  readonly listening: Record<string, unknown>;
  start(): Promise<AddressInfo>;
  /** Idempotent; resolves with the drain outcome. */
  stop(): Promise<DrainOutcome>;
}

export async function createVerifierService(
  config: VerifierConfig,
  options: VerifierServiceOptions = {},
): Promise<VerifierService> {
  const logger = options.logger ?? createLogger("verifier", { level: config.logLevel });
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
  const { redis } = clients;
  // Learned on every (re)connection of the nonce connection, before it checks a nonce (replay-epoch.ts).
  const epoch = trackReplayEpoch(redis, keys.replayEpoch(), {
    marginSeconds: DEFAULT_FUTURE_SKEW_SECONDS,
    onChange: (notBefore) =>
      logger.warn(
        { not_before: notBefore },
        "Redis restarted or lost data: signatures created before this moment are refused (replay window reset)",
      ),
  });
  const claims = createVerifierClaims({
    config,
    clients,
    keys,
    identity,
    apiKeyFor,
    metrics,
    logger,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const submitter = new ClaimSubmitter({
    redis,
    queueConnection: clients.queue,
    keys,
    autoRegister: config.submissions.autoRegister,
    ratePerMinute: config.submissions.ratePerMinute,
    dedupeSeconds: config.submissions.dedupeSeconds,
    timeoutMs: Math.max(config.redisCommandTimeoutMs * 2, 500),
    settleMs: config.claims.lookupWaitMs,
    settlements: new SettlementListener(clients.subscriber, keys),
  });

  const verifier = createSignatureVerifier({
    maxAgeSeconds: config.signatureMaxAgeSeconds,
    now: options.now,
    backend: options.backend ?? defaultEd25519Backend(config.ed25519Backend),
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
      claims: claims.cache,
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

  const server = createVerifierServer({
    check,
    claimStatus: createClaimStatusHandler({
      internalSecret: config.internalSecret,
      lookup: (service, namespace, publicKey) => claims.cache.lookup(service, namespace, publicKey),
    }),
    ops: verifierOpsRoutes({
      registry: metrics.registry,
      ...(isClusterWorker() ? { metricsText: clusterMetricsSource(metrics.registry) } : {}),
      admin: config.admin,
      async ready() {
        const redisOk = await redisAnswers(redis);
        const claimsOk = claims.cache.warm || config.claims.coldStartAllowed;
        return {
          ready: redisOk && claimsOk && !closing,
          checks: { redis: redisOk, claims: claimsOk, accepting: !closing },
        };
      },
    }),
  });
  // Open connections are the checks still being answered: Envoy keeps them alive between checks, so the idle ones
  // are closed as they finish.
  const openConnections = trackSockets(server);

  const worker =
    options.runWorker === false || !config.submissions.autoRegister
      ? undefined
      : startSubmissionWorker({ config, clients, keys, identity, apiKeyFor, metrics, logger, log });

  let stopping: Promise<DrainOutcome> | undefined;
  return {
    server,
    metrics,
    claims: claims.cache,
    redis,
    logger,
    listening: { ed25519: verifier.backend.name },
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
      await claims.start();
      return listenOn(server, config.listen, "VERIFIER_ADDR");
    },
    stop() {
      stopping ??= (async () => {
        closing = true;
        claims.stop();
        epoch.close();
        const outcome = await drainServer(
          server,
          openConnections,
          config.shutdownTimeoutMs,
          lifecycleMetrics(metrics.registry),
        );
        // Redis may be the reason we stop: every step that talks to it is bounded, then the sockets are dropped.
        // Without Redis a graceful worker close waits forever for its job loop; forced, its timers stop too.
        await settleWithin(worker?.close(clients.worker.status !== "ready"), 2000);
        await settleWithin(submitter.close(), 2000);
        await Promise.all(clients.all.map((client) => settleWithin(client.quit(), 2000)));
        for (const client of clients.all) client.disconnect();
        logger.info({ outcome }, "verifier stopped");
        return outcome;
      })();
      return stopping;
    },
  };
}
