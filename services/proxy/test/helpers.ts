import { randomBytes } from "node:crypto";
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { type AuthzClaims, createAuthzTokenCodec } from "@sigilum-gw/shared/authz-token";
import { Redis } from "ioredis";
import { type Logger, pino } from "pino";
import type { ProxyConfig } from "../src/config.ts";
import { createProxy, type ProxyInstance } from "../src/server.ts";

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
export const INTERNAL_SECRET = "test-internal-secret-0123456789abcdef-xyz";

export function randomPrefix(): string {
  return `test:${randomBytes(6).toString("hex")}:`;
}

export function testConfig(overrides: Partial<ProxyConfig> = {}): ProxyConfig {
  return {
    authzMode: "envoy",
    listen: { host: "127.0.0.1", port: 0 },
    listenVariable: "PROXY_ADDR",
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
    admin: {
      enforce: true,
      mode: "hybrid",
      token: "",
      timeoutMs: 20_000,
      allowedOrigins: ["http://localhost:3000"],
    },
    maxBodyBytes: 2 * 1024 * 1024,
    proxyTimeoutMs: 10_000,
    rotationEnforcement: "warn",
    rotationGraceDays: 0,
    shutdownTimeoutMs: 5000,
    registryUrl: undefined,
    identity: { namespace: undefined, home: undefined },
    ...overrides,
  };
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
  const address = await proxy.listen();
  return {
    proxy,
    config,
    url: `http://127.0.0.1:${address.port}`,
    async stop() {
      await proxy.shutdown();
    },
  };
}

export interface Upstream {
  server: Server;
  url: string;
  requests: {
    method: string;
    url: string;
    headers: Record<string, string | string[] | undefined>;
    body: string;
  }[];
  close(): Promise<void>;
}

export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

/** An echo server by default: answers 200 with the request it saw as JSON. */
export async function startUpstream(handler?: UpstreamHandler): Promise<Upstream> {
  const requests: Upstream["requests"] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      requests.push({
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: body.toString(),
      });
      if (handler) return handler(req, res, body);
      const text = JSON.stringify({
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: body.toString(),
      });
      res.writeHead(200, { "content-type": "application/json", "x-upstream": "echo" });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
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

/** Every key under the prefix, with its raw content (strings, hashes, sets, lists), for secret scans. */
export async function dumpPrefix(prefix: string): Promise<string> {
  const redis = new Redis(REDIS_URL);
  try {
    let out = "";
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
      cursor = next;
      for (const key of keys) {
        const type = await redis.type(key);
        let value: unknown;
        if (type === "string") value = await redis.get(key);
        else if (type === "hash") value = await redis.hgetall(key);
        else if (type === "set") value = await redis.smembers(key);
        else if (type === "list") value = await redis.lrange(key, 0, -1);
        else if (type === "zset") value = await redis.zrange(key, "0", "-1", "WITHSCORES");
        else if (type === "stream") value = await redis.xrange(key, "-", "+");
        out += `${key} ${JSON.stringify(value)}\n`;
      }
    } while (cursor !== "0");
    return out;
  } finally {
    redis.disconnect();
  }
}

/** Deletes only this test's keys. */
export async function deletePrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
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
  opts: { method?: string; headers?: Record<string, string | string[]>; body?: string | Buffer } = {},
): Promise<RawResponse> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
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
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error("condition not met in time");
}
