import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { type AuthzClaims, createAuthzTokenCodec } from "@sigilum-gw/shared/authz-token";
import { type RecordingServer, type RequestHandler, startRecordingServer } from "@sigilum-gw/testkit/network";
import { deletePrefix, REDIS_URL, randomPrefix } from "@sigilum-gw/testkit/redis";

export { dumpPrefix } from "@sigilum-gw/testkit/redis";

import { suiteFixture } from "@sigilum-gw/testkit/suite";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { type Logger, pino } from "pino";
import type { ProxyConfig } from "../src/config.ts";
import { createProxy, type ProxyInstance } from "../src/server.ts";
import { createProxyKeys } from "../src/store/keys.ts";
import { USAGE_QUEUE } from "../src/usage/queue.ts";

export { deletePrefix, REDIS_URL, randomPrefix };
export const INTERNAL_SECRET = "test-internal-secret-0123456789abcdef-xyz";

export function testConfig(overrides: Partial<ProxyConfig> = {}): ProxyConfig {
  return {
    authzMode: "envoy",
    listen: { host: "127.0.0.1", port: 0 },
    listenVariable: "PROXY_ADDR",
    listenAddressFile: undefined,
    logLevel: "silent",
    logDecisions: true,
    redisUrl: REDIS_URL,
    redisPrefix: randomPrefix(),
    internalSecret: INTERNAL_SECRET,
    verifierUrl: "http://127.0.0.1:1",
    authzTimeoutMs: 5000,
    masterKey: `master-${randomBytes(8).toString("hex")}`,
    previousMasterKey: "",
    trustedProxyCidrs: [],
    publicUrl: undefined,
    allowedHosts: [],
    admin: {
      enforce: true,
      mode: "hybrid",
      token: "",
      timeoutMs: 20_000,
      allowedOrigins: ["http://localhost:3000"],
    },
    maxBodyBytes: 2 * 1024 * 1024,
    proxyTimeoutMs: 10_000,
    allowLinkLocalUpstreams: false,
    rotationEnforcement: "warn",
    rotationGraceDays: 0,
    shutdownTimeoutMs: 5000,
    registryUrl: undefined,
    usageDelivery: "embedded",
    usageDurability: "buffered",
    usageQueueMaxBatches: 20_000,
    identity: { namespace: undefined, home: undefined },
    serviceApiKeyEnv: {},
    mcp: {
      timeoutMs: 10_000,
      discoveryTtlMs: 300_000,
      staleIfErrorMs: 3_600_000,
      toolCallsPerMinute: 120,
      breakerFailures: 3,
      breakerCooldownMs: 10_000,
    },
    ...overrides,
  };
}

/** An inline-mode gateway (listening as GATEWAY_ADDR) authorized by the verifier on `verifierPort`. */
export function inlineGatewayConfig(redisPrefix: string, verifierPort: number): ProxyConfig {
  return testConfig({
    authzMode: "inline",
    listenVariable: "GATEWAY_ADDR",
    redisPrefix,
    verifierUrl: `http://127.0.0.1:${verifierPort}`,
  });
}

/** A pino logger writing JSON lines into an array (to scan logs for secrets). */
export function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger: Logger = pino(
    { level: "trace" },
    {
      write(line: string) {
        lines.push(line);
      },
    },
  );
  return { logger, lines };
}

export interface RunningProxy {
  proxy: ProxyInstance;
  url: string;
  config: ProxyConfig;
  stop(): Promise<void>;
}

export async function startProxy(
  config: ProxyConfig,
  opts: Parameters<typeof createProxy>[1] = {},
): Promise<RunningProxy> {
  const proxy = createProxy(config, opts);
  const address = await proxy.start();
  return {
    proxy,
    config,
    url: `http://127.0.0.1:${address.port}`,
    async stop() {
      await proxy.stop();
    },
  };
}

/** A proxy for the calling suite: started before its tests; stopped, and its Redis keys deleted, after them. */
export function useProxy(
  config: () => ProxyConfig,
  opts: Parameters<typeof createProxy>[1] = {},
): RunningProxy {
  return suiteFixture(
    () => startProxy(config(), opts),
    async (gw) => {
      await gw.stop();
      await deletePrefix(gw.config.redisPrefix);
    },
  );
}

