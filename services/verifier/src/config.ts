import { availableParallelism } from "node:os";
import type { AdminAccessPolicy } from "@sigilum-gw/shared/admin-access";
import {
  adminEnv,
  claimsEnv,
  composeEnv,
  ed25519Env,
  envBool,
  envCsv,
  envGroup,
  envInt,
  envSeconds,
  forwardingEnv,
  gatewayIdentityEnv,
  internalAuthEnv,
  type ListenAddress,
  listenReportEnv,
  logEnv,
  parseConfig,
  proxyRuntimeEnv,
  redisEnv,
  shutdownEnv,
  signatureEnv,
  verifierAddrEnv,
} from "@sigilum-gw/shared/config";
import type { Ed25519BackendName } from "@sigilum-gw/shared/ed25519";

/** Variables only the verifier reads; the shared groups carry the gateway-wide ones (spec/gateway.md §11). */
const verifierEnv = envGroup({
  /** Ready without a first successful feed load (the feed is then fetched on first use). */
  VERIFIER_CLAIMS_COLD_START: envBool({ default: false }),
  /** Connection ids whose approved claims are loaded before the verifier reports ready. */
  VERIFIER_CLAIMS_PRELOAD_SERVICES: envCsv(),
  /**
   * One submission per (service, namespace, key) reaches the control plane within this window. Short on purpose:
   * after a revocation the agent's next request must file a new request the owner can approve.
   */
  VERIFIER_CLAIM_SUBMIT_DEDUPE_SECONDS: envInt({ min: 0, default: 5 }),
  VERIFIER_FEED_TIMEOUT_SECONDS: envSeconds({ default: 10 }),
  /** Longest a check waits for a claims refresh; keep it under Envoy's ext_authz timeout (1 s in envoy.yaml). */
  VERIFIER_CLAIMS_WAIT_MS: envInt({ min: 10, max: 60000, default: 800 }),
  /** Verifier processes sharing the port; 0 = one per available CPU. */
  VERIFIER_WORKERS: envInt({ min: 0, max: 256, default: 1 }),
  /** Hot-path Redis commands fail (503) after this long instead of queueing behind a dead connection. */
  VERIFIER_REDIS_COMMAND_TIMEOUT_MS: envInt({ min: 10, max: 10000, default: 250 }),
});

const schema = composeEnv(
  verifierAddrEnv,
  listenReportEnv,
  logEnv,
  redisEnv,
  shutdownEnv,
  forwardingEnv,
  signatureEnv,
  gatewayIdentityEnv,
  claimsEnv,
  internalAuthEnv,
  adminEnv,
  proxyRuntimeEnv,
  ed25519Env,
  verifierEnv,
);

export interface VerifierConfig {
  listen: ListenAddress;
  listenAddressFile: string | undefined;
  redisUrl: string;
  redisPrefix: string;
  registryUrl: string;
  signerNamespace: string | undefined;
  signerHome: string | undefined;
  internalSecret: string;
  publicOrigin: string | undefined;
  /** GATEWAY_ALLOWED_HOSTS: Host names (besides loopback) agents may sign for when no public URL is set. */
  allowedHosts: string[];
  trustedProxyCidrs: string[];
  signatureMaxAgeSeconds: number;
  nonceTtlSeconds: number;
  claims: {
    ttlSeconds: number;
    refreshSeconds: number;
    maxApproved: number;
    staleIfErrorSeconds: number;
    coldStartAllowed: boolean;
    preloadServices: string[];
    feedTimeoutMs: number;
    lookupWaitMs: number;
  };
  submissions: {
    autoRegister: boolean;
    ratePerMinute: number;
    dedupeSeconds: number;
  };
  bypass: { enabled: boolean; connections: string[] };
  maxBodyBytes: number;
  logDecisions: boolean;
  shutdownTimeoutMs: number;
  admin: AdminAccessPolicy;
  redisCommandTimeoutMs: number;
  logLevel: string;
  /** Unset = sodium-native when it loads, else node:crypto. */
  ed25519Backend: Ed25519BackendName | undefined;
  workers: number;
  serviceApiKeyEnv: NodeJS.ProcessEnv;
}

