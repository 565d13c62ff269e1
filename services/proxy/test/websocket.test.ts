import assert from "node:assert/strict";
import { once } from "node:events";
import type { IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { signRequest } from "@sigilum-gw/shared/http-signatures";
import { createIdentity } from "@sigilum-gw/shared/identity";
import { encodeEvent } from "@sigilum-gw/shared/redis-keys";
import { type ControlPlane, startControlPlane } from "@sigilum-gw/testkit/control-plane";
import { Redis } from "ioredis";
import { WebSocket, WebSocketServer } from "ws";
import { type ServiceProcess, spawnWarmGatewayVerifier } from "./fixtures/processes.ts";
import {
  adminJson,
  eventually,
  INTERNAL_SECRET,
  inlineGatewayConfig,
  REDIS_URL,
  randomPrefix,
  useProxy,
} from "./helpers.ts";

/**
 * WebSocket upgrades through `/proxy/{id}/...` with the real verifier: the handshake is signed by the agent, the
 * upstream handshake carries the injected credential and none of the agent's Sigilum headers, frames go both ways
 * (text stays text, binary stays binary), and revoking the claim closes the socket.
 */

const SERVICE_KEY = "svc-key-ws";
const SECRET = "ws-upstream-SECRET-9";

describe("WebSocket pass-through", () => {
  const prefix = randomPrefix();
  const agent = createIdentity("agent-ws");
  let controlPlane: ControlPlane;
  let verifier: ServiceProcess;
  let upstream: WebSocketServer;
  let upstreamUrl = "";
  const handshakes: IncomingHttpHeaders[] = [];

  before(async () => {
    upstream = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await once(upstream, "listening");
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    upstream.on("connection", (socket, req) => {
      handshakes.push(req.headers);
      socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary }));
    });
    controlPlane = await startControlPlane({ apiKey: SERVICE_KEY });
    controlPlane.approve("ws-conn", agent.namespace, agent.publicKey);
    verifier = await spawnWarmGatewayVerifier({
      namespace: "gateway-ws",
      prefix,
      registryUrl: controlPlane.url,
      serviceApiKey: SERVICE_KEY,
      services: ["ws-conn"],
    });
  });
  after(async () => {
    await verifier?.stop();
    await controlPlane?.close();
    for (const client of upstream?.clients ?? []) client.terminate();
    upstream?.close();
  });
  const gw = useProxy(() => inlineGatewayConfig(prefix, verifier.port));

  before(async () => {
    const res = await adminJson(gw.url, "POST", "/api/admin/connections", {
      id: "ws-conn",
      base_url: upstreamUrl,
      auth_secret_key: "token",
      secrets: { token: SECRET },
    });
    assert.equal(res.status, 201, res.text);
  });

  function signedSocket(path: string): WebSocket {
    const signed = signRequest(agent, { url: `${gw.url}${path}`, method: "GET", headers: {}, body: null });
    return new WebSocket(`${gw.url.replace(/^http/, "ws")}${path}`, { headers: signed.headers });
  }

  test("an unsigned or unapproved upgrade is refused with the JSON envelope", async () => {
    const unsigned = new WebSocket(`${gw.url.replace(/^http/, "ws")}/proxy/ws-conn/echo`);
    const [, response] = (await once(unsigned, "unexpected-response")) as [unknown, { statusCode: number }];
    assert.equal(response.statusCode, 403);
    const stranger = createIdentity("agent-ws-stranger");
    const signed = signRequest(stranger, {
      url: `${gw.url}/proxy/ws-conn/echo`,
      method: "GET",
      headers: {},
      body: null,
    });
    const refused = new WebSocket(`${gw.url.replace(/^http/, "ws")}/proxy/ws-conn/echo`, {
      headers: signed.headers,
    });
    const [, r2] = (await once(refused, "unexpected-response")) as [unknown, { statusCode: number }];
    assert.equal(r2.statusCode, 403);
  });

  test("echo through the gateway with the credential injected; revoking the claim closes the socket", async () => {
    const socket = signedSocket("/proxy/ws-conn/echo");
    await once(socket, "open");
    const handshake = handshakes.at(-1)!;
    assert.equal(handshake.authorization, `Bearer ${SECRET}`);
    for (const name of Object.keys(handshake)) assert.ok(!/^(sigilum-|x-sigilum|signature)/.test(name), name);

    socket.send("hello");
    const [text, textIsBinary] = (await once(socket, "message")) as [Buffer, boolean];
    assert.equal(text.toString(), "hello");
    assert.equal(textIsBinary, false);
    socket.send(Buffer.from([0, 1, 2, 255]));
    const [bin, binIsBinary] = (await once(socket, "message")) as [Buffer, boolean];
    assert.deepEqual([...bin], [0, 1, 2, 255]);
    assert.equal(binIsBinary, true);

    // A large burst keeps its order and arrives whole (backpressure, no loss).
    const chunk = Buffer.alloc(256 * 1024, 7);
    let received = 0;
    socket.on("message", (data: Buffer) => {
      received += data.length;
    });
    for (let i = 0; i < 32; i++) socket.send(chunk);
    await eventually(() => received === 32 * chunk.length, 10_000);

    controlPlane.revoke("ws-conn", agent.namespace, agent.publicKey);
    const redis = new Redis(REDIS_URL);
    try {
      const closed = once(socket, "close");
      await redis.publish(`${prefix}events`, encodeEvent({ type: "claims.changed", service: "ws-conn" }));
      const [code, reason] = (await closed) as [number, Buffer];
      assert.equal(code, 1008);
      assert.equal(reason.toString(), "claim revoked");
    } finally {
      redis.disconnect();
    }
  });

  test("the verifier's claim-status route answers only the proxy (internal secret) and checks its input", async () => {
    const base = `http://127.0.0.1:${verifier.port}/internal/claim-status`;
    const query = new URLSearchParams({
      service: "ws-conn",
      namespace: agent.namespace,
      public_key: agent.publicKey,
    });
    assert.equal((await fetch(`${base}?${query}`)).status, 403);
    const wrong = await fetch(`${base}?${query}`, { headers: { authorization: "Bearer not-the-secret" } });
    assert.equal(wrong.status, 403);
    const missing = await fetch(`${base}?service=ws-conn`, {
      headers: { authorization: `Bearer ${INTERNAL_SECRET}` },
    });
    assert.equal(missing.status, 400);
    const answer = await fetch(`${base}?${query}`, {
      headers: { authorization: `Bearer ${INTERNAL_SECRET}` },
    });
    assert.equal(answer.status, 200);
    assert.deepEqual(await answer.json(), { decision: "not_approved" });
  });
});
