import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type McpTestServer, startMcpTestServer } from "@sigilum-gw/testkit/mcp-servers";
import {
  adminJson,
  deletePrefix,
  mintToken,
  randomPrefix,
  rawRequest,
  startProxy,
  testConfig,
  useProxy,
} from "./helpers.ts";

/** Upstream failures against a real SDK-built server: circuit breaker, stale-if-error window, shared rate limit. */

function call(base: string, connection: string, tool = "echo", namespace?: string) {
  const path = `/mcp/${connection}/tools/${tool}/call`;
  return rawRequest(base, path, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-sigilum-authz": mintToken("POST", path, namespace ? { namespace } : {}),
    },
    body: JSON.stringify({ arguments: { text: "x" } }),
  });
}

function list(base: string, connection: string) {
  const path = `/mcp/${connection}/tools`;
  return rawRequest(base, path, { headers: { "x-sigilum-authz": mintToken("GET", path) } });
}

async function addConnection(base: string, id: string, server: McpTestServer): Promise<void> {
  const res = await adminJson(base, "POST", "/api/admin/connections", {
    id,
    protocol: "mcp",
    base_url: server.url,
  });
  assert.equal(res.status, 201, res.text);
}

describe("MCP upstream failures", () => {
  let server: McpTestServer;
  before(async () => {
    server = await startMcpTestServer({ era: "stateless" });
  });
  after(() => server?.close());
  let clock = Date.now();
  const gw = useProxy(
    () =>
      testConfig({
        mcp: {
          timeoutMs: 5000,
          discoveryTtlMs: 60_000,
          staleIfErrorMs: 120_000,
          toolCallsPerMinute: 0,
          breakerFailures: 3,
          breakerCooldownMs: 400,
        },
      }),
    { now: () => clock },
  );

  test("repeated failures open the circuit, calls then fail fast, the cooldown closes it", async () => {
    await addConnection(gw.url, "breaker-mcp", server);
    assert.equal((await call(gw.url, "breaker-mcp")).status, 200);
    server.failAlways(503);
    for (let i = 0; i < 3; i++) {
      const res = await call(gw.url, "breaker-mcp");
      assert.equal(res.status, 502, res.text);
      assert.equal(res.json().code, "MCP_TOOL_CALL_FAILED");
    }
    const seen = server.seen.length;
    const open = await call(gw.url, "breaker-mcp");
    assert.equal(open.status, 503, open.text);
    assert.equal(open.json().code, "MCP_CIRCUIT_OPEN");
    assert.equal(server.seen.length, seen, "an open circuit makes no upstream request");
    server.recover();
    await sleep(500);
    const closed = await call(gw.url, "breaker-mcp");
    assert.equal(closed.status, 200, closed.text);
  });

  test("retryable failures are retried once with backoff; others are not", async () => {
    await addConnection(gw.url, "retry-mcp", server);
    assert.equal((await call(gw.url, "retry-mcp")).status, 200);
    const before = server.count("tools/call");
    server.failNext(1, 503);
    const retried = await call(gw.url, "retry-mcp");
    assert.equal(retried.status, 200, retried.text);
    assert.equal(server.count("tools/call"), before + 2);
    server.failNext(1, 400);
    const final = await call(gw.url, "retry-mcp");
    assert.equal(final.status, 502, final.text);
    assert.equal(server.count("tools/call"), before + 3);
  });

  test("stale tools are served within the stale-if-error window, then a clean error", async () => {
    await addConnection(gw.url, "stale-mcp", server);
    const fresh = await list(gw.url, "stale-mcp");
    // "cache_hit" when the discovery started by the creation (prewarm) finished first.
    assert.ok(["refreshed", "cache_hit"].includes(fresh.json().discovery_cache_status), fresh.text);
    clock += 90_000; // past the TTL, inside TTL + stale window
    server.failAlways(500);
    const stale = await list(gw.url, "stale-mcp");
    assert.equal(stale.status, 200, stale.text);
    assert.equal(stale.json().discovery_cache_status, "stale_if_error");
    assert.equal(stale.json().tools.length, 4);
    const forced = await rawRequest(gw.url, "/mcp/stale-mcp/tools?refresh=force", {
      headers: { "x-sigilum-authz": mintToken("GET", "/mcp/stale-mcp/tools?refresh=force") },
    });
    assert.equal(forced.status, 502, forced.text);
    assert.equal(forced.json().code, "MCP_DISCOVERY_FAILED");
    clock += 120_000; // past TTL + stale window
    const gone = await list(gw.url, "stale-mcp");
    assert.equal(gone.status, 502, gone.text);
    assert.equal(gone.json().code, "MCP_DISCOVERY_FAILED");
    assert.match(gone.json().error, /^mcp discovery failed: /);
    server.recover();
    const admin = await adminJson(gw.url, "GET", "/api/admin/connections/stale-mcp");
    assert.match(admin.json.mcp_discovery.last_discovery_error, /500|circuit breaker open/);
  });
});

