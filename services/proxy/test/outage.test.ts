import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import {
  adminJson,
  authorizedGet,
  deletePrefix,
  rawRequest,
  startProxy,
  startUpstream,
  testConfig,
} from "./helpers.ts";

test("Redis unreachable: not ready, runtime fails closed with REDIS_UNAVAILABLE, nothing forwarded", async () => {
  const upstream = await startUpstream();
  const gw = await startProxy(testConfig({ redisUrl: "redis://127.0.0.1:1" }));
  try {
    const ready = await rawRequest(gw.url, "/health/ready");
    assert.equal(ready.status, 503);
    assert.equal(ready.json().code, "NOT_READY");
    assert.equal((await rawRequest(gw.url, "/health/live")).status, 200);
    const path = "/proxy/any-conn/x";
    const res = await authorizedGet(gw.url, path);
    assert.equal(res.status, 503);
    assert.equal(res.json().code, "REDIS_UNAVAILABLE");
    const admin = await adminJson(gw.url, "GET", "/api/admin/credential-variables");
    assert.ok(admin.status >= 500, `admin answered ${admin.status}`);
    assert.equal(upstream.requests.length, 0);
  } finally {
    await gw.stop();
    await upstream.close();
  }
});

test("admin route deadline: a call that outlives GATEWAY_ADMIN_TIMEOUT_SECONDS is answered, the proxy stays up", async () => {
  const hang = createServer(() => {
    // never answers
  });
  await new Promise<void>((r) => hang.listen(0, "127.0.0.1", r));
  const port = (hang.address() as AddressInfo).port;
  const config = testConfig();
  const gw = await startProxy({ ...config, admin: { ...config.admin, timeoutMs: 500 } });
  try {
    await adminJson(gw.url, "POST", "/api/admin/connections", {
      id: "hang-conn",
      base_url: `http://127.0.0.1:${port}`,
      auth_secret_key: "k",
      secrets: { k: "v" },
    });
    const started = Date.now();
    const res = await adminJson(gw.url, "POST", "/api/admin/connections/hang-conn/test");
    assert.ok(Date.now() - started < 5000);
    assert.ok(res.status === 503 || res.status === 502, `status ${res.status}`);
    assert.equal((await rawRequest(gw.url, "/health")).status, 200);
  } finally {
    await gw.stop();
    hang.closeAllConnections();
    await new Promise<void>((r) => hang.close(() => r()));
    await deletePrefix(config.redisPrefix);
  }
});
