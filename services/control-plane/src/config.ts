import {
  controlPlaneAddrEnv,
  databaseEnv,
  type Env,
  ed25519Env,
  envBool,
  envCsv,
  envEnum,
  envGroup,
  envInt,
  envSeconds,
  envSecret,
  envSecretUrl,
  envString,
  envUrl,
  type ListenAddress,
  LOG_LEVELS,
  listenReportEnv,
  normalizeOrigin,
  parseConfig,
  redisEnv,
} from "@sigilum-gw/shared/config";
import type { Ed25519BackendName } from "@sigilum-gw/shared/ed25519";
import { normalizeAllowedHost } from "@sigilum-gw/shared/host-allowlist";
import { z } from "zod";

const controlPlaneEnv = envGroup({
  /** The URL clients sign (`@target-uri` origin); unset = `http://` + the Host header. */
  CONTROL_PLANE_PUBLIC_URL: envUrl({ protocols: ["http", "https"] }),
  /** Embedded PostgreSQL and the generated JWT secret live here when DATABASE_URL / JWT_SECRET are unset. */
  CONTROL_PLANE_DATA_DIR: envString({ default: "./.data/control-plane" }),
  /** Trust X-Forwarded-Proto for the signed URL scheme (only behind a proxy that sets it). */
  CONTROL_PLANE_TRUST_PROXY: envBool({ default: false }),
  CONTROL_PLANE_MAX_BODY_BYTES: envInt({ default: 1024 * 1024, min: 1024, max: 64 * 1024 * 1024 }),
  /** How often pending claims are expired and old nonces purged. */
  CONTROL_PLANE_SWEEP_INTERVAL_SECONDS: envSeconds({ default: 900, min: 1, max: 86400 }),
  CONTROL_PLANE_SHUTDOWN_TIMEOUT_SECONDS: envSeconds({ default: 15 }),
  /** Unset = Redis not used: nonces in PostgreSQL, no claims.changed events. */
  REDIS_URL: envSecretUrl({ protocols: ["redis", "rediss"] }),
  REDIS_PREFIX: redisEnv.shape.REDIS_PREFIX,
  /** HS256 secret for owner JWTs; unset = generated into <CONTROL_PLANE_DATA_DIR>/jwt-secret. */
  JWT_SECRET: envSecret({ minLength: 32 }),
  ALLOWED_ORIGINS: envCsv({
    default: ["http://localhost:3000"],
    item: normalizeOrigin,
    expected: "a comma-separated list of http(s)://host[:port] origins",
  }),
  /** Host names (besides loopback, IP addresses and CONTROL_PLANE_PUBLIC_URL's) the API answers to. */
  CONTROL_PLANE_ALLOWED_HOSTS: envCsv({
    item: normalizeAllowedHost,
    expected: "a comma-separated list of host names (optionally with :port)",
  }),
  /** Lifetime of a dashboard sign-in (the session cookie's JWT). */
  DASHBOARD_SESSION_SECONDS: envSeconds({ default: 12 * 3600, min: 60, max: 30 * 86400 }),
  /** Lifetime of a one-time login link. */
  DASHBOARD_LOGIN_LINK_SECONDS: envSeconds({ default: 600, min: 10, max: 86400 }),
  /** Passkey sign-up of new namespaces from the dashboard (`/v1/auth/signup*`); off: owners come from the CLI. */
  DASHBOARD_SIGNUP: envBool({ default: false }),
  LOG_LEVEL: envEnum(LOG_LEVELS, { default: "info" }),
  MAX_PENDING_AUTHORIZATIONS: envInt({ default: 20, min: 1 }),
  MAX_API_KEYS_PER_SERVICE: envInt({ default: 2, min: 1, max: 100 }),
  MAX_SERVICES_PER_OWNER: envInt({ default: 5, min: 1 }),
  MAX_APPROVED_AGENTS_PER_SERVICE: envInt({ default: 10, min: 1 }),
  MAX_CONNECTED_SERVICES_PER_NAMESPACE: envInt({ default: 10, min: 1 }),
  PENDING_AUTHORIZATION_EXPIRY_HOURS: envInt({ default: 24, min: 1, max: 24 * 365 }),
  SIGNATURE_MAX_AGE_SECONDS: envSeconds({ default: 300, min: 1, max: 3600 }),
  SIGNATURE_NONCE_TTL_SECONDS: envSeconds({ default: 600, min: 1, max: 86400 }),
  /** A paired gateway's socket silent this long (no heartbeat) is dropped and its session shown disconnected. */
  PAIRING_LEASE_SECONDS: envSeconds({ default: 90, min: 2, max: 3600 }),
  /** Key for webhook secrets at rest (SHA-256 of it); unset = derived from the JWT secret. */
  WEBHOOK_SECRET_ENCRYPTION_KEY: envSecret({ minLength: 16 }),
  /** Lets webhooks target private, loopback and link-local addresses (the literal `localhost` stays refused). */
  WEBHOOK_ALLOW_PRIVATE_TARGETS: envBool({ default: false }),
  /** Delays before each retry; after the last one it keeps doubling while inside the retry window. */
  WEBHOOK_RETRY_DELAYS_SECONDS: envCsv({
    default: ["300", "3600", "7200", "14400", "28800"],
    item: (v) => (/^[1-9]\d{0,6}$/.test(v) ? v : undefined),
    expected: "a comma-separated list of whole seconds",
  }),
  WEBHOOK_RETRY_WINDOW_SECONDS: envSeconds({ default: 86400, min: 1, max: 7 * 86400 }),
  WEBHOOK_TIMEOUT_SECONDS: envSeconds({ default: 10, min: 1, max: 120 }),
  MAX_WEBHOOKS_PER_SERVICE: envInt({ default: 5, min: 1, max: 100 }),
});

