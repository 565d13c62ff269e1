import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { after, before, describe, test } from "node:test";
import { type McpTestServer, startMcpTestServer } from "@sigilum-gw/testkit/mcp-servers";
import { adminJson, authorizedGet, authorizedPost, eventually, testConfig, useProxy } from "./helpers.ts";

/**
 * SSRF on the MCP side: an MCP connection whose endpoint is a link-local / cloud metadata address is refused at
 * forward time with 403 UPSTREAM_ADDRESS_FORBIDDEN — runtime routes, discovery, pass-through and the admin test —
 * by the same guard as HTTP connections, before any connection attempt (watched on undici's connect channel).
 * The record is changed in the store directly: what matters here is a record that points there at forward time
 * (stored before create-time validation, or edited in Redis), not how it got there.
 */

const METADATA = "169.254.169.254";

describe("MCP upstream address guard", () => {
  let server: McpTestServer;
  const dialled: string[] = [];
  const onConnect = (message: unknown) => {
    const params = (message as { connectParams?: { hostname?: string } }).connectParams;
    dialled.push(params?.hostname ?? "");
  };
  before(async () => {
    server = await startMcpTestServer({ era: "stateful" });
    subscribe("undici:client:beforeConnect", onConnect);
  });
  after(async () => {
    unsubscribe("undici:client:beforeConnect", onConnect);
    await server?.close();
  });
  const gw = useProxy(() => testConfig());

  before(async () => {
    const created = await adminJson(gw.url, "POST", "/api/admin/connections", {
      id: "meta-mcp",
      protocol: "mcp",
      base_url: new URL(server.url).origin,
      mcp_endpoint: "/mcp",
      auth_secret_key: "token",
      secrets: { token: "meta-SECRET" },
    });
    assert.equal(created.status, 201, created.text);
    await eventually(async () => server.count("tools/list") > 0, 10_000);
    await gw.proxy.connections.update("meta-mcp", (record) => ({
      ...record,
      mcp_endpoint: `http://${METADATA}/latest/meta-data`,
    }));
    await eventually(async () =>
      (await adminJson(gw.url, "GET", "/api/admin/connections/meta-mcp")).json.mcp_endpoint.includes(
        METADATA,
      ),
    );
  });

  const refused = (status: number, text: string, what: string) => {
    assert.equal(status, 403, `${what}: ${text}`);
    assert.equal(JSON.parse(text).code, "UPSTREAM_ADDRESS_FORBIDDEN", what);
  };

  test("runtime list (forced refresh), call and pass-through: 403 UPSTREAM_ADDRESS_FORBIDDEN, nothing dialled", async () => {
    assert.ok(dialled.includes("127.0.0.1"), "the connect channel saw the first discovery");
    const seen = server.seen.length;
    const list = await authorizedGet(gw.url, "/mcp/meta-mcp/tools?refresh=force");
    refused(list.status, list.text, "list");

    // The tools cached from the real server are still listed; a call must not go out.
    const call = await authorizedPost(gw.url, "/mcp/meta-mcp/tools/echo/call", { text: "hi" });
    refused(call.status, call.text, "call");

    const pass = await authorizedPost(
      gw.url,
      "/mcp/meta-mcp",
      { jsonrpc: "2.0", id: 1, method: "tools/list", params: {} },
      { accept: "application/json, text/event-stream" },
    );
    refused(pass.status, pass.text, "pass-through");

    assert.deepEqual(
      dialled.filter((host) => host.includes(METADATA)),
      [],
      "a connection to the metadata address was attempted",
    );
    assert.equal(server.seen.length, seen, "the old endpoint was used instead");
  });

  test("admin discover and test refuse it too", async () => {
    const discover = await adminJson(gw.url, "POST", "/api/admin/connections/meta-mcp/discover");
    refused(discover.status, discover.text, "discover");
    const tested = await adminJson(gw.url, "POST", "/api/admin/connections/meta-mcp/test");
    assert.equal(tested.status, 502, tested.text);
    assert.equal(tested.json.status, "fail");
    assert.match(tested.json.error, /^UPSTREAM_ADDRESS_FORBIDDEN: /);
    assert.deepEqual(
      dialled.filter((host) => host.includes(METADATA)),
      [],
      "a connection to the metadata address was attempted",
    );
  });
});
