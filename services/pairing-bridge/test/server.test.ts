import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { ConfigError } from "@sigilum-gw/shared/config";
import { loadBridgeConfig } from "../src/config.ts";
import { createPairingBridge, type PairingBridge } from "../src/server.ts";

let bridge: PairingBridge;
let base: string;

/** A session that is never dialled here (the link is exercised by tests/pairing with real processes). */
const PAIRING = { PAIRING_SESSION_ID: "00000000-0000-4000-8000-000000000000", PAIRING_CODE: "ABCDEFGH" };

before(async () => {
  bridge = createPairingBridge(
    loadBridgeConfig({ BRIDGE_ADDR: "127.0.0.1:0", LOG_LEVEL: "silent", ...PAIRING }),
  );
  const { port } = await bridge.start();
  base = `http://127.0.0.1:${port}`;
});
after(() => bridge.stop());

test("health and liveness answer JSON with the pairing state; not ready until paired", async () => {
  for (const path of ["/health", "/health/live"]) {
    const res = await fetch(base + path);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { status: string; pairing: { state: string; session_id: string } };
    assert.equal(body.status, "ok");
    assert.equal(body.pairing.state, "connecting");
    assert.equal(body.pairing.session_id, PAIRING.PAIRING_SESSION_ID);
    assert.ok(res.headers.get("x-request-id"));
  }
  const ready = await fetch(`${base}/health/ready`);
  assert.equal(ready.status, 503);
  assert.equal(((await ready.json()) as { code: string }).code, "NOT_READY");
});

test("metrics are Prometheus text with the service label and in-flight gauge", async () => {
  const res = await fetch(`${base}/metrics`);
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.match(text, /sigilum_gateway_requests_in_flight/);
  assert.match(text, /service="pairing-bridge"/);
});

test("unknown routes and wrong methods get the error envelope", async () => {
  const missing = await fetch(`${base}/nope`);
  assert.equal(missing.status, 404);
  const body = (await missing.json()) as Record<string, string>;
  assert.equal(body.code, "NOT_FOUND");
  assert.ok(body.request_id && body.timestamp && body.docs_url);
  const post = await fetch(`${base}/health`, { method: "POST" });
  assert.equal(post.status, 405);
  assert.equal(((await post.json()) as { code: string }).code, "METHOD_NOT_ALLOWED");
});

test("a taken port is reported with the variable that changes it", async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  const { port } = blocker.address() as AddressInfo;
  const second = createPairingBridge(
    loadBridgeConfig({ BRIDGE_ADDR: `127.0.0.1:${port}`, LOG_LEVEL: "silent", ...PAIRING }),
  );
  await assert.rejects(second.start(), /127\.0\.0\.1:\d+: address already in use \(set BRIDGE_ADDR/);
  blocker.close();
});

test("a bad BRIDGE_ADDR stops start-up naming the variable", () => {
  assert.throws(
    () => loadBridgeConfig({ BRIDGE_ADDR: "not-an-address", ...PAIRING }),
    (e: Error) => e instanceof ConfigError && /BRIDGE_ADDR/.test(e.message),
  );
});

test("the pair code is required and never echoed in the error", () => {
  assert.throws(
    () => loadBridgeConfig({ PAIRING_SESSION_ID: "s" }),
    (e: Error) => e instanceof ConfigError && /PAIRING_CODE/.test(e.message),
  );
  assert.throws(
    () => loadBridgeConfig({ ...PAIRING, PAIRING_HEARTBEAT_MS: "5" }),
    (e: Error) =>
      e instanceof ConfigError && /PAIRING_HEARTBEAT_MS/.test(e.message) && !e.message.includes("ABCDEFGH"),
  );
});

test("without a session the bridge runs unpaired: healthy and ready (a service waiting to be paired)", async () => {
  const idle = createPairingBridge(loadBridgeConfig({ BRIDGE_ADDR: "127.0.0.1:0", LOG_LEVEL: "silent" }));
  const { port } = await idle.start();
  try {
    const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { pairing: object };
    assert.deepEqual(health.pairing, { state: "unpaired" });
    assert.equal((await fetch(`http://127.0.0.1:${port}/health/ready`)).status, 200);
  } finally {
    await idle.stop();
  }
});