// Spread from the groups' shapes: composeEnv's merged type widens every field to unknown.
const configSchema = z.object({
  ...controlPlaneAddrEnv.shape,
  ...listenReportEnv.shape,
  ...databaseEnv.shape,
  ...ed25519Env.shape,
  ...controlPlaneEnv.shape,
});

/** The control plane's configuration; the variable each field comes from is in configSchema. */
export interface Config {
  /** CONTROL_PLANE_ADDR */
  listen: ListenAddress;
  listenAddressFile: string | undefined;
  publicUrl: string | undefined;
  dataDir: string;
  trustProxy: boolean;
  maxBodyBytes: number;
  sweepIntervalSeconds: number;
  shutdownTimeoutMs: number;
  /** Unset = the embedded PostgreSQL (PGlite) in dataDir. */
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  redisPrefix: string;
  jwtSecret: string | undefined;
  allowedOrigins: string[];
  allowedHosts: string[];
  logLevel: (typeof LOG_LEVELS)[number];
  dashboard: { sessionSeconds: number; loginLinkSeconds: number; signup: boolean };
  limits: {
    pendingAuthorizations: number;
    apiKeysPerService: number;
    servicesPerOwner: number;
    approvedAgentsPerService: number;
    connectedServicesPerNamespace: number;
  };
  pendingAuthorizationExpiryHours: number;
  signatureMaxAgeSeconds: number;
  signatureNonceTtlSeconds: number;
  /** Unset = sodium-native when it loads, else node:crypto. */
  ed25519Backend: Ed25519BackendName | undefined;
  pairingLeaseMs: number;
  webhooks: {
    secretEncryptionKey: string | undefined;
    allowPrivateTargets: boolean;
    retryDelaysMs: number[];
    retryWindowMs: number;
    timeoutMs: number;
    maxPerService: number;
  };
}

/** Parses the environment once; throws ConfigError naming every bad variable (never echoing a secret). */
export function loadConfig(env: Env = process.env): Config {
  const e = parseConfig(configSchema, env);
  return {
    listen: e.CONTROL_PLANE_ADDR,
    listenAddressFile: e.LISTEN_ADDRESS_FILE,
    publicUrl: e.CONTROL_PLANE_PUBLIC_URL,
    dataDir: e.CONTROL_PLANE_DATA_DIR,
    trustProxy: e.CONTROL_PLANE_TRUST_PROXY,
    maxBodyBytes: e.CONTROL_PLANE_MAX_BODY_BYTES,
    sweepIntervalSeconds: e.CONTROL_PLANE_SWEEP_INTERVAL_SECONDS,
    shutdownTimeoutMs: e.CONTROL_PLANE_SHUTDOWN_TIMEOUT_SECONDS * 1000,
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    redisPrefix: e.REDIS_PREFIX,
    jwtSecret: e.JWT_SECRET,
    allowedOrigins: e.ALLOWED_ORIGINS,
    allowedHosts: e.CONTROL_PLANE_ALLOWED_HOSTS,
    logLevel: e.LOG_LEVEL,
    dashboard: {
      sessionSeconds: e.DASHBOARD_SESSION_SECONDS,
      loginLinkSeconds: e.DASHBOARD_LOGIN_LINK_SECONDS,
      signup: e.DASHBOARD_SIGNUP,
    },
    limits: {
      pendingAuthorizations: e.MAX_PENDING_AUTHORIZATIONS,
      apiKeysPerService: e.MAX_API_KEYS_PER_SERVICE,
      servicesPerOwner: e.MAX_SERVICES_PER_OWNER,
      approvedAgentsPerService: e.MAX_APPROVED_AGENTS_PER_SERVICE,
      connectedServicesPerNamespace: e.MAX_CONNECTED_SERVICES_PER_NAMESPACE,
    },
    pendingAuthorizationExpiryHours: e.PENDING_AUTHORIZATION_EXPIRY_HOURS,
    signatureMaxAgeSeconds: e.SIGNATURE_MAX_AGE_SECONDS,
    signatureNonceTtlSeconds: e.SIGNATURE_NONCE_TTL_SECONDS,
    ed25519Backend: e.SIGILUM_ED25519_BACKEND,
    pairingLeaseMs: e.PAIRING_LEASE_SECONDS * 1000,
    webhooks: {
      secretEncryptionKey: e.WEBHOOK_SECRET_ENCRYPTION_KEY,
      allowPrivateTargets: e.WEBHOOK_ALLOW_PRIVATE_TARGETS,
      retryDelaysMs: e.WEBHOOK_RETRY_DELAYS_SECONDS.map((s) => Number(s) * 1000),
      retryWindowMs: e.WEBHOOK_RETRY_WINDOW_SECONDS * 1000,
      timeoutMs: e.WEBHOOK_TIMEOUT_SECONDS * 1000,
      maxPerService: e.MAX_WEBHOOKS_PER_SERVICE,
    },
  };
}
