import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type McpTestServer, startMcpTestServer } from "@sigilum-gw/testkit/mcp-servers";
import {
  adminJson,
  authorizedPost,
  deletePrefix,
  dumpPrefix,
  eventually,
  mintToken,
  type RunningProxy,
  randomPrefix,
  rawRequest,
  startProxy,
  testConfig,
} from "./helpers.ts";

/**
 * Upstream MCP state shared by two proxy replicas (one Redis) against real SDK-built servers: a 2025-11-25 session
 * opened by one replica is used by the other without a new initialize; a session the server forgot is
 * re-initialised once for both; the era detected for a 2026-07-28 server is not probed again by the other replica.
 * Counted on the servers themselves.
 */

function call(base: string, connection: string, text: string) {
  return authorizedPost(base, `/mcp/${connection}/tools/echo/call`, { arguments: { text } });
}

describe("MCP upstream sessions shared by two proxy replicas", () => {
  let legacy: McpTestServer;
  let modern: McpTestServer;
  const prefix = randomPrefix();
  let a: RunningProxy;
  let b: RunningProxy;
  before(async () => {
    legacy = await startMcpTestServer({ era: "stateful" });
    modern = await startMcpTestServer({ era: "stateless" });
    const config = testConfig({ redisPrefix: prefix });
    a = await startProxy(config);
    b = await startProxy({ ...config });
    for (const [id, server] of [
      ["shared-legacy", legacy],
      ["shared-modern", modern],
    ] as const) {
      const res = await adminJson(a.url, "POST", "/api/admin/connections", {
        id,
        protocol: "mcp",
        base_url: server.url,
        auth_secret_key: "token",
        secrets: { token: "replica-SECRET" },
      });
      assert.equal(res.status, 201, res.text);
      // Creating it started a discovery on A (prewarm): that is the first handshake.
      await eventually(() => server.count("tools/list") > 0, 10_000);
    }
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await legacy?.close();
    await modern?.close();
    await deletePrefix(prefix);
  });

  test("a 2025-11-25 session opened via replica A is used by replica B without a new initialize", async () => {
    assert.equal(legacy.count("initialize"), 1);
    for (const [replica, text] of [
      [a, "from-a"],
      [b, "from-b"],
      [b, "again-b"],
    ] as const) {
      const res = await call(replica.url, "shared-legacy", text);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json().result.content, [{ type: "text", text: `echo:${text}` }]);
    }
    // A forced discovery on B lists through the adopted session: the server's capabilities came with it.
    const listPath = "/mcp/shared-legacy/tools?refresh=force";
    const listed = await rawRequest(b.url, listPath, {
      headers: { "x-sigilum-authz": mintToken("GET", listPath) },
    });
    assert.equal(listed.status, 200, listed.text);
    assert.equal(listed.json().discovery_cache_status, "refreshed");
    assert.deepEqual(
      listed.json().tools.map((t: { name: string }) => t.name),
      ["add", "delete", "echo", "search"],
    );
    assert.equal(legacy.count("initialize"), 1, "replica B initialised a session of its own");
    assert.equal(legacy.sessionCount(), 1);
    const ids = new Set(legacy.seen.map((s) => s.headers["mcp-session-id"]).filter((id) => id !== undefined));
    assert.equal(ids.size, 1, "both replicas used the same Mcp-Session-Id");
  });

  test("a session the server forgot is re-initialised once, transparently, for both replicas", async () => {
    legacy.dropSessions();
    const answers = await Promise.all([
      call(a.url, "shared-legacy", "a-after"),
      call(b.url, "shared-legacy", "b-after"),
      call(a.url, "shared-legacy", "a-after-2"),
      call(b.url, "shared-legacy", "b-after-2"),
    ]);
    for (const res of answers) assert.equal(res.status, 200, res.text);
    assert.equal(legacy.count("initialize"), 2, "one initialize for the expired session, across replicas");
    assert.equal(legacy.sessionCount(), 1);
    for (const replica of [a, b])
      assert.equal((await call(replica.url, "shared-legacy", "later")).status, 200);
    assert.equal(legacy.count("initialize"), 2);
  });

  test("the era detected for a 2026-07-28 server via A is adopted by B: no probe, no initialize", async () => {
    const probes = modern.count("server/discover");
    assert.ok(probes >= 1);
    const res = await call(b.url, "shared-modern", "modern-b");
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json().result.content, [{ type: "text", text: "echo:modern-b" }]);
    assert.equal(modern.count("server/discover"), probes, "replica B probed the era again");
    assert.equal(modern.count("initialize"), 0);
  });

  test("the shared session is sealed: neither its id nor the credential is in Redis in clear", async () => {
    const stored = await dumpPrefix(prefix);
    assert.match(stored, /mcp:up:shared-legacy/);
    const ids = legacy.seen.map((s) => s.headers["mcp-session-id"]).filter((id) => typeof id === "string");
    assert.ok(ids.length > 0);
    for (const id of new Set(ids))
      assert.ok(!stored.includes(id as string), "a session id is stored in clear");
    assert.ok(!stored.includes("replica-SECRET"));
  });
});
