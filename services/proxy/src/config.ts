import {
  adminEnv,
  claimsEnv,
  composeEnv,
  type Env,
  envBool,
  envEnum,
  envGroup,
  envInt,
  envSeconds,
  envSecret,
  forwardingEnv,
  gatewayAddrEnv,
  gatewayIdentityEnv,
  internalAuthEnv,
  type ListenAddress,
  listenReportEnv,
  logEnv,
  mcpEnv,
  parseConfig,
  proxyAddrEnv,
  proxyRuntimeEnv,
  redisEnv,
  shutdownEnv,
  storeEnv,
} from "@sigilum-gw/shared/config";

/**
 * The proxy's configuration: parsed and validated once at start-up from the environment (a bad value stops the
 * service with a message naming the variable, never echoing a secret).
 */

export const USAGE_DELIVERY_MODES = ["embedded", "separate"] as const;
export const USAGE_DURABILITIES = ["buffered", "durable"] as const;

const proxyOwnEnv = envGroup({
  /** The master key before the last rotation: records sealed with it stay readable and are re-sealed at start-up. */
  GATEWAY_MASTER_KEY_PREVIOUS: envSecret({ default: "" }),
  /** Deadline for the inline ext_authz call to the verifier. */
  GATEWAY_AUTHZ_TIMEOUT_SECONDS: envSeconds({ default: 10 }),
  /**
   * Who delivers queued usage events to the control plane (when a registry is configured): the proxy itself, or a
   * separate `usage-worker` process, so that signing and posting each event does not compete with forwarding.
   */
  GATEWAY_USAGE_DELIVERY: envEnum(USAGE_DELIVERY_MODES, { default: "embedded" }),
  /** Let connections reach link-local and cloud metadata addresses (SSRF guard off). */
  GATEWAY_ALLOW_LINK_LOCAL_UPSTREAMS: envBool({ default: false }),
  /**
   * buffered: usage events leave in batches every 250 ms (a proxy crash loses up to 250 ms of them); durable: a
   * response ends only once its event is in Redis (nothing lost on a proxy crash; costs a Redis write per group).
   */
  GATEWAY_USAGE_DURABILITY: envEnum(USAGE_DURABILITIES, { default: "buffered" }),
  /** Usage batches waiting in Redis beyond which new events are dropped (buffered) or answers cut (durable). */
  GATEWAY_USAGE_QUEUE_MAX_BATCHES: envInt({ default: 20_000, min: 1, max: 10_000_000 }),
});

export const proxyEnvSchema = composeEnv(
  gatewayAddrEnv,
  proxyAddrEnv,
  listenReportEnv,
  logEnv,
  redisEnv,
  shutdownEnv,
  forwardingEnv,
  internalAuthEnv,
  adminEnv,
  storeEnv,
  proxyRuntimeEnv,
  claimsEnv,
  gatewayIdentityEnv,
  mcpEnv,
  proxyOwnEnv,
);

export interface ProxyConfig {
  authzMode: "envoy" | "inline";
  /** GATEWAY_ADDR in inline mode (the proxy is what agents call), PROXY_ADDR behind Envoy. */
  listen: ListenAddress;
  listenVariable: "GATEWAY_ADDR" | "PROXY_ADDR";
  listenAddressFile: string | undefined;
  logLevel: string;
  logDecisions: boolean;
  redisUrl: string;
  redisPrefix: string;
  internalSecret: string;
  verifierUrl: string;
  authzTimeoutMs: number;
  masterKey: string;
  previousMasterKey: string;
  trustedProxyCidrs: string[];
  /** GATEWAY_PUBLIC_URL and GATEWAY_ALLOWED_HOSTS: the names the admin API answers to (besides loopback). */
  publicUrl: string | undefined;
  allowedHosts: string[];
  admin: {
    enforce: boolean;
    mode: "loopback" | "token" | "hybrid";
    token: string;
    timeoutMs: number;
    allowedOrigins: string[];
  };
  maxBodyBytes: number;
  proxyTimeoutMs: number;
  allowLinkLocalUpstreams: boolean;
  rotationEnforcement: "off" | "warn" | "block";
  rotationGraceDays: number;
  shutdownTimeoutMs: number;
  /** Set only when SIGILUM_REGISTRY_URL (or SIGILUM_API_URL) is given explicitly: usage events are delivered. */
  registryUrl: string | undefined;
  usageDelivery: (typeof USAGE_DELIVERY_MODES)[number];
  usageDurability: (typeof USAGE_DURABILITIES)[number];
  usageQueueMaxBatches: number;
  identity: { namespace: string | undefined; home: string | undefined };
  /** The environment the configuration was read from: per-connection service API keys are looked up in it. */
  serviceApiKeyEnv: Env;
  mcp: {
    timeoutMs: number;
    discoveryTtlMs: number;
    staleIfErrorMs: number;
    /** 0 = unlimited. */
    toolCallsPerMinute: number;
    /** 0 = circuit breaker off. */
    breakerFailures: number;
    breakerCooldownMs: number;
  };
}