export function loadVerifierConfig(env: NodeJS.ProcessEnv = process.env): VerifierConfig {
  const e = parseConfig(schema, env);
  const refreshSeconds = Math.min(e.GATEWAY_CLAIMS_CACHE_REFRESH_SECONDS, e.GATEWAY_CLAIMS_CACHE_TTL_SECONDS);
  return {
    listen: e.VERIFIER_ADDR,
    listenAddressFile: e.LISTEN_ADDRESS_FILE,
    redisUrl: e.REDIS_URL,
    redisPrefix: e.REDIS_PREFIX,
    registryUrl: e.SIGILUM_REGISTRY_URL,
    signerNamespace: e.GATEWAY_SIGILUM_NAMESPACE,
    signerHome: e.GATEWAY_SIGILUM_HOME,
    internalSecret: e.GATEWAY_INTERNAL_SECRET,
    // Only scheme and host matter: the path an agent signs is the one Envoy forwards.
    publicOrigin: e.GATEWAY_PUBLIC_URL ? new URL(e.GATEWAY_PUBLIC_URL).origin : undefined,
    allowedHosts: e.GATEWAY_ALLOWED_HOSTS,
    trustedProxyCidrs: e.GATEWAY_TRUSTED_PROXY_CIDRS,
    signatureMaxAgeSeconds: e.GATEWAY_SIGNATURE_MAX_AGE_SECONDS,
    // A nonce must outlive every signature that could still pass the freshness check, or a replay slips through.
    nonceTtlSeconds: Math.max(e.SIGILUM_NONCE_TTL_SECONDS, e.GATEWAY_SIGNATURE_MAX_AGE_SECONDS + 60),
    claims: {
      ttlSeconds: e.GATEWAY_CLAIMS_CACHE_TTL_SECONDS,
      refreshSeconds,
      maxApproved: e.GATEWAY_CLAIMS_CACHE_MAX_APPROVED,
      staleIfErrorSeconds: e.GATEWAY_CLAIMS_STALE_IF_ERROR_SECONDS,
      coldStartAllowed: e.VERIFIER_CLAIMS_COLD_START,
      preloadServices: e.VERIFIER_CLAIMS_PRELOAD_SERVICES,
      feedTimeoutMs: e.VERIFIER_FEED_TIMEOUT_SECONDS * 1000,
      lookupWaitMs: e.VERIFIER_CLAIMS_WAIT_MS,
    },
    submissions: {
      autoRegister: e.GATEWAY_AUTO_REGISTER_CLAIMS,
      ratePerMinute: e.GATEWAY_CLAIM_REGISTRATION_RATE_LIMIT_PER_MINUTE,
      dedupeSeconds: e.VERIFIER_CLAIM_SUBMIT_DEDUPE_SECONDS,
    },
    bypass: { enabled: e.GATEWAY_ALLOW_UNSIGNED_PROXY, connections: e.GATEWAY_ALLOW_UNSIGNED_CONNECTIONS },
    maxBodyBytes: e.GATEWAY_MAX_REQUEST_BODY_BYTES,
    logDecisions: e.GATEWAY_LOG_PROXY_REQUESTS,
    shutdownTimeoutMs: e.GATEWAY_SHUTDOWN_TIMEOUT_SECONDS * 1000,
    admin: {
      enforce: e.GATEWAY_REQUIRE_SIGNED_ADMIN_CHECKS,
      mode: e.GATEWAY_ADMIN_ACCESS_MODE,
      token: e.GATEWAY_ADMIN_TOKEN,
    },
    redisCommandTimeoutMs: e.VERIFIER_REDIS_COMMAND_TIMEOUT_MS,
    logLevel: e.LOG_LEVEL,
    ed25519Backend: e.SIGILUM_ED25519_BACKEND,
    workers: e.VERIFIER_WORKERS === 0 ? availableParallelism() : e.VERIFIER_WORKERS,
    // Service API keys are read per call (rotation without restart), from this environment.
    serviceApiKeyEnv: env,
  };
}
