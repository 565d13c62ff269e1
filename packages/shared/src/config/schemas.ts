import { ED25519_BACKEND_NAMES } from "../ed25519.ts";
import { normalizeAllowedHost } from "../host-allowlist.ts";
import {
  envBool,
  envCsv,
  envEnum,
  envInt,
  envListenAddress,
  envSeconds,
  envSecret,
  envSecretUrl,
  envString,
  envUrl,
  normalizeCidr,
} from "./fields.ts";
import { envGroup } from "./parse.ts";

/**
 * Every environment variable of the gateway services, grouped so each service composes only what it reads
 * (`composeEnv(redisEnv, signatureEnv, ...)`). Names and defaults follow spec/gateway.md §11; the new ones come
 * from DESIGN.md §3.
 */

/** `listenAddr("GATEWAY_ADDR", ":38100")` → a group whose one variable parses to `{ host, port }`. */
export function listenAddr<const N extends string>(name: N, defaultAddr: string) {
  return envGroup({ [name]: envListenAddress(defaultAddr) } as {
    [K in N]: ReturnType<typeof envListenAddress>;
  });
}

export const gatewayAddrEnv = listenAddr("GATEWAY_ADDR", ":38100");
export const verifierAddrEnv = listenAddr("VERIFIER_ADDR", ":38110");
export const proxyAddrEnv = listenAddr("PROXY_ADDR", ":38120");
export const bridgeAddrEnv = listenAddr("BRIDGE_ADDR", ":38130");
/** The usage worker's health and metrics listener (it serves nothing else). */
export const usageWorkerAddrEnv = listenAddr("USAGE_WORKER_ADDR", ":38125");
export const controlPlaneAddrEnv = listenAddr("CONTROL_PLANE_ADDR", ":8787");

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

export const logEnv = envGroup({
  LOG_LEVEL: envEnum(LOG_LEVELS, { default: "info" }),
  GATEWAY_LOG_PROXY_REQUESTS: envBool({ default: true }),
});

/** Set by a supervisor that starts the service on port 0: where the chosen address is written (listen-report.ts). */
export const listenReportEnv = envGroup({
  LISTEN_ADDRESS_FILE: envString(),
});

/** Forces one Ed25519 implementation for signature checks; unset = sodium-native when it loads, else node:crypto. */
export const ed25519Env = envGroup({
  SIGILUM_ED25519_BACKEND: envEnum(ED25519_BACKEND_NAMES),
});

export const redisEnv = envGroup({
  REDIS_URL: envSecretUrl({ protocols: ["redis", "rediss"], default: "redis://127.0.0.1:6379" }),
  REDIS_PREFIX: envString({
    default: "sigilum:",
    pattern: /^[A-Za-z0-9_.:-]{1,64}$/,
    expected: "1-64 characters from A-Z a-z 0-9 _ . : -",
  }),
});

/** Unset = local mode: the control plane runs an embedded PostgreSQL (PGlite) in its data directory. */
export const databaseEnv = envGroup({
  DATABASE_URL: envSecretUrl({ protocols: ["postgres", "postgresql"] }),
});

export const shutdownEnv = envGroup({
  GATEWAY_SHUTDOWN_TIMEOUT_SECONDS: envSeconds({ default: 15 }),
});

export const forwardingEnv = envGroup({
  GATEWAY_TRUSTED_PROXY_CIDRS: envCsv({
    item: normalizeCidr,
    expected: "a comma-separated list of CIDRs or IPs",
  }),
  /** Set when agents reach the gateway under another name: the URL agents sign is rebuilt from it. */
  GATEWAY_PUBLIC_URL: envUrl({ protocols: ["http", "https"] }),
  /**
   * Host names (besides loopback and GATEWAY_PUBLIC_URL's) the gateway answers to: the admin API refuses other
   * Host values (DNS rebinding) and the verifier refuses signatures for another authority.
   */
  GATEWAY_ALLOWED_HOSTS: envCsv({
    item: normalizeAllowedHost,
    expected: "a comma-separated list of host names or IPs (optionally with :port)",
  }),
});

