// MCP through the gateway vs the MCP server directly, same run (`npm run bench`, or `node tests/bench/mcp-bench.ts`).
// Sequential requests over keep-alive, p50/p99 of each: the cached `tools` listing through the gateway, and a tool
// call through the gateway minus the same call made directly with the official SDK client (the gateway's added
// latency). Targets (tests/bench/targets.ts): cached listing p50 ≤ 2 ms; added call p50 ≤ 2 ms. Both eras (stateful 2025-11-25, stateless
// 2026-07-28). Everything runs in this process, so the figures include sharing one event loop with the servers.
import { randomBytes } from "node:crypto";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { createAuthzTokenCodec } from "@sigilum-gw/shared/authz-token";
import { type McpTestServer, startMcpTestServer } from "@sigilum-gw/testkit/mcp-servers";
import { deletePrefix, REDIS_URL, randomPrefix } from "@sigilum-gw/testkit/redis";
import { pino } from "pino";
import { Pool } from "undici";
import { loadProxyConfig } from "../../services/proxy/src/config.ts";
import { createProxy } from "../../services/proxy/src/server.ts";
import { mcpTargets, targetLine } from "./targets.ts";

const SECRET = `bench-internal-${randomBytes(16).toString("hex")}`;
const WARMUP = 200;
const ROUNDS = Number(process.env.MCP_BENCH_ROUNDS ?? 2000);

export interface McpEraFigures {
  era: "stateful" | "stateless";
  directListP50Ms: number;
  gatewayCachedListP50Ms: number;
  gatewayCachedListP99Ms: number;
  directCallP50Ms: number;
  gatewayCallP50Ms: number;
  addedCallP50Ms: number;
  /** CPU the gateway adds to one tool call (gateway loop minus direct loop, same process), µs. */
  addedCallCpuUs: number;
  gatewayCachedListCpuUs: number;
}

const codec = createAuthzTokenCodec(SECRET);
const token = (method: string, path: string) =>
  codec.sign({
    method,
    path,
    requestId: randomBytes(8).toString("hex"),
    namespace: "bench-ns",
    subject: "bench",
    keyId: "did:sigilum:bench-ns#key-1",
    publicKey: "ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
  });

interface Timed {
  sorted: Float64Array;
  /** Process CPU (all parties in this process) per operation, µs: steady under machine load, unlike wall time. */
  cpuUs: number;
}

async function timed(fn: () => Promise<unknown>): Promise<Timed> {
  for (let i = 0; i < WARMUP; i++) await fn();
  const out = new Float64Array(ROUNDS);
  const cpu = process.cpuUsage();
  for (let i = 0; i < ROUNDS; i++) {
    const started = performance.now();
    await fn();
    out[i] = performance.now() - started;
  }
  const used = process.cpuUsage(cpu);
  return { sorted: out.sort(), cpuUs: (used.user + used.system) / ROUNDS };
}

const pct = (t: Timed, p: number) =>
  t.sorted[Math.min(t.sorted.length - 1, Math.floor(t.sorted.length * p))]!;

