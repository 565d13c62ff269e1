import assert from "node:assert/strict";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import {
  CLIENT_CAPABILITIES_META_KEY,
  CLIENT_INFO_META_KEY,
  PROTOCOL_VERSION_META_KEY,
} from "@modelcontextprotocol/client";
import { createIdentity } from "@sigilum-gw/shared/identity";
import { type ControlPlane, startControlPlane } from "@sigilum-gw/testkit/control-plane";
import { type McpTestServer, startMcpTestServer } from "@sigilum-gw/testkit/mcp-servers";
import { type Relay, startRelay } from "@sigilum-gw/testkit/relay";
import type { Worker } from "bullmq";
import { Redis } from "ioredis";
import { WebSocket, WebSocketServer } from "ws";
import { createProxyKeys } from "../src/store/keys.ts";
import { startUsageSubmitter } from "../src/usage/submitter.ts";
import {
  AGENT,
  adminJson,
  authorizedGet,
  authorizedPost,
  deletePrefix,
  eventually,
  mintToken,
  onUsageQueue,
  REDIS_URL,
  type RunningProxy,
  randomPrefix,
  startProxy,
  testConfig,
  useProxy,
  waitingEvents,
} from "./helpers.ts";

/**
 * Every forwarded call produces a usage event on the same path as an HTTP request, counted at the control plane:
 * MCP runtime routes, MCP pass-through calls and WebSocket sessions. With GATEWAY_USAGE_DURABILITY=durable each
 * MCP answer ends only once its event is in Redis; when the event cannot be stored the answer is cut.
 */

const SERVICE_KEY = "svc-key-usage-forwarded";

describe("usage events of MCP calls and WebSocket sessions (durable mode)", () => {
  let mcp: McpTestServer;
  let echo: WebSocketServer;
  let echoUrl = "";
  before(async () => {
    mcp = await startMcpTestServer({ era: "stateless" });
    echo = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await once(echo, "listening");
    echoUrl = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
    echo.on("connection", (socket) => socket.on("message", (data) => socket.send(data)));
  });
  after(async () => {
    await mcp?.close();
    for (const client of echo?.clients ?? []) client.terminate();
    echo?.close();
  });
  const gw = useProxy(() => testConfig({ usageDurability: "durable", usageQueueMaxBatches: 100 }));

  before(async () => {
    for (const body of [
      { id: "metered-mcp", protocol: "mcp", base_url: new URL(mcp.url).origin, mcp_endpoint: "/mcp" },
      { id: "metered-ws", base_url: echoUrl },
    ]) {
      const res = await adminJson(gw.url, "POST", "/api/admin/connections", {
        ...body,
        auth_secret_key: "token",
        secrets: { token: "usage-SECRET" },
      });
      assert.equal(res.status, 201, res.text);
    }
    await eventually(async () => mcp.count("tools/list") > 0, 10_000);
  });

  test("each MCP answer's event is in Redis when the answer ends (runtime list, call, pass-through)", async () => {
    const prefix = gw.config.redisPrefix;
    const list = await authorizedGet(gw.url, "/mcp/metered-mcp/tools");
    assert.equal(list.status, 200, list.text);
    assert.equal(await waitingEvents(prefix), 1);

    const call = await authorizedPost(gw.url, "/mcp/metered-mcp/tools/echo/call", { text: "hi" });
    assert.equal(call.status, 200, call.text);
    assert.equal(await waitingEvents(prefix), 2);

    const rpc = {
      jsonrpc: "2.0",
      id: 7,
      method: "tools/call",
      params: {
        name: "echo",
        arguments: { text: "p" },
        _meta: {
          [PROTOCOL_VERSION_META_KEY]: "2026-07-28",
          [CLIENT_INFO_META_KEY]: { name: "usage-test", version: "1" },
          [CLIENT_CAPABILITIES_META_KEY]: {},
        },
      },
    };
    const pass = await authorizedPost(gw.url, "/mcp/metered-mcp", rpc, {
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2026-07-28",
      "mcp-method": "tools/call",
      "mcp-name": "echo",
    });
    assert.equal(pass.status, 200, pass.text);
    assert.match(pass.text, /echo:p/);
    assert.equal(await waitingEvents(prefix), 3);
  });

  test("a WebSocket session is one event, recorded when it ends", async () => {
    const path = "/proxy/metered-ws/socket";
    const socket = new WebSocket(`${gw.url.replace(/^http/, "ws")}${path}`, {
      headers: { "x-sigilum-authz": mintToken("GET", path) },
    });
    await once(socket, "open");
    socket.send("ping-1");
    await once(socket, "message");
    const before = await waitingEvents(gw.config.redisPrefix);
    socket.close(1000);
    await once(socket, "close");
    await eventually(async () => (await waitingEvents(gw.config.redisPrefix)) === before + 1);
  });

  test("the control plane counts every one of them with the same event shape as HTTP", async () => {
    const controlPlane: ControlPlane = await startControlPlane({ apiKey: SERVICE_KEY });
    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const worker: Worker = startUsageSubmitter({
      connection,
      prefix: createProxyKeys(gw.config.redisPrefix).bullmq,
      registryUrl: controlPlane.url,
      identity: createIdentity("gateway-usage-forwarded"),
      serviceKeyFor: () => SERVICE_KEY,
      onFailed: () => {},
    });
    try {
      await eventually(() => controlPlane.usageEvents.length >= 4, 10_000);
      const events = controlPlane.usageEvents.map((e) => e.body as Record<string, unknown>);
      const seen = events.map((e) => `${e.protocol} ${e.service} ${e.action} ${e.status_code} ${e.outcome}`);
      assert.deepEqual(seen.sort(), [
        "http metered-ws websocket 101 success",
        "mcp metered-mcp mcp_call:echo 200 success",
        "mcp metered-mcp mcp_list 200 success",
        "mcp metered-mcp mcp_passthrough 200 success",
      ]);
      for (const event of events) {
        assert.equal(event.namespace, AGENT.namespace);
        assert.equal(event.subject, AGENT.subject);
        assert.equal(event.public_key, AGENT.publicKey);
        assert.ok((event.response_bytes as number) > 0, JSON.stringify(event));
      }
      assert.equal(new Set(events.map((e) => e.event_id)).size, 4, "one event per call, distinct ids");
    } finally {
      await worker.close();
      connection.disconnect();
      await controlPlane.close();
    }
  });

  test("an event that cannot be stored cuts the MCP answer (counted as not_stored)", async () => {
    const full = await adminJson(gw.url, "GET", "/metrics");
    assert.equal(full.status, 200);
    // Fill the queue past its bound with waiting batches, then wait for the recorder's next reading of it.
    await onUsageQueue(gw.config.redisPrefix, (queue) =>
      queue.addBulk(Array.from({ length: 100 }, () => ({ name: "filler", data: { events: [] } }))),
    );
    await eventually(async () => {
      try {
        await authorizedPost(gw.url, "/mcp/metered-mcp/tools/echo/call", { text: "late" });
        return false;
      } catch {
        return true; // the socket was destroyed: no complete answer
      }
    }, 5000);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(
      metrics,
      /sigilum_gateway_usage_events_dropped_total\{[^}]*reason="not_stored"[^}]*\} [1-9]/,
    );
  });
});

