import { join } from "node:path";

/**
 * Files of the local stack, all under the data directory:
 *   run/<service>.pid, run/stack.json     who runs where (written by `up`, removed by `down`)
 *   logs/<service>.log                    each service's output
 *   secrets/{gateway-master-key,internal-secret,admin-token}   generated once, 0600
 *   gateway-home/                         the gateway's Sigilum home: identities/<ns>/identity.json and
 *                                         service-api-key-<service> files (spec/gateway.md §4.1)
 *   control-plane/                        control plane data (jwt-secret)
 *   postgres/                             the stack's own PostgreSQL cluster, when DATABASE_URL is not set
 *   proxy/                                proxy data (service catalog)
 *   redis/                                the stack's own Redis (AOF files), when REDIS_URL is not set
 */
export interface StackLayout {
  dataDir: string;
  runDir: string;
  logDir: string;
  secretsDir: string;
  stateFile: string;
  gatewayHome: string;
  controlPlaneDataDir: string;
  proxyDataDir: string;
  redisDataDir: string;
  postgresDataDir: string;
  masterKeyFile: string;
  internalSecretFile: string;
  adminTokenFile: string;
}

export function stackLayout(dataDir: string): StackLayout {
  const runDir = join(dataDir, "run");
  const secretsDir = join(dataDir, "secrets");
  return {
    dataDir,
    runDir,
    logDir: join(dataDir, "logs"),
    secretsDir,
    stateFile: join(runDir, "stack.json"),
    gatewayHome: join(dataDir, "gateway-home"),
    controlPlaneDataDir: join(dataDir, "control-plane"),
    proxyDataDir: join(dataDir, "proxy"),
    redisDataDir: join(dataDir, "redis"),
    postgresDataDir: join(dataDir, "postgres"),
    masterKeyFile: join(secretsDir, "gateway-master-key"),
    internalSecretFile: join(secretsDir, "internal-secret"),
    adminTokenFile: join(secretsDir, "admin-token"),
  };
}

export function pidFile(layout: StackLayout, service: string): string {
  return join(layout.runDir, `${service}.pid`);
}

export function logFile(layout: StackLayout, service: string): string {
  return join(layout.logDir, `${service}.log`);
}

export function serviceApiKeyFile(gatewayHome: string, serviceId: string): string {
  return join(gatewayHome, `service-api-key-${serviceId}`);
}