describe("MCP circuit breaker turned off", () => {
  let server: McpTestServer;
  before(async () => {
    server = await startMcpTestServer({ era: "stateless" });
  });
  after(() => server?.close());
  const gw = useProxy(() =>
    testConfig({
      mcp: {
        timeoutMs: 5000,
        discoveryTtlMs: 60_000,
        staleIfErrorMs: 0,
        toolCallsPerMinute: 0,
        breakerFailures: 0,
        breakerCooldownMs: 60_000,
      },
    }),
  );

  test("GATEWAY_MCP_CIRCUIT_BREAKER_FAILURES=0: every call still reaches the server", async () => {
    await addConnection(gw.url, "nobreaker-mcp", server);
    assert.equal((await call(gw.url, "nobreaker-mcp")).status, 200);
    server.failAlways(500);
    for (let i = 0; i < 6; i++) {
      const seen = server.seen.length;
      const res = await call(gw.url, "nobreaker-mcp");
      assert.equal(res.status, 502, res.text);
      assert.equal(res.json().code, "MCP_TOOL_CALL_FAILED");
      assert.equal(server.seen.length, seen + 1, "each call reaches the server");
    }
    server.recover();
  });
});

describe("MCP tool-call rate limit across two proxy replicas", () => {
  let server: McpTestServer;
  const prefix = randomPrefix();
  const replicas: Awaited<ReturnType<typeof startProxy>>[] = [];
  before(async () => {
    server = await startMcpTestServer({ era: "stateful" });
    const config = () =>
      testConfig({
        redisPrefix: prefix,
        mcp: {
          timeoutMs: 5000,
          discoveryTtlMs: 60_000,
          staleIfErrorMs: 0,
          toolCallsPerMinute: 4,
          breakerFailures: 3,
          breakerCooldownMs: 10_000,
        },
      });
    const masterKey = config().masterKey;
    replicas.push(await startProxy({ ...config(), masterKey }), await startProxy({ ...config(), masterKey }));
  });
  after(async () => {
    for (const replica of replicas) await replica.stop();
    await server?.close();
    await deletePrefix(prefix);
  });

  test("the budget is shared: 4 calls per minute per namespace whichever replica serves them", async () => {
    const [a, b] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
    await addConnection(a.url, "limited-mcp", server);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++)
      statuses.push((await call(i % 2 === 0 ? a.url : b.url, "limited-mcp")).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
    const limited = await call(b.url, "limited-mcp");
    assert.equal(limited.json().code, "MCP_TOOL_RATE_LIMITED");
    assert.ok(Number(limited.headers["retry-after"]) >= 1);
    assert.equal(server.count("tools/call"), 4);
    const other = await call(a.url, "limited-mcp", "echo", "other-ns");
    assert.equal(other.status, 200, "another namespace has its own budget");
  });
});

describe("MCP answers are bounded", () => {
  let server: McpTestServer;
  before(async () => {
    server = await startMcpTestServer({ era: "stateless", tools: ["big", "echo"] });
  });
  after(() => server?.close());
  const gw = useProxy(() => testConfig());

  test("an answer over 2 MiB fails the call (502) instead of filling the gateway's memory", async () => {
    await addConnection(gw.url, "big-mcp", server);
    const big = await call(gw.url, "big-mcp", "big");
    assert.equal(big.status, 502, big.text.slice(0, 300));
    assert.equal(big.json().code, "MCP_TOOL_CALL_FAILED");
    assert.match(big.json().error, /exceeds 2097152 bytes/);
    assert.equal((await call(gw.url, "big-mcp", "echo")).status, 200);
  });
});