export const signatureEnv = envGroup({
  /** Alias: SIGILUM_TIMESTAMP_TOLERANCE_SECONDS (the Sigilum gateway's name). */
  GATEWAY_SIGNATURE_MAX_AGE_SECONDS: envSeconds({ default: 300 }),
  SIGILUM_NONCE_TTL_SECONDS: envSeconds({ default: 600 }),
});

export const NAMESPACE_PATTERN = /^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$/;

/** envString options for a Sigilum namespace (lower-cased, then checked). */
export const NAMESPACE_FIELD = {
  lowerCase: true,
  pattern: NAMESPACE_PATTERN,
  expected: "3-64 characters from a-z 0-9 -, not starting or ending with -",
} as const;

/** The gateway's own Sigilum identity (signs the claims feed and claim submissions). */
export const gatewayIdentityEnv = envGroup({
  /** Alias: SIGILUM_NAMESPACE. Unset = the only identity in the home, if exactly one exists. */
  GATEWAY_SIGILUM_NAMESPACE: envString(NAMESPACE_FIELD),
  /** Alias: SIGILUM_HOME; default $HOME/.sigilum. */
  GATEWAY_SIGILUM_HOME: envString(),
});

export const claimsEnv = envGroup({
  /** Alias: SIGILUM_API_URL. */
  SIGILUM_REGISTRY_URL: envUrl({ protocols: ["http", "https"], default: "https://api.sigilum.id" }),
  /** Default service API key; per-connection keys are read by serviceApiKeyFor. */
  SIGILUM_SERVICE_API_KEY: envSecret({ default: "" }),
  GATEWAY_CLAIMS_CACHE_TTL_SECONDS: envSeconds({ default: 30 }),
  /** Clamped to the TTL by the claims refresher (spec §4.3). */
  GATEWAY_CLAIMS_CACHE_REFRESH_SECONDS: envSeconds({ default: 10 }),
  GATEWAY_CLAIMS_CACHE_MAX_APPROVED: envInt({ default: 10000, min: 1 }),
  /** How long past its TTL a snapshot may answer while the feed is down. 0 = fail closed at TTL (Sigilum). */
  GATEWAY_CLAIMS_STALE_IF_ERROR_SECONDS: envSeconds({ default: 0, min: 0, max: 86400 }),
  GATEWAY_AUTO_REGISTER_CLAIMS: envBool({ default: true }),
  /** 0 = unlimited. */
  GATEWAY_CLAIM_REGISTRATION_RATE_LIMIT_PER_MINUTE: envInt({ default: 30, min: 0 }),
});

export const AUTHZ_MODES = ["envoy", "inline"] as const;

/** Verifier ↔ proxy: who performs the ext_authz call and the secret of the x-sigilum-authz token. */
export const internalAuthEnv = envGroup({
  AUTHZ_MODE: envEnum(AUTHZ_MODES, { default: "inline" }),
  GATEWAY_INTERNAL_SECRET: envSecret({ required: true, minLength: 32 }),
  /** Where the proxy sends its ext_authz check in inline mode. */
  VERIFIER_URL: envUrl({ protocols: ["http", "https"], default: "http://127.0.0.1:38110" }),
});

export const ADMIN_ACCESS_MODES = ["loopback", "token", "hybrid"] as const;

export const DEFAULT_ALLOWED_ORIGINS = [
  "http://localhost:5000",
  "http://127.0.0.1:5000",
  "http://localhost:3000",
  "http://127.0.0.1:3000",
  "http://localhost:38000",
  "http://127.0.0.1:38000",
  "https://sigilum.id",
] as const;

