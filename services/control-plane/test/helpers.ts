import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createLogger } from "@sigilum-gw/shared/logger";
import { mintOwnerToken } from "@sigilum-gw/shared/owner-token";
import { createTestDatabase as createDatabase } from "@sigilum-gw/testkit/postgres";
import { deletePrefix, REDIS_URL, randomPrefix } from "@sigilum-gw/testkit/redis";
import { suiteFixture } from "@sigilum-gw/testkit/suite";
import { Redis } from "ioredis";
import WebSocket from "ws";
import { loadConfig } from "../src/config.ts";
import { type RunningControlPlane, startControlPlane } from "../src/server.ts";

/** Parsed JSON of a response in assertions: its shape is what the test checks. */
// biome-ignore lint/suspicious/noExplicitAny: response bodies are asserted field by field
export type Json = any;

export const rand = (n = 6) => randomBytes(n).toString("hex");

/** A fresh PostgreSQL database for one test file; `drop()` removes it. */
export const createTestDatabase = () => createDatabase("cp_test_");

export interface TestControlPlane {
  cp: RunningControlPlane;
  url: string;
  prefix: string;
  dataDir: string;
  /** The PostgreSQL database it runs on; undefined on the embedded one. */
  databaseUrl: string | undefined;
  token(namespace: string): Promise<string>;
  /** Owner-JWT JSON request. */
  owner(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }>;
  stop(): Promise<void>;
}

export interface TestControlPlaneOptions {
  /** Run on a PostgreSQL database of its own, dropped by `stop()`. */
  freshDatabase?: boolean;
  /** Run on this PostgreSQL database. Without either, the embedded one in the data directory. */
  databaseUrl?: string;
  redis?: boolean;
  env?: Record<string, string>;
}

export async function startTestControlPlane(opts: TestControlPlaneOptions = {}): Promise<TestControlPlane> {
  const dataDir = mkdtempSync(join(tmpdir(), "cp-test-"));
  const prefix = randomPrefix();
  const database = opts.freshDatabase ? await createTestDatabase() : undefined;
  const databaseUrl = database?.url ?? opts.databaseUrl;
  const config = loadConfig({
    CONTROL_PLANE_ADDR: "127.0.0.1:0",
    CONTROL_PLANE_DATA_DIR: dataDir,
    REDIS_PREFIX: prefix,
    LOG_LEVEL: "silent",
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    ...(opts.redis ? { REDIS_URL } : {}),
    ...opts.env,
  });
  const cp = await startControlPlane(config, {
    log: createLogger("control-plane-test", { level: "silent" }),
  }).catch(async (error: unknown) => {
    await database?.drop();
    throw error;
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
    databaseUrl,
    token: (namespace) => mintOwnerToken({ namespace, secret: cp.deps.jwtSecret, ttlSeconds: 3600 }),
    owner,
    async stop() {
      // A test may swap in a restarted instance: close whichever is current.
      if (handle.cp.redis?.status === "ready") await deletePrefix(prefix, handle.cp.redis);
      await handle.cp.close();
      await database?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return handle;
}

/** A control plane for the calling suite: started before its tests, stopped (database and keys removed) after. */
export function useTestControlPlane(opts: TestControlPlaneOptions = {}): TestControlPlane {
  return suiteFixture(
    () => startTestControlPlane(opts),
    (t) => t.stop(),
  );
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
    await sleep(20);
  }
}

/**
 * A raw pairing WebSocket handshake with the given headers (a bridge sends none of its own; a browser sends Origin):
 * 101 (then closed), or the refusal's status and JSON body.
 */
export function handshake(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body?: Json }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, "ws"), { headers });
    ws.on("open", () => {
      ws.close();
      resolve({ status: 101 });
    });
    ws.on("unexpected-response", (_req, res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
        ws.terminate();
      });
    });
    ws.on("error", (err) => {
      if (!/closed before the connection/.test(err.message)) reject(err);
    });
  });
}
