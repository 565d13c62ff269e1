import { defaultEd25519Backend } from "@sigilum-gw/shared/ed25519";
import { createSigilumVerifier } from "@sigilum-gw/shared/http-signatures";
import type { Logger } from "@sigilum-gw/shared/logger";
import { createRedisKeys, eventsChannel } from "@sigilum-gw/shared/redis-keys";
import { type NonceStore, RedisNonceStore } from "@sigilum-gw/shared/replay";
import type { ReplayEpoch } from "@sigilum-gw/shared/replay-epoch";
import type { Redis } from "ioredis";
import { PgNonceStore } from "../auth/nonce-store.ts";
import type { Config } from "../config.ts";
import { createClaimsWatch } from "../dashboard/claims-watch.ts";
import type { Db } from "../db/db.ts";
import type { AppDeps } from "../deps.ts";
import { createClaimEvents, noClaimEvents } from "../events/publisher.ts";
import { WebhookDelivery } from "../webhooks/delivery.ts";
import { createWebhookEvents } from "../webhooks/events.ts";
import { createWebhookSecretBox, webhookKey } from "../webhooks/secret-box.ts";
import { startPairing } from "./redis.ts";

export interface DepsParts {
  config: Config;
  db: Db;
  jwtSecret: string;
  /** Without Redis: nonces in PostgreSQL, no claim events, no pairing, no webhook delivery. */
  redis: Redis | undefined;
  epoch: ReplayEpoch | undefined;
  log: Logger;
}

/** What the routes work with, from the opened database and Redis. A failure half-way closes what it started. */
export function buildAppDeps({ config, db, jwtSecret, redis, epoch, log }: DepsParts): AppDeps {
  const nonces: NonceStore = redis ? new RedisNonceStore(redis, config.redisPrefix) : new PgNonceStore(db);
  const webhookBox = createWebhookSecretBox(webhookKey(config.webhooks.secretEncryptionKey, jwtSecret));
  const settings = {
    allowPrivate: config.webhooks.allowPrivateTargets,
    retryDelaysMs: config.webhooks.retryDelaysMs,
    retryWindowMs: config.webhooks.retryWindowMs,
    timeoutMs: config.webhooks.timeoutMs,
  };
  const delivery = redis
    ? new WebhookDelivery({
        db,
        box: webhookBox,
        redis,
        prefix: createRedisKeys(config.redisPrefix).bullmqPrefix(),
        settings,
        log,
      })
    : undefined;
  try {
    return {
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
  } catch (err) {
    void delivery?.close().catch(() => {});
    throw err;
  }
}
