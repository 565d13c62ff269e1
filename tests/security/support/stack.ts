import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { initIdentity } from "@sigilum-gw/shared/identity";
import { type ControlPlane, startControlPlane } from "@sigilum-gw/testkit/control-plane";
import { type RecordingServer, startRecordingServer } from "@sigilum-gw/testkit/network";
import { type ServiceProcess, serviceMain, spawnService } from "@sigilum-gw/testkit/process";
import { deletePrefix, REDIS_URL, randomPrefix } from "@sigilum-gw/testkit/redis";

/**
 * The gateway as the attacks meet it: real processes (verifier and proxy in inline mode, exactly what
 * `sigilum up` runs), on loopback, sharing a Redis key prefix; a recording upstream that must receive nothing
 * when an attack is refused; and the claims feed (the testkit control plane) approving the test agent.
 * `replicas: 2` starts a second verifier + proxy pair on the same Redis prefix (other replica, same state).
 */

export const SERVICE_API_KEY = "svc-key-security-suite";
export const INTERNAL_SECRET = `security-internal-${randomBytes(16).toString("hex")}`;
export const MASTER_KEY = `security-master-${randomBytes(16).toString("hex")}`;
export const ADMIN_TOKEN = `security-admin-${randomBytes(16).toString("hex")}`;

export interface Replica {
  verifier: ServiceProcess;
  proxy: ServiceProcess;
  /** http://127.0.0.1:<proxy port>: where agents and the admin API are called. */
  url: string;
}

export interface Stack {
  prefix: string;
  controlPlane: ControlPlane;
  upstream: RecordingServer;
  replicas: Replica[];
  /** Every log line every process wrote so far. */
  logs(): string;
  stop(): Promise<void>;
}

export interface StackOptions {
  replicas?: number;
  /** Extra environment for every verifier and proxy. */
  env?: Record<string, string>;
  /** Extra environment for one replica (by index), after `env`: replicas configured differently. */
  replicaEnv?: (index: number) => Record<string, string>;
  prefix?: string;
  /** A Redis of the test's own (restart and rollback attacks); default the shared REDIS_URL. */
  redisUrl?: string;
}

async function startReplica(
  redisUrl: string,
  prefix: string,
  home: string,
  registryUrl: string,
  env: Record<string, string>,
): Promise<Replica> {
  const common = {
    REDIS_URL: redisUrl,
    REDIS_PREFIX: prefix,
    GATEWAY_INTERNAL_SECRET: INTERNAL_SECRET,
    LOG_LEVEL: "info",
    ...env,
  };
  const verifier = await spawnService(serviceMain("verifier"), "verifier listening", {
    ...common,
    VERIFIER_ADDR: "127.0.0.1:0",
    SIGILUM_REGISTRY_URL: registryUrl,
    SIGILUM_SERVICE_API_KEY: SERVICE_API_KEY,
    GATEWAY_SIGILUM_HOME: home,
    GATEWAY_SIGILUM_NAMESPACE: "gateway-security",
    VERIFIER_CLAIMS_COLD_START: "true",
    GATEWAY_TRUSTED_PROXY_CIDRS: "127.0.0.1/32",
  });
  try {
    const proxy = await spawnService(serviceMain("proxy"), "proxy listening", {
      ...common,
      AUTHZ_MODE: "inline",
      GATEWAY_ADDR: "127.0.0.1:0",
      VERIFIER_URL: `http://127.0.0.1:${verifier.port}`,
      GATEWAY_MASTER_KEY: MASTER_KEY,
      GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN,
      GATEWAY_DATA_DIR: join(home, "proxy-data"),
    });
    await untilReady(`http://127.0.0.1:${verifier.port}/health/ready`);
    await untilReady(`http://127.0.0.1:${proxy.port}/health/ready`);
    return { verifier, proxy, url: `http://127.0.0.1:${proxy.port}` };
  } catch (error) {
    await verifier.stop();
    throw error;
  }
}

/** Polls a readiness endpoint until it answers 200 (a loaded machine can take seconds to warm up). */
async function untilReady(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await fetch(url).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`${url} not ready (last status ${status})`);
    await sleep(100);
  }
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const prefix = options.prefix ?? randomPrefix();
  const home = await mkdtemp(join(tmpdir(), "sigilum-security-"));
  await initIdentity({ namespace: "gateway-security", homeDir: home });
  const controlPlane = await startControlPlane({ apiKey: SERVICE_API_KEY });
  const upstream = await startRecordingServer((req, res, body) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: body.toString() }),
    );
  });
  const replicas: Replica[] = [];
  const stop = async () => {
    for (const r of replicas) {
      await r.proxy.stop();
      await r.verifier.stop();
    }
    await upstream.close();
    await controlPlane.close();
    await deletePrefix(prefix, options.redisUrl ?? REDIS_URL);
    await rm(home, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < (options.replicas ?? 1); i++) {
      const redisUrl = options.redisUrl ?? REDIS_URL;
      const env = { ...options.env, ...options.replicaEnv?.(i) };
      replicas.push(await startReplica(redisUrl, prefix, home, controlPlane.url, env));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    prefix,
    controlPlane,
    upstream,
    replicas,
    logs: () => replicas.map((r) => r.verifier.output() + r.proxy.output()).join(""),
    stop,
  };
}
