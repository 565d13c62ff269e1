import {
  bridgeAddrEnv,
  composeEnv,
  type Env,
  logEnv,
  parseConfig,
  shutdownEnv,
} from "@sigilum-gw/shared/config";

/** The bridge's own variables; the control-plane link (URL, pairing code) arrives with the pairing issue. */
const schema = composeEnv(bridgeAddrEnv, logEnv, shutdownEnv);

export interface BridgeConfig {
  listen: { host: string | undefined; port: number };
  logLevel: string;
  shutdownTimeoutMs: number;
}

export function loadBridgeConfig(env: Env = process.env): BridgeConfig {
  const parsed = parseConfig(schema, env);
  return {
    listen: parsed.BRIDGE_ADDR,
    logLevel: parsed.LOG_LEVEL,
    shutdownTimeoutMs: parsed.GATEWAY_SHUTDOWN_TIMEOUT_SECONDS * 1000,
  };
}