export function loadProxyConfig(env: Env = process.env): ProxyConfig {
  const c = parseConfig(proxyEnvSchema, env);
  const inline = c.AUTHZ_MODE === "inline";
  const registryExplicit = Boolean(env.SIGILUM_REGISTRY_URL?.trim() || env.SIGILUM_API_URL?.trim());
  return {
    authzMode: c.AUTHZ_MODE,
    listen: inline ? c.GATEWAY_ADDR : c.PROXY_ADDR,
    listenVariable: inline ? "GATEWAY_ADDR" : "PROXY_ADDR",
    listenAddressFile: c.LISTEN_ADDRESS_FILE,
    logLevel: c.LOG_LEVEL,
    logDecisions: c.GATEWAY_LOG_PROXY_REQUESTS,
    redisUrl: c.REDIS_URL,
    redisPrefix: c.REDIS_PREFIX,
    internalSecret: c.GATEWAY_INTERNAL_SECRET,
    verifierUrl: c.VERIFIER_URL,
    authzTimeoutMs: c.GATEWAY_AUTHZ_TIMEOUT_SECONDS * 1000,
    masterKey: c.GATEWAY_MASTER_KEY,
    previousMasterKey: c.GATEWAY_MASTER_KEY_PREVIOUS,
    trustedProxyCidrs: c.GATEWAY_TRUSTED_PROXY_CIDRS,
    publicUrl: c.GATEWAY_PUBLIC_URL,
    allowedHosts: c.GATEWAY_ALLOWED_HOSTS,
    admin: {
      enforce: c.GATEWAY_REQUIRE_SIGNED_ADMIN_CHECKS,
      mode: c.GATEWAY_ADMIN_ACCESS_MODE,
      token: c.GATEWAY_ADMIN_TOKEN,
      timeoutMs: c.GATEWAY_ADMIN_TIMEOUT_SECONDS * 1000,
      allowedOrigins: c.GATEWAY_ALLOWED_ORIGINS,
    },
    maxBodyBytes: c.GATEWAY_MAX_REQUEST_BODY_BYTES,
    proxyTimeoutMs: c.GATEWAY_PROXY_TIMEOUT_SECONDS * 1000,
    allowLinkLocalUpstreams: c.GATEWAY_ALLOW_LINK_LOCAL_UPSTREAMS,
    rotationEnforcement: c.GATEWAY_ROTATION_ENFORCEMENT,
    rotationGraceDays: c.GATEWAY_ROTATION_GRACE_DAYS,
    shutdownTimeoutMs: c.GATEWAY_SHUTDOWN_TIMEOUT_SECONDS * 1000,
    registryUrl: registryExplicit ? c.SIGILUM_REGISTRY_URL : undefined,
    usageDelivery: c.GATEWAY_USAGE_DELIVERY,
    usageDurability: c.GATEWAY_USAGE_DURABILITY,
    usageQueueMaxBatches: c.GATEWAY_USAGE_QUEUE_MAX_BATCHES,
    identity: { namespace: c.GATEWAY_SIGILUM_NAMESPACE, home: c.GATEWAY_SIGILUM_HOME },
    serviceApiKeyEnv: env,
    mcp: {
      timeoutMs: c.GATEWAY_MCP_TIMEOUT_SECONDS * 1000,
      discoveryTtlMs: c.GATEWAY_MCP_DISCOVERY_CACHE_TTL_SECONDS * 1000,
      staleIfErrorMs: c.GATEWAY_MCP_DISCOVERY_STALE_IF_ERROR_SECONDS * 1000,
      toolCallsPerMinute: c.GATEWAY_MCP_TOOL_CALL_RATE_LIMIT_PER_MINUTE,
      breakerFailures: c.GATEWAY_MCP_CIRCUIT_BREAKER_FAILURES,
      breakerCooldownMs: c.GATEWAY_MCP_CIRCUIT_BREAKER_COOLDOWN_SECONDS * 1000,
    },
  };
}
