import { createTrustedProxies } from "@sigilum-gw/shared/client-ip";
import { createHostAllowlist } from "@sigilum-gw/shared/host-allowlist";
import { signRequest } from "@sigilum-gw/shared/http-signatures";
import { createIdentity, type SigilumIdentity } from "@sigilum-gw/shared/identity";
import { createRedisKeys } from "@sigilum-gw/shared/redis-keys";
import { RedisNonceStore } from "@sigilum-gw/shared/replay";
import { trackReplayEpoch } from "@sigilum-gw/shared/replay-epoch";
import { type ControlPlane, startControlPlane } from "@sigilum-gw/testkit/control-plane";
import { requestStream } from "@sigilum-gw/testkit/stage";
import { suiteFixture } from "@sigilum-gw/testkit/suite";
import { Redis } from "ioredis";
import { ClaimsCache } from "../../src/claims/cache.ts";
import { createFeedClient } from "../../src/claims/feed-client.ts";
import { ClaimSubmitter } from "../../src/claims/submissions.ts";
import type { CheckContext, CheckRequest, Routed } from "../../src/pipeline/check.ts";
import { createSignatureVerifier } from "../../src/pipeline/signature.ts";
import { ClaimCopyStore } from "../../src/store/claim-copies.ts";
import { deletePrefix, REDIS_URL, randomPrefix, SERVICE_API_KEY } from "./harness.ts";

/**
 * A check pipeline's context for running its stages one by one, without HTTP: real Redis (own prefix), a real
 * claims cache and submitter against the loopback control plane, the real signature verifier.
 */
export interface StageBench {
  ctx: CheckContext;
  feed: ControlPlane;
  redis: Redis;
  agent: SigilumIdentity;
  closing: boolean;
  /** A check request for `target` signed by the agent for Host gateway.test (body optional). */
  signed(target: string, options?: { method?: string; body?: string; host?: string }): Routed;
  close(): Promise<void>;
}

/** A stage bench for the calling suite: started before its tests, closed after them. */
export function useStageBench(): StageBench {
  return suiteFixture(startStageBench, (bench) => bench.close());
}

async function startStageBench(): Promise<StageBench> {
  const prefix = randomPrefix();
  const keys = createRedisKeys(prefix);
  const feed = await startControlPlane({ apiKey: SERVICE_API_KEY });
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const queueRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const epoch = trackReplayEpoch(redis, keys.replayEpoch(), { marginSeconds: 5 });
  const claims = new ClaimsCache({
    copies: new ClaimCopyStore(redis, keys),
    feed: createFeedClient({
      registryUrl: feed.url,
      identity: createIdentity("gateway-stage-test"),
      apiKeyFor: () => SERVICE_API_KEY,
      maxApproved: 100,
      timeoutMs: 5000,
    }),
    ttlMs: 30_000,
    refreshMs: 10_000,
    staleIfErrorMs: 0,
    feedTimeoutMs: 5000,
    lookupWaitMs: 2000,
  });
  const submitter = new ClaimSubmitter({
    redis,
    queueConnection: queueRedis,
    keys,
    autoRegister: true,
    ratePerMinute: 100,
    dedupeSeconds: 60,
    timeoutMs: 2000,
  });
  const bench: StageBench = {
    feed,
    redis,
    agent: createIdentity("stage-agents"),
    closing: false,
    ctx: {
      isClosing: () => bench.closing,
      maxBodyBytes: 1024,
      verifier: createSignatureVerifier({ maxAgeSeconds: 300 }),
      nonces: new RedisNonceStore(redis, prefix),
      epoch,
      claims,
      submitter,
      trusted: createTrustedProxies(["127.0.0.1/32"]),
      publicOrigin: undefined,
      signedHosts: createHostAllowlist([], ["gateway.test"]),
      nonceTtlSeconds: 300,
      bypass: { enabled: false, connections: [] },
      connectionKnown: async (service) => service !== "unknown-connection",
    },
    signed(target, options = {}) {
      const host = options.host ?? "gateway.test";
      const signedRequest = signRequest(bench.agent, {
        url: `http://${host}${target}`,
        method: options.method ?? "GET",
        body: options.body ?? null,
      });
      const request = checkRequest(target, {
        host,
        headers: signedRequest.headers,
        method: signedRequest.method,
      });
      const service = /^\/(?:proxy|mcp)\/([^/?]+)/.exec(target)?.[1] ?? "slack-proxy";
      return { request, body: signedRequest.body ? Buffer.from(signedRequest.body) : null, service };
    },
    async close() {
      epoch.close();
      await submitter.close();
      redis.disconnect();
      queueRedis.disconnect();
      await feed.close();
      await deletePrefix(prefix);
    },
  };
  return bench;
}

/** A check request as the handler builds it; its stream carries `body` (when given) and then ends. */
export function checkRequest(
  target: string,
  options: { host?: string; headers?: Record<string, string>; method?: string; body?: Buffer[] } = {},
): CheckRequest {
  const headers = { host: options.host ?? "gateway.test", ...options.headers };
  return {
    stream: requestStream(headers, options.body),
    method: options.method ?? "GET",
    target,
    host: headers.host,
    forwardedProto: undefined,
    headers,
    peerTrusted: false,
    clientIp: "203.0.113.7",
  };
}
