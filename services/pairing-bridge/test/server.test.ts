import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { ConfigError } from "@sigilum-gw/shared/config";
import { loadBridgeConfig } from "../src/config.ts";
import { createPairingBridge, type PairingBridge } from "../src/server.ts";

let bridge: PairingBridge;
let base: string;

before(async () => {
  bridge = createPairingBridge(loadBridgeConfig({ BRIDGE_ADDR: "127.0.0.1:0", LOG_LEVEL: "silent" }));
  const { port } = await bridge.start();
  base = `http://127.0.0.1:${port}`;
});
after(() => bridge.stop());

test("health, readiness and liveness answer JSON", async () => {
  for (const path of ["/health", "/health/live", "/health/ready"]) {
    const res = await fetch(base + path);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { status: string }).status, "ok");
    assert.ok(res.headers.get("x-request-id"));
  }
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
    loadBridgeConfig({ BRIDGE_ADDR: `127.0.0.1:${port}`, LOG_LEVEL: "silent" }),
  );
  await assert.rejects(second.start(), /127\.0\.0\.1:\d+: address already in use \(set BRIDGE_ADDR/);
  blocker.close();
});

test("a bad BRIDGE_ADDR stops start-up naming the variable", () => {
  assert.throws(
    () => loadBridgeConfig({ BRIDGE_ADDR: "not-an-address" }),
    (e: Error) => e instanceof ConfigError && /BRIDGE_ADDR/.test(e.message),
  );
});