describe("durable MCP usage over a slow link to Redis", () => {
  const prefix = randomPrefix();
  let relay: Relay;
  let server: McpTestServer;
  let gw: RunningProxy;
  before(async () => {
    relay = await startRelay(() => [Number(new URL(REDIS_URL).port || 6379)]);
    // JSON answers with a Content-Length: whole for the agent at their last byte.
    server = await startMcpTestServer({ era: "stateful", json: true });
    gw = await startProxy(
      testConfig({
        redisPrefix: prefix,
        redisUrl: `redis://127.0.0.1:${relay.port}`,
        usageDurability: "durable",
      }),
    );
    const created = await adminJson(gw.url, "POST", "/api/admin/connections", {
      id: "slow-mcp",
      protocol: "mcp",
      base_url: new URL(server.url).origin,
      mcp_endpoint: "/mcp",
    });
    assert.equal(created.status, 201, created.text);
    await eventually(async () => server.count("tools/list") > 0, 10_000);
  });
  after(async () => {
    await gw?.stop();
    await relay?.close();
    await server?.close();
    await deletePrefix(prefix);
  });

  test("the agent never holds a whole MCP answer (runtime call, pass-through JSON) whose event is not in Redis yet", async () => {
    assert.equal(
      (await authorizedPost(gw.url, "/mcp/slow-mcp/tools/echo/call", { text: "warm" })).status,
      200,
    );
    assert.equal(await waitingEvents(prefix), 1);
    relay.delayMs = 300;
    const call = await authorizedPost(gw.url, "/mcp/slow-mcp/tools/echo/call", { text: "slow" });
    assert.equal(call.status, 200, call.text);
    assert.equal(await waitingEvents(prefix), 2, "the runtime answer was whole before its event was stored");
    const initialize = {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2025-11-25",
        capabilities: {},
        clientInfo: { name: "agent", version: "1" },
      },
    };
    const pass = await authorizedPost(gw.url, "/mcp/slow-mcp", initialize, {
      accept: "application/json, text/event-stream",
    });
    assert.equal(pass.status, 200, pass.text);
    assert.equal(pass.json().result.serverInfo.name, "stateful-test-server");
    assert.equal(
      await waitingEvents(prefix),
      3,
      "the pass-through answer was whole before its event was stored",
    );
    relay.delayMs = 0;
  });
});
