import {
  bridgeAddrEnv,
  ConfigError,
  composeEnv,
  type Env,
  envEnum,
  envGroup,
  envInt,
  envSecret,
  envString,
  envUrl,
  listenReportEnv,
  logEnv,
  parseConfig,
  shutdownEnv,
} from "@sigilum-gw/shared/config";

/** How progress is shown: JSON log lines (services), or the reference bridge's `[sigilum] …` lines (the CLI). */
export const BRIDGE_OUTPUTS = ["json", "text"] as const;

const pairingEnv = envGroup({
  /** The control plane the bridge dials out to. */
  SIGILUM_REGISTRY_URL: envUrl({ protocols: ["http", "https"], default: "http://127.0.0.1:8787" }),
  /** Both unset: the bridge runs unpaired (health only, not ready) until it is configured. */
  PAIRING_SESSION_ID: envString({ default: "" }),
  PAIRING_CODE: envSecret({ default: "" }),
  /** When set, the control plane checks the session belongs to this namespace. */
  PAIRING_NAMESPACE: envString({ default: "" }),
  /** The proxy whose admin API the relayed commands reach. */
  GATEWAY_ADMIN_URL: envUrl({ protocols: ["http", "https"], default: "http://127.0.0.1:38100" }),
  /** Sent as X-Sigilum-Admin-Token with every relayed command (the owner's side never supplies it). */
  GATEWAY_ADMIN_TOKEN: envSecret({ default: "" }),
  PAIRING_RECONNECT_MIN_MS: envInt({ default: 1000, min: 100, max: 60_000 }),
  PAIRING_RECONNECT_MAX_MS: envInt({ default: 60_000, min: 1000, max: 3_600_000 }),
  PAIRING_CONNECT_TIMEOUT_MS: envInt({ default: 5000, min: 1000, max: 120_000 }),
  PAIRING_HEARTBEAT_MS: envInt({ default: 30_000, min: 1000, max: 300_000 }),
  PAIRING_RELAY_TIMEOUT_MS: envInt({ default: 10_000, min: 1000, max: 120_000 }),
  BRIDGE_OUTPUT: envEnum(BRIDGE_OUTPUTS, { default: "json" }),
});

const schema = composeEnv(bridgeAddrEnv, listenReportEnv, logEnv, shutdownEnv, pairingEnv);

export interface PairingSettings {
  apiUrl: string;
  sessionId: string;
  pairCode: string;
  namespace: string;
  adminUrl: string;
  adminToken: string;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  connectTimeoutMs: number;
  heartbeatMs: number;
  relayTimeoutMs: number;
}

export interface BridgeConfig {
  listen: { host: string | undefined; port: number };
  listenAddressFile: string | undefined;
  logLevel: string;
  shutdownTimeoutMs: number;
  output: (typeof BRIDGE_OUTPUTS)[number];
  /** null when no session is configured (unpaired). */
  pairing: PairingSettings | null;
}

export function loadBridgeConfig(env: Env = process.env): BridgeConfig {
  const parsed = parseConfig(schema, env);
  const missing = !parsed.PAIRING_SESSION_ID
    ? "PAIRING_SESSION_ID"
    : !parsed.PAIRING_CODE
      ? "PAIRING_CODE"
      : null;
  if (missing && (parsed.PAIRING_SESSION_ID || parsed.PAIRING_CODE)) {
    throw new ConfigError([{ variable: missing, message: `${missing} is required with a pairing session` }]);
  }
  return {
    listen: parsed.BRIDGE_ADDR,
    listenAddressFile: parsed.LISTEN_ADDRESS_FILE,
    logLevel: parsed.LOG_LEVEL,
    shutdownTimeoutMs: parsed.GATEWAY_SHUTDOWN_TIMEOUT_SECONDS * 1000,
    output: parsed.BRIDGE_OUTPUT,
    pairing: missing
      ? null
      : {
          apiUrl: parsed.SIGILUM_REGISTRY_URL,
          sessionId: parsed.PAIRING_SESSION_ID,
          pairCode: parsed.PAIRING_CODE,
          namespace: parsed.PAIRING_NAMESPACE,
          adminUrl: parsed.GATEWAY_ADMIN_URL,
          adminToken: parsed.GATEWAY_ADMIN_TOKEN,
          reconnectMinMs: parsed.PAIRING_RECONNECT_MIN_MS,
          reconnectMaxMs: Math.max(parsed.PAIRING_RECONNECT_MAX_MS, parsed.PAIRING_RECONNECT_MIN_MS),
          connectTimeoutMs: parsed.PAIRING_CONNECT_TIMEOUT_MS,
          heartbeatMs: parsed.PAIRING_HEARTBEAT_MS,
          relayTimeoutMs: parsed.PAIRING_RELAY_TIMEOUT_MS,
        },
  };
}