async function benchEra(era: "stateful" | "stateless", gatewayUrl: string): Promise<McpEraFigures> {
  const server: McpTestServer = await startMcpTestServer({ era, listTtlMs: 600_000 });
  const id = `bench-${era}`;
  const created = await fetch(`${gatewayUrl}/api/admin/connections`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      id,
      protocol: "mcp",
      base_url: server.url,
      auth_secret_key: "t",
      secrets: { t: "tok" },
    }),
  });
  if (created.status !== 201) throw new Error(`cannot create ${id}: ${await created.text()}`);

  const client = new Client({ name: "bench", version: "1" }, { versionNegotiation: { mode: "auto" } });
  await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
  const directList = await timed(() => client.listTools(undefined, { cacheMode: "bypass" }));
  const directCall = await timed(() => client.callTool({ name: "echo", arguments: { text: "b" } }));

  const pool = new Pool(gatewayUrl, { connections: 1 });
  const listPath = `/mcp/${id}/tools`;
  const callPath = `/mcp/${id}/tools/echo/call`;
  const gatewayList = await timed(async () => {
    const res = await pool.request({
      path: listPath,
      method: "GET",
      headers: { "x-sigilum-authz": token("GET", listPath) },
    });
    await res.body.text();
    if (res.statusCode !== 200) throw new Error(`list: ${res.statusCode}`);
  });
  const gatewayCall = await timed(async () => {
    const res = await pool.request({
      path: callPath,
      method: "POST",
      headers: { "x-sigilum-authz": token("POST", callPath), "content-type": "application/json" },
      body: '{"arguments":{"text":"b"}}',
    });
    await res.body.text();
    if (res.statusCode !== 200) throw new Error(`call: ${res.statusCode}`);
  });
  await pool.close();
  await client.close();
  await server.close();
  return {
    era,
    directListP50Ms: pct(directList, 0.5),
    gatewayCachedListP50Ms: pct(gatewayList, 0.5),
    gatewayCachedListP99Ms: pct(gatewayList, 0.99),
    directCallP50Ms: pct(directCall, 0.5),
    gatewayCallP50Ms: pct(gatewayCall, 0.5),
    addedCallP50Ms: pct(gatewayCall, 0.5) - pct(directCall, 0.5),
    addedCallCpuUs: gatewayCall.cpuUs - directCall.cpuUs,
    gatewayCachedListCpuUs: gatewayList.cpuUs,
  };
}

export async function runMcpBench(): Promise<McpEraFigures[]> {
  const prefix = randomPrefix();
  const config = loadProxyConfig({
    AUTHZ_MODE: "envoy",
    PROXY_ADDR: "127.0.0.1:0",
    REDIS_URL,
    REDIS_PREFIX: prefix,
    GATEWAY_INTERNAL_SECRET: SECRET,
    GATEWAY_MASTER_KEY: randomBytes(16).toString("hex"),
    GATEWAY_REQUIRE_SIGNED_ADMIN_CHECKS: "false",
    GATEWAY_LOG_PROXY_REQUESTS: "false",
    GATEWAY_ROTATION_ENFORCEMENT: "off",
    GATEWAY_MCP_TOOL_CALL_RATE_LIMIT_PER_MINUTE: "0",
    LOG_LEVEL: "silent",
  });
  const proxy = createProxy(config, { logger: pino({ level: "silent" }) });
  const address = await proxy.start();
  try {
    const url = `http://127.0.0.1:${address.port}`;
    return [await benchEra("stateful", url), await benchEra("stateless", url)];
  } finally {
    await proxy.stop();
    await deletePrefix(prefix);
  }
}

const ms = (n: number) => `${n.toFixed(3)} ms`;

export function printMcpBench(results: McpEraFigures[]): void {
  console.log(`\nMCP through the gateway (${ROUNDS} sequential requests each, p50 unless noted)`);
  for (const r of results) {
    console.log(
      `  ${r.era.padEnd(9)} tools listing: direct (server round trip) ${ms(r.directListP50Ms)}, ` +
        `gateway cached ${ms(r.gatewayCachedListP50Ms)} (p99 ${ms(r.gatewayCachedListP99Ms)}, ` +
        `${Math.round(r.gatewayCachedListCpuUs)} µs CPU)`,
    );
    console.log(
      `  ${" ".repeat(9)} tool call: direct ${ms(r.directCallP50Ms)}, gateway ${ms(r.gatewayCallP50Ms)}, ` +
        `added ${ms(r.addedCallP50Ms)} (${Math.round(r.addedCallCpuUs)} µs CPU)`,
    );
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const results = await runMcpBench();
  printMcpBench(results);
  // Alone, the same target lines as `npm run bench` prints (tests/bench/targets.ts).
  console.log("\n== MCP targets ==");
  for (const t of mcpTargets(results)) console.log(targetLine(t));
  process.exit(0);
}
