import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signRequest } from "@sigilum-gw/shared/http-signatures";
import { initIdentity, loadIdentity, type SigilumIdentity } from "@sigilum-gw/shared/identity";
import { createLogger } from "@sigilum-gw/shared/logger";
import { mintOwnerToken } from "@sigilum-gw/shared/owner-token";
import { Redis } from "ioredis";
import pg from "pg";
import { loadConfig } from "../src/config.ts";
import { type RunningControlPlane, startControlPlane } from "../src/server.ts";

/** Parsed JSON of a response in assertions: its shape is what the test checks. */
// biome-ignore lint/suspicious/noExplicitAny: response bodies are asserted field by field
export type Json = any;

export const ADMIN_DATABASE_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

export const rand = (n = 6) => randomBytes(n).toString("hex");

/** A fresh PostgreSQL database for one test file; `drop()` removes it. */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `cp_test_${rand()}`;
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** Deletes only keys under this test's own prefix (never FLUSHDB). */
export async function deleteRedisPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== "0");
}

export interface TestControlPlane {
  cp: RunningControlPlane;
  url: string;
  prefix: string;
  dataDir: string;
  token(namespace: string): Promise<string>;
  /** Owner-JWT JSON request. */
  owner(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }>;
  stop(): Promise<void>;
}

export async function startTestControlPlane(
  opts: { databaseUrl?: string; redis?: boolean; env?: Record<string, string> } = {},
): Promise<TestControlPlane> {
  const dataDir = mkdtempSync(join(tmpdir(), "cp-test-"));
  const prefix = `test:${rand()}:`;
  const config = loadConfig({
    CONTROL_PLANE_ADDR: "127.0.0.1:0",
    CONTROL_PLANE_DATA_DIR: dataDir,
    REDIS_PREFIX: prefix,
    LOG_LEVEL: "silent",
    ...(opts.databaseUrl ? { DATABASE_URL: opts.databaseUrl } : {}),
    ...(opts.redis ? { REDIS_URL } : {}),
    ...opts.env,
  });
  const cp = await startControlPlane(config, {
    log: createLogger("control-plane-test", { level: "silent" }),
  });
  const owner = async (token: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(cp.url + path, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
      },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const handle: TestControlPlane = {
    cp,
    url: cp.url,
    prefix,
    dataDir,
    token: (namespace) => mintOwnerToken({ namespace, secret: cp.deps.jwtSecret, ttlSeconds: 3600 }),
    owner,
    async stop() {
      // A test may swap in a restarted instance: close whichever is current.
      if (handle.cp.redis?.status === "ready") await deleteRedisPrefix(handle.cp.redis, prefix);
      await handle.cp.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return handle;
}

const identityHome = mkdtempSync(join(tmpdir(), "cp-test-identities-"));
process.on("exit", () => rmSync(identityHome, { recursive: true, force: true }));

/** A Sigilum identity made and loaded the way an agent or gateway does it. */
export async function makeIdentity(namespace: string): Promise<SigilumIdentity> {
  await initIdentity({ namespace, homeDir: identityHome, force: true });
  return loadIdentity({ namespace, homeDir: identityHome });
}

export interface SignedCall {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
  nonce?: string;
  created?: number;
  /** Raw body text (not JSON-encoded). */
  rawBody?: string;
}

/** A signed request exactly as the SDK sends it; returns status and parsed JSON. */
export async function signedFetch(
  identity: SigilumIdentity,
  url: string,
  call: SignedCall = {},
): Promise<{ status: number; body: Json; headers: Headers }> {
  const method = call.method ?? (call.body !== undefined || call.rawBody !== undefined ? "POST" : "GET");
  const body = call.rawBody ?? (call.body === undefined ? undefined : JSON.stringify(call.body));
  const signed = signRequest(identity, {
    url,
    method,
    headers: body !== undefined ? { "content-type": "application/json" } : {},
    body: body ?? null,
    ...(call.nonce ? { nonce: call.nonce } : {}),
    ...(call.created ? { created: call.created } : {}),
  });
  const res = await fetch(signed.url, {
    method,
    headers: { ...signed.headers, ...call.headers },
    body: signed.body ?? undefined,
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** Owner, service and one service key: what a gateway operator sets up first. */
export async function setupService(
  t: TestControlPlane,
  namespace: string,
  slug: string,
): Promise<{ token: string; serviceId: string; apiKey: string; keyId: string }> {
  const token = await t.token(namespace);
  const svc = await t.owner(token, "POST", "/v1/services", {
    name: `Service ${slug}`,
    slug,
    domain: "example.com",
    description: "test service",
  });
  if (svc.status !== 201) throw new Error(`service create failed: ${svc.status} ${JSON.stringify(svc.body)}`);
  const key = await t.owner(token, "POST", `/v1/services/${svc.body.id}/keys`, { name: "gateway" });
  if (key.status !== 201) throw new Error(`key create failed: ${key.status} ${JSON.stringify(key.body)}`);
  return { token, serviceId: svc.body.id, apiKey: key.body.key, keyId: key.body.id };
}

export function claimBody(agent: SigilumIdentity, service: string, extra: Record<string, unknown> = {}) {
  return {
    namespace: agent.namespace,
    public_key: agent.publicKey,
    service,
    agent_ip: "127.0.0.1",
    nonce: crypto.randomUUID(),
    ...extra,
  };
}

/** Collects messages published on a Redis channel. */
export async function subscribe(channel: string): Promise<{ messages: string[]; close(): Promise<void> }> {
  const sub = new Redis(REDIS_URL);
  const messages: string[] = [];
  sub.on("message", (ch, msg) => {
    if (ch === channel) messages.push(msg);
  });
  await sub.subscribe(channel);
  return {
    messages,
    async close() {
      await sub.quit();
    },
  };
}

export async function waitFor<T>(fn: () => T | undefined, timeoutMs = 2000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() - start > timeoutMs) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}
