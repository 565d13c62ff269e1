import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type McpTestServer, startMcpTestServer } from "@sigilum-gw/testkit/mcp-servers";
import {
  adminJson,
  authorizedGet,
  authorizedPost,
  dumpPrefix,
  eventually,
  mintToken,
  rawRequest,
  testConfig,
  useProxy,
} from "./helpers.ts";

/**
 * The MCP runtime routes against real MCP servers built with the official SDK: a stateful 2025-11-25 server
 * (initialize + Mcp-Session-Id) and a stateless 2026-07-28 one (server/discover, no session).
 */

const SECRET = "mcp-upstream-SECRET-42";

describe("MCP runtime routes, both protocol eras", () => {
  let legacy: McpTestServer;
  let modern: McpTestServer;
  before(async () => {
    legacy = await startMcpTestServer({ era: "stateful" });
    modern = await startMcpTestServer({ era: "stateless" });
  });
  after(async () => {
    await legacy?.close();
    await modern?.close();
  });
  const gw = useProxy(() => testConfig());

  before(async () => {
    for (const [id, server] of [
      ["legacy-mcp", () => legacy],
      ["modern-mcp", () => modern],
    ] as const) {
      const res = await adminJson(gw.url, "POST", "/api/admin/connections", {
        id,
        protocol: "mcp",
        base_url: new URL(server().url).origin,
        mcp_endpoint: "/mcp",
        auth_secret_key: "token",
        secrets: { token: SECRET },
      });
      assert.equal(res.status, 201, res.text);
    }
  });

  for (const [id, era, version] of [
    ["legacy-mcp", "stateful", "2025-11-25"],
    ["modern-mcp", "stateless", "2026-07-28"],
  ] as const) {
    test(`${era}: list, explain, call with the credential injected and nothing of the agent's`, async () => {
      const server = era === "stateful" ? legacy : modern;
      // Creating the connection started a background discovery (prewarm): the first listing is already cached.
      await eventually(
        async () =>
          (await adminJson(gw.url, "GET", `/api/admin/connections/${id}`)).json.mcp_discovery.tools
            ?.length === 4,
      );
      const list = await authorizedGet(gw.url, `/mcp/${id}/tools`);
      assert.equal(list.status, 200, list.text);
      const listed = list.json();
      assert.equal(listed.discovery_cache_status, "cache_hit");
      assert.deepEqual(
        listed.tools.map((t: { name: string }) => t.name),
        ["add", "delete", "echo", "search"],
      );
      assert.equal(listed.connection_id, id);
      assert.equal(listed.subject, "alice");
      assert.ok(["refreshed", "cache_hit"].includes(listed.discovery_cache_status));

      const again = await authorizedGet(gw.url, `/mcp/${id}/tools`);
      assert.equal(again.json().discovery_cache_status, "cache_hit");
      assert.equal(again.headers["x-sigilum-mcp-discovery"], "cache_hit");

      const explain = await authorizedGet(gw.url, `/mcp/${id}/tools/echo/explain`);
      assert.equal(explain.status, 200, explain.text);
      assert.equal(explain.json().reason_code, "MCP_TOOL_ALLOWED");

      const call = await authorizedPost(
        gw.url,
        `/mcp/${id}/tools/echo/call`,
        { arguments: { text: "hi" } },
        {
          authorization: "Bearer agent-own-token",
          "sigilum-subject": "alice",
        },
      );
      assert.equal(call.status, 200, call.text);
      assert.deepEqual(call.json().result.content, [{ type: "text", text: "echo:hi" }]);

      const admin = await adminJson(gw.url, "POST", `/api/admin/connections/${id}/discover`);
      assert.equal(admin.status, 200, admin.text);
      assert.equal(admin.headers.get("x-sigilum-mcp-discovery"), "refreshed");
      assert.equal(admin.json.server.protocol_version, version);

      for (const seen of server.seen) {
        assert.equal(seen.headers.authorization, `Bearer ${SECRET}`);
        for (const name of Object.keys(seen.headers)) {
          assert.ok(!name.startsWith("sigilum-") && !name.startsWith("x-sigilum") && name !== "signature");
        }
      }
      if (era === "stateless") {
        assert.equal(server.count("initialize"), 0);
        assert.ok(server.seen.every((s) => s.headers["mcp-session-id"] === undefined));
        const call = server.seen.find((s) => s.rpcMethod === "tools/call");
        assert.equal(call?.headers["mcp-method"], "tools/call");
        assert.equal(call?.headers["mcp-name"], "echo");
      } else {
        assert.ok(server.count("initialize") >= 1);
        assert.ok(
          server.seen.filter((s) => s.rpcMethod === "tools/call").every((s) => s.headers["mcp-session-id"]),
        );
      }
      const test = await adminJson(gw.url, "POST", `/api/admin/connections/${id}/test`);
      assert.equal(test.status, 200, test.text);
      assert.equal(test.json.status, "pass");
    });
  }

  test("policy: subject allowlists intersect (empty intersection = no tool), denied calls never reach the server", async () => {
    const patch = await adminJson(gw.url, "PATCH", "/api/admin/connections/modern-mcp", {
      mcp_tool_allowlist: ["echo", "search"],
      mcp_tool_denylist: ["search"],
      mcp_subject_tool_policies: {
        alice: { allowlist: ["add", "delete"] },
        bob: { allowlist: ["echo", "add"] },
      },
    });
    assert.equal(patch.status, 200, patch.text);
    const list = await authorizedGet(gw.url, "/mcp/modern-mcp/tools");
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(list.json().tools, []);
    const explain = await authorizedGet(gw.url, "/mcp/modern-mcp/tools/echo/explain");
    assert.equal(explain.json().reason_code, "MCP_TOOL_DENIED_ALLOWLIST");
    assert.deepEqual(explain.json().effective_policy, { allowlist: [], denylist: ["search"] });
    assert.equal(explain.json().exposed_tools, null);

    const before = modern.count("tools/call");
    const denied = await authorizedPost(gw.url, "/mcp/modern-mcp/tools/echo/call", { arguments: {} });
    assert.equal(denied.status, 403, denied.text);
    assert.equal(denied.json().code, "MCP_TOOL_FORBIDDEN");
    const unknown = await authorizedPost(gw.url, "/mcp/modern-mcp/tools/nope/call", {});
    assert.equal(unknown.status, 403, unknown.text);
    assert.equal(modern.count("tools/call"), before);

    const reset = await adminJson(gw.url, "PATCH", "/api/admin/connections/modern-mcp", {
      mcp_tool_allowlist: [],
      mcp_tool_denylist: [],
      mcp_subject_tool_policies: {},
    });
    assert.equal(reset.status, 200, reset.text);
  });

  test("bad input: refresh mode, path, method, arguments → documented 4xx envelopes", async () => {
    const refresh = await authorizedGet(gw.url, "/mcp/modern-mcp/tools?refresh=sometimes");
    assert.equal(refresh.status, 400);
    assert.equal(refresh.json().code, "INVALID_REFRESH_MODE");
    for (const path of ["/mcp/modern-mcp/things", "/mcp/modern-mcp/tools/echo/run", "/mcp/Bad_Id/tools"]) {
      const res = await authorizedGet(gw.url, path);
      assert.equal(res.status, 400, `${path}: ${res.text}`);
      assert.equal(res.json().code, "INVALID_REQUEST");
    }
    const method = await authorizedGet(gw.url, "/mcp/modern-mcp/tools/echo/call");
    assert.equal(method.status, 405, method.text);
    const args = await authorizedPost(gw.url, "/mcp/modern-mcp/tools/echo/call", { arguments: "x" });
    assert.equal(args.status, 400, args.text);
    const notJson = await rawRequest(gw.url, "/mcp/modern-mcp/tools/echo/call", {
      method: "POST",
      headers: { "x-sigilum-authz": mintToken("POST", "/mcp/modern-mcp/tools/echo/call") },
      body: "[1,2",
    });
    assert.equal(notJson.status, 400, notJson.text);
    const http = await authorizedGet(gw.url, "/proxy/modern-mcp/x");
    assert.equal(http.status, 400, http.text);
    const unsigned = await rawRequest(gw.url, "/mcp/modern-mcp/tools");
    assert.equal(unsigned.status, 403, unsigned.text);
  });

  test("an expired upstream session is recovered transparently", async () => {
    const first = await authorizedPost(gw.url, "/mcp/legacy-mcp/tools/echo/call", { text: "one" });
    assert.equal(first.status, 200, first.text);
    const initializes = legacy.count("initialize");
    legacy.dropSessions();
    const second = await authorizedPost(gw.url, "/mcp/legacy-mcp/tools/echo/call", { text: "two" });
    assert.equal(second.status, 200, second.text);
    assert.deepEqual(second.json().result.content, [{ type: "text", text: "echo:two" }]);
    assert.equal(legacy.count("initialize"), initializes + 1);
  });

  test("pass-through refuses what it cannot read or what lies: batches, Mcp-Method/Mcp-Name not matching the body", async () => {
    const path = "/mcp/modern-mcp";
    const post = (body: unknown, headers: Record<string, string> = {}) =>
      authorizedPost(gw.url, path, body, { accept: "application/json, text/event-stream", ...headers });
    const batch = await post([{ jsonrpc: "2.0", id: 1, method: "tools/list" }]);
    assert.equal(batch.status, 400, batch.text);
    const call = { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "delete", arguments: {} } };
    const lyingMethod = await post(call, { "mcp-method": "tools/list" });
    assert.equal(lyingMethod.status, 400, lyingMethod.text);
    const lyingName = await post(call, { "mcp-method": "tools/call", "mcp-name": "echo" });
    assert.equal(lyingName.status, 400, lyingName.text);
    const put = await rawRequest(gw.url, path, {
      method: "PUT",
      headers: { "x-sigilum-authz": mintToken("PUT", path) },
    });
    assert.equal(put.status, 405, put.text);
  });

  test("metrics count discoveries and tool calls; no secret in Redis", async () => {
    const metrics = await adminJson(gw.url, "GET", "/metrics");
    assert.match(metrics.text, /sigilum_gateway_mcp_discovery_total\{[^}]*result="cache_hit"[^}]*\} [1-9]/);
    assert.match(metrics.text, /sigilum_gateway_mcp_discovery_total\{[^}]*result="success"[^}]*\} [1-9]/);
    assert.match(metrics.text, /sigilum_gateway_mcp_tool_call_total\{[^}]*result="success"[^}]*\} [1-9]/);
    assert.match(metrics.text, /sigilum_gateway_mcp_tool_call_total\{[^}]*result="forbidden"[^}]*\} [1-9]/);
    const stored = await dumpPrefix(gw.config.redisPrefix);
    assert.match(stored, /mcp:disc:modern-mcp/);
    assert.ok(!stored.includes(SECRET));
  });

  test("the protocol era can be pinned per connection (mcp_protocol_version)", async () => {
    const pinned = (id: string, version: string) =>
      adminJson(gw.url, "POST", "/api/admin/connections", {
        id,
        protocol: "mcp",
        base_url: legacy.url,
        mcp_protocol_version: version,
      });
    const bad = await pinned("pinned-bad", "2024-01-01");
    assert.equal(bad.status, 400, bad.text);
    const pinnedLegacy = await pinned("pinned-legacy", "2025-11-25");
    assert.equal(pinnedLegacy.status, 201, pinnedLegacy.text);
    assert.equal(pinnedLegacy.json.mcp_protocol_version, "2025-11-25");
    const probes = legacy.count("server/discover");
    const found = await adminJson(gw.url, "POST", "/api/admin/connections/pinned-legacy/discover");
    assert.equal(found.status, 200, found.text);
    assert.equal(found.json.server.protocol_version, "2025-11-25");
    assert.equal(legacy.count("server/discover"), probes, "a pinned 2025 version skips the probe");

    const pinnedModern = await pinned("pinned-modern", "2026-07-28");
    assert.equal(pinnedModern.status, 201, pinnedModern.text);
    const refused = await adminJson(gw.url, "POST", "/api/admin/connections/pinned-modern/discover");
    assert.equal(refused.status, 502, refused.text);
    assert.equal(refused.json.code, "MCP_DISCOVERY_FAILED");
    const back = await adminJson(gw.url, "PATCH", "/api/admin/connections/pinned-modern", {
      mcp_protocol_version: "auto",
    });
    assert.equal(back.status, 200, back.text);
    assert.equal(back.json.mcp_protocol_version, undefined);
    const detected = await adminJson(gw.url, "POST", "/api/admin/connections/pinned-modern/discover");
    assert.equal(detected.status, 200, detected.text);
  });
});
