import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mintOwnerToken } from "@sigilum-gw/shared/owner-token";
import { sealToKey } from "@sigilum-gw/shared/sealed-box";
import { sealSecretFields } from "@sigilum-gw/shared/sealed-fields";
import { createTestDatabase, type TestDatabase } from "@sigilum-gw/testkit/postgres";
import { type ServiceProcess, serviceMain, spawnService } from "@sigilum-gw/testkit/process";
import { deletePrefix, REDIS_URL, randomPrefix } from "@sigilum-gw/testkit/redis";

/**
 * Real processes for the pairing tests: control-plane replicas sharing one PostgreSQL database and Redis prefix,
 * a proxy (its admin API is what relayed commands reach) and pairing bridges, every one on its own loopback port.
 */

// biome-ignore lint/suspicious/noExplicitAny: response bodies are asserted field by field
export type Json = any;

export const JWT_SECRET = randomBytes(32).toString("hex");
export const ADMIN_TOKEN = `admin-${randomBytes(16).toString("hex")}`;

export interface PairingStack {
  prefix: string;
  /** The proxy's secrets, for another replica (e.g. an inline-mode proxy with a verifier) on the same store. */
  proxyEnv: Record<string, string>;
  db: TestDatabase;
  controlPlanes: ServiceProcess[];
  proxy: ServiceProcess;
  proxyUrl: string;
  /** Starts a control-plane replica (on `port` when given, e.g. to restart one). */
  startControlPlane(port?: number, env?: Record<string, string>): Promise<ServiceProcess>;
  stop(): Promise<void>;
}

export async function startPairingStack(): Promise<PairingStack> {
  const prefix = randomPrefix();
  const db = await createTestDatabase("pairing_test_");
  const controlPlanes: ServiceProcess[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), "pairing-cp-"));
  const startControlPlane = async (port = 0, env: Record<string, string> = {}) => {
    const cp = await spawnService(serviceMain("control-plane"), "control plane listening", {
      CONTROL_PLANE_ADDR: `127.0.0.1:${port}`,
      CONTROL_PLANE_DATA_DIR: dataDir,
      DATABASE_URL: db.url,
      REDIS_URL,
      REDIS_PREFIX: prefix,
      JWT_SECRET,
      LOG_LEVEL: "debug",
      PAIRING_LEASE_SECONDS: "10",
      ...env,
    });
    controlPlanes.push(cp);
    return cp;
  };
  let proxy: ServiceProcess;
  const proxyEnv = {
    REDIS_URL,
    REDIS_PREFIX: prefix,
    GATEWAY_INTERNAL_SECRET: randomBytes(24).toString("hex"),
    GATEWAY_MASTER_KEY: randomBytes(16).toString("hex"),
    GATEWAY_ADMIN_ACCESS_MODE: "token",
    GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN,
  };
  const cleanUp = async () => {
    await Promise.all(controlPlanes.map((p) => p.stop("SIGKILL")));
    await deletePrefix(prefix);
    await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await startControlPlane();
    await startControlPlane();
    proxy = await spawnService(serviceMain("proxy"), "proxy listening", {
      ...proxyEnv,
      AUTHZ_MODE: "envoy",
      PROXY_ADDR: "127.0.0.1:0",
      LOG_LEVEL: "debug",
    });
  } catch (err) {
    await cleanUp();
    throw err;
  }
  return {
    prefix,
    proxyEnv,
    db,
    controlPlanes,
    proxy,
    proxyUrl: `http://127.0.0.1:${proxy.port}`,
    startControlPlane,
    async stop() {
      await proxy.stop("SIGKILL");
      await cleanUp();
    },
  };
}

export const cpUrl = (cp: ServiceProcess) => `http://127.0.0.1:${cp.port}`;

export function ownerToken(namespace: string): Promise<string> {
  return mintOwnerToken({ namespace, secret: JWT_SECRET, ttlSeconds: 3600 });
}

export async function call(
  base: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Json }> {
  const res = await fetch(base + path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** Starts a pairing bridge process (JSON logs) towards `apiUrl` for a session. */
export function startBridge(
  stack: PairingStack,
  session: { session_id: string; pair_code: string; namespace: string },
  apiUrl: string,
  env: Record<string, string> = {},
): Promise<ServiceProcess> {
  return spawnService(serviceMain("pairing-bridge"), "pairing bridge listening", {
    BRIDGE_ADDR: "127.0.0.1:0",
    SIGILUM_REGISTRY_URL: apiUrl,
    PAIRING_SESSION_ID: session.session_id,
    PAIRING_CODE: session.pair_code,
    PAIRING_NAMESPACE: session.namespace,
    GATEWAY_ADMIN_URL: stack.proxyUrl,
    GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN,
    PAIRING_HEARTBEAT_MS: "1000",
    PAIRING_RECONNECT_MIN_MS: "200",
    PAIRING_RECONNECT_MAX_MS: "4000",
    LOG_LEVEL: "debug",
    ...env,
  });
}

/** The owner's side of a relayed command with its secret fields sealed to the gateway key from the status. */
export async function relay(
  base: string,
  token: string,
  sessionId: string,
  command: { method: string; path: string; body?: Record<string, unknown> },
): Promise<{ status: number; body: Json }> {
  let body: string | null = null;
  if (command.body) {
    const status = await call(base, token, "GET", `/v1/gateway/pairing/status?session_id=${sessionId}`);
    const key = status.body.gateway_public_key as string;
    body = JSON.stringify(
      sealSecretFields(command.method, command.path, command.body, (v) => sealToKey(v, key)),
    );
  }
  return call(base, token, "POST", "/v1/gateway/pairing/command", {
    session_id: sessionId,
    method: command.method,
    path: command.path,
    body,
  });
}

export { until } from "@sigilum-gw/testkit/until";