/** `scheme://host[:port]` exactly, no path (not even "/"), query or fragment; the text is kept as written. */
export function normalizeOrigin(entry: string): string | undefined {
  const match = /^(https?):\/\/([^/?#@\s]+)$/i.exec(entry);
  if (!match) return undefined;
  try {
    const url = new URL(entry);
    return url.host === "" ? undefined : entry;
  } catch {
    return undefined;
  }
}

export const adminEnv = envGroup(
  {
    GATEWAY_REQUIRE_SIGNED_ADMIN_CHECKS: envBool({ default: true }),
    GATEWAY_ADMIN_ACCESS_MODE: envEnum(ADMIN_ACCESS_MODES, { default: "hybrid" }),
    GATEWAY_ADMIN_TOKEN: envSecret({ default: "" }),
    GATEWAY_ADMIN_TIMEOUT_SECONDS: envSeconds({ default: 20 }),
    GATEWAY_ALLOWED_ORIGINS: envCsv({
      default: DEFAULT_ALLOWED_ORIGINS,
      item: normalizeOrigin,
      expected: "a comma-separated list of http(s)://host[:port] origins",
    }),
  },
  (config, addIssue) => {
    if (
      config.GATEWAY_REQUIRE_SIGNED_ADMIN_CHECKS &&
      config.GATEWAY_ADMIN_ACCESS_MODE === "token" &&
      config.GATEWAY_ADMIN_TOKEN === ""
    ) {
      addIssue("GATEWAY_ADMIN_TOKEN", "GATEWAY_ADMIN_TOKEN is required when GATEWAY_ADMIN_ACCESS_MODE=token");
    }
  },
);

/** Connection store: secrets at rest are encrypted with a key derived from GATEWAY_MASTER_KEY. */
export const storeEnv = envGroup({
  GATEWAY_MASTER_KEY: envSecret({ required: true }),
  /** Default $XDG_DATA_HOME/sigilum-gateway, else $HOME/.local/share/sigilum-gateway, else ./gateway-data. */
  GATEWAY_DATA_DIR: envString({ default: "./gateway-data" }),
  /** Default <GATEWAY_DATA_DIR>/service-catalog.json. */
  GATEWAY_SERVICE_CATALOG_FILE: envString(),
});

export const ROTATION_ENFORCEMENT_MODES = ["off", "warn", "block"] as const;

export const proxyRuntimeEnv = envGroup({
  GATEWAY_MAX_REQUEST_BODY_BYTES: envInt({ default: 2097152, min: 1 }),
  GATEWAY_PROXY_TIMEOUT_SECONDS: envSeconds({ default: 120 }),
  GATEWAY_ROTATION_ENFORCEMENT: envEnum(ROTATION_ENFORCEMENT_MODES, { default: "warn" }),
  GATEWAY_ROTATION_GRACE_DAYS: envInt({ default: 0, min: 0 }),
  /** Development only: skip signature and claims checks (for the connections below, or all when empty). */
  GATEWAY_ALLOW_UNSIGNED_PROXY: envBool({ default: false }),
  GATEWAY_ALLOW_UNSIGNED_CONNECTIONS: envCsv(),
});

export const mcpEnv = envGroup({
  GATEWAY_MCP_TIMEOUT_SECONDS: envSeconds({ default: 90 }),
  /** 0 = always refresh. */
  GATEWAY_MCP_DISCOVERY_CACHE_TTL_SECONDS: envSeconds({ default: 300, min: 0 }),
  /** 0 = no stale fallback. */
  GATEWAY_MCP_DISCOVERY_STALE_IF_ERROR_SECONDS: envSeconds({ default: 3600, min: 0 }),
  /** 0 = unlimited. */
  GATEWAY_MCP_TOOL_CALL_RATE_LIMIT_PER_MINUTE: envInt({ default: 120, min: 0 }),
  /** Failures (more than half of the calls in the window) before a connection's circuit opens; 0 = no breaker. */
  GATEWAY_MCP_CIRCUIT_BREAKER_FAILURES: envInt({ default: 3, min: 0 }),
  /** How long an open circuit refuses calls before one trial call. */
  GATEWAY_MCP_CIRCUIT_BREAKER_COOLDOWN_SECONDS: envSeconds({ default: 10, min: 0 }),
});