export type Upstream = RecordingServer;

/** An echo server by default: answers 200 with the request it saw as JSON. */
export function startUpstream(handler?: RequestHandler): Promise<Upstream> {
  return startRecordingServer(
    handler ??
      ((req, res, body) => {
        const text = JSON.stringify({
          method: req.method,
          url: req.url,
          headers: req.headers,
          body: body.toString(),
        });
        res.writeHead(200, { "content-type": "application/json", "x-upstream": "echo" });
        res.end(text);
      }),
  );
}

/** An upstream for the calling suite (see startUpstream), closed after its tests. */
export function useUpstream(handler?: RequestHandler): Upstream {
  return suiteFixture(
    () => startUpstream(handler),
    (upstream) => upstream.close(),
  );
}

export const AGENT = {
  namespace: "alice-ns",
  subject: "alice",
  keyId: "did:sigilum:alice-ns#key-1",
  publicKey: "ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
};

export function mintToken(method: string, path: string, claims: Partial<AuthzClaims> = {}): string {
  return createAuthzTokenCodec(INTERNAL_SECRET).sign({
    method,
    path,
    requestId: claims.requestId ?? randomBytes(8).toString("hex"),
    ...AGENT,
    ...claims,
  });
}

/** A GET as Envoy forwards it once the verifier has allowed it: with an x-sigilum-authz token minted for it. */
export function authorizedGet(base: string, path: string): Promise<RawResponse> {
  return rawRequest(base, path, { headers: { "x-sigilum-authz": mintToken("GET", path) } });
}

/** `body` as a JSON POST with its minted authorization token, `headers` added. */
export function authorizedPost(
  base: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  return rawRequest(base, path, {
    method: "POST",
    headers: { "content-type": "application/json", "x-sigilum-authz": mintToken("POST", path), ...headers },
    body: JSON.stringify(body),
  });
}

// biome-ignore lint/suspicious/noExplicitAny: test assertions index freely into response JSON
export type AnyJson = any;

export async function adminJson(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: AnyJson; text: string; headers: Headers }> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json: AnyJson;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, json, text, headers: response.headers };
}

/** Creates connection `id` to `upstreamUrl` through the admin API, its token secret "upstream-token"; asserts 201. */
export async function createTokenConnection(base: string, id: string, upstreamUrl: string): Promise<void> {
  const created = await adminJson(base, "POST", "/api/admin/connections", {
    id,
    base_url: upstreamUrl,
    auth_secret_key: "token",
    secrets: { token: "upstream-token" },
  });
  assert.equal(created.status, 201, created.text);
}

export interface RawResponse {
  status: number;
  headers: import("node:http").IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  text: string;
  json(): AnyJson;
}

/** node:http request that sends the path bytes exactly as given (fetch would normalize `..`). */
export function rawRequest(
  base: string,
  path: string,
  opts: {
    method?: string;
    headers?: Record<string, string | string[]>;
    body?: string | Buffer;
    /** Source address of the connection, e.g. 127.0.0.2 to arrive from a second loopback address. */
    localAddress?: string;
  } = {},
): Promise<RawResponse> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
        method: opts.method ?? "GET",
        path,
        headers: opts.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body,
            text: body.toString(),
            json: () => JSON.parse(body.toString()),
          });
        });
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

/** Waits until `check` passes (polling), for effects that cross processes or event loops. */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(20);
  }
  throw new Error("condition not met in time");
}

/** Usage events waiting in the proxy's bullmq queue (stored, not yet delivered). */
export function waitingEvents(prefix: string): Promise<number> {
  return onUsageQueue(prefix, async (queue) =>
    (await queue.getWaiting()).reduce((n, job) => n + (job.data as { events: unknown[] }).events.length, 0),
  );
}

/** Runs `use` on the proxy's usage queue of keys under `prefix`, through a Redis connection of its own (closed after). */
export async function onUsageQueue<T>(prefix: string, use: (queue: Queue) => Promise<T>): Promise<T> {
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue(USAGE_QUEUE, { connection, prefix: createProxyKeys(prefix).bullmq });
  try {
    return await use(queue);
  } finally {
    await queue.close();
    connection.disconnect();
  }
}
