import {
  claimsEnv,
  composeEnv,
  type Env,
  gatewayIdentityEnv,
  type ListenAddress,
  listenReportEnv,
  logEnv,
  parseConfig,
  redisEnv,
  shutdownEnv,
  usageWorkerAddrEnv,
} from "@sigilum-gw/shared/config";

/** The usage worker's configuration: the proxy's Redis, log and identity settings, and the registry it posts to. */
export const usageWorkerEnvSchema = composeEnv(
  usageWorkerAddrEnv,
  listenReportEnv,
  logEnv,
  redisEnv,
  shutdownEnv,
  claimsEnv,
  gatewayIdentityEnv,
);

export interface UsageWorkerConfig {
  listen: ListenAddress;
  listenAddressFile: string | undefined;
  logLevel: string;
  logDecisions: boolean;
  redisUrl: string;
  redisPrefix: string;
  registryUrl: string;
  identity: { namespace: string | undefined; home: string | undefined };
  shutdownTimeoutMs: number;
  /** The environment the configuration was read from: per-connection service API keys are looked up in it. */
  serviceApiKeyEnv: Env;
}

export function loadUsageWorkerConfig(env: Env = process.env): UsageWorkerConfig {
  const c = parseConfig(usageWorkerEnvSchema, env);
  return {
    listen: c.USAGE_WORKER_ADDR,
    listenAddressFile: c.LISTEN_ADDRESS_FILE,
    logLevel: c.LOG_LEVEL,
    logDecisions: c.GATEWAY_LOG_PROXY_REQUESTS,
    redisUrl: c.REDIS_URL,
    redisPrefix: c.REDIS_PREFIX,
    registryUrl: c.SIGILUM_REGISTRY_URL,
    identity: { namespace: c.GATEWAY_SIGILUM_NAMESPACE, home: c.GATEWAY_SIGILUM_HOME },
    shutdownTimeoutMs: c.GATEWAY_SHUTDOWN_TIMEOUT_SECONDS * 1000,
    serviceApiKeyEnv: env,
  };
}
