import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { clientForIdentity, type SigilumFetchInit } from "@sigilum-gw/sdk";
import { createIdentity } from "@sigilum-gw/shared/identity";
import { type ControlPlane, startControlPlane } from "@sigilum-gw/testkit/control-plane";
import { type McpTestServer, startMcpTestServer } from "@sigilum-gw/testkit/mcp-servers";
import { type ServiceProcess, spawnWarmGatewayVerifier } from "./fixtures/processes.ts";
import { adminJson, inlineGatewayConfig, randomPrefix, useProxy } from "./helpers.ts";

/**
 * MCP end to end, inline mode with the real verifier and a control-plane claims feed: agent requests signed with
 * the Sigilum SDK reach real SDK-built MCP servers (stateful 2025-11-25, stateless 2026-07-28) through the
 * runtime routes, and the official MCP SDK client itself talks to the servers through the pass-through.
 */

const SERVICE_KEY = "svc-key-mcp-e2e";
const SECRET = "mcp-e2e-upstream-SECRET-7";
const CONNECTIONS = { "legacy-mcp": "stateful", "modern-mcp": "stateless" } as const;

describe("MCP end to end with the verifier", () => {
  const prefix = randomPrefix();
  const agent = createIdentity("agent-mcp");
  const stranger = createIdentity("agent-stranger");
  const servers: Record<string, McpTestServer> = {};
  let controlPlane: ControlPlane;
  let verifier: ServiceProcess;

  before(async () => {
    controlPlane = await startControlPlane({ apiKey: SERVICE_KEY });
    for (const [id, era] of Object.entries(CONNECTIONS)) {
      controlPlane.approve(id, agent.namespace, agent.publicKey);
      servers[id] = await startMcpTestServer({ era });
    }
    verifier = await spawnWarmGatewayVerifier({
      namespace: "gateway-mcp-e2e",
      prefix,
      registryUrl: controlPlane.url,
      serviceApiKey: SERVICE_KEY,
      services: Object.keys(CONNECTIONS),
    });
  });
  after(async () => {
    await verifier?.stop();
    await controlPlane?.close();
    for (const server of Object.values(servers)) await server.close();
  });
  const gw = useProxy(() => inlineGatewayConfig(prefix, verifier.port));

  before(async () => {
    for (const id of Object.keys(CONNECTIONS)) {
      const res = await adminJson(gw.url, "POST", "/api/admin/connections", {
        id,
        protocol: "mcp",
        base_url: servers[id]!.url,
        auth_mode: "header_key",
        auth_header_name: "X-Api-Key",
        auth_secret_key: "key",
        secrets: { key: SECRET },
      });
      assert.equal(res.status, 201, res.text);
    }
  });

  const signer = clientForIdentity(agent);
  const signedFetch = (url: string | URL, init?: RequestInit) => signer.fetch(url, init as SigilumFetchInit);

  for (const id of Object.keys(CONNECTIONS)) {
    test(`${id}: SDK-signed list, explain and call; the server sees the credential and none of the agent's headers`, async () => {
      const list = await signedFetch(`${gw.url}/mcp/${id}/tools`);
      assert.equal(list.status, 200, await list.clone().text());
      const listed = (await list.json()) as { tools: { name: string }[]; subject: string };
      assert.deepEqual(
        listed.tools.map((t) => t.name),
        ["add", "delete", "echo", "search"],
      );
      assert.equal(listed.subject, agent.namespace);
      const explain = await signedFetch(`${gw.url}/mcp/${id}/tools/search/explain`);
      assert.equal(((await explain.json()) as { reason_code: string }).reason_code, "MCP_TOOL_ALLOWED");
      const call = await signedFetch(`${gw.url}/mcp/${id}/tools/search/call`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer agent-own" },
        body: JSON.stringify({ arguments: { text: "q" } }),
      });
      const called = (await call.json()) as { result: { content: unknown } };
      assert.equal(call.status, 200, JSON.stringify(called));
      assert.deepEqual(called.result.content, [{ type: "text", text: "search:q" }]);

      const denied = await fetch(`${gw.url}/mcp/${id}/tools`);
      assert.equal(denied.status, 403);
      const unapproved = await clientForIdentity(stranger).fetch(`${gw.url}/mcp/${id}/tools`);
      assert.equal(unapproved.status, 403);

      for (const seen of servers[id]!.seen) {
        assert.equal(seen.headers["x-api-key"], SECRET);
        assert.equal(seen.headers.authorization, undefined);
        for (const name of Object.keys(seen.headers)) {
          assert.ok(!/^(sigilum-|x-sigilum|signature|content-digest)/.test(name), name);
        }
      }
    });

    test(`${id}: the official MCP SDK client works through the pass-through, with the tool policy enforced`, async () => {
      const patch = await adminJson(gw.url, "PATCH", `/api/admin/connections/${id}`, {
        mcp_tool_denylist: ["delete"],
      });
      assert.equal(patch.status, 200, patch.text);
      const client = new Client(
        { name: "agent", version: "1.0.0" },
        { versionNegotiation: { mode: "auto" } },
      );
      const transport = new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/${id}`), {
        fetch: signedFetch,
      });
      await client.connect(transport);
      try {
        assert.equal(
          client.getProtocolEra(),
          CONNECTIONS[id as keyof typeof CONNECTIONS] === "stateful" ? "legacy" : "modern",
        );
        const tools = await client.listTools(undefined, { cacheMode: "bypass" });
        assert.deepEqual(
          tools.tools.map((t) => t.name),
          ["add", "echo", "search"],
        );
        const result = await client.callTool({ name: "echo", arguments: { text: "through" } });
        assert.deepEqual(result.content, [{ type: "text", text: "echo:through" }]);
        const before = servers[id]!.count("tools/call", "delete");
        await assert.rejects(
          client.callTool(
            { name: "delete", arguments: {} },
            { toolDefinition: { name: "delete", inputSchema: { type: "object" } } },
          ),
          /not allowed for subject/,
        );
        assert.equal(servers[id]!.count("tools/call", "delete"), before);
      } finally {
        await client.close();
      }
      for (const seen of servers[id]!.seen) assert.equal(seen.headers["x-api-key"], SECRET);
    });
  }
});
