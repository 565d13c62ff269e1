import assert from "node:assert/strict";
import { test } from "node:test";
import {
  adminJson,
  authorizedGet,
  deletePrefix,
  eventually,
  startProxy,
  startUpstream,
  testConfig,
} from "./helpers.ts";

test("graceful drain: success when idle; timeout (then forced close) when a request outlives the deadline", async () => {
  const upstream = await startUpstream((_req, _res) => {
    // never answers
  });
  const idle = await startProxy(testConfig());
  assert.equal(await idle.proxy.stop(), "success");
  const drainMetrics = await idle.proxy.metrics.registry.getSingleMetricAsString(
    "sigilum_gateway_shutdown_drain_total",
  );
  assert.match(drainMetrics, /outcome="success"[^}]*\} 1/);

  const busy = await startProxy(testConfig({ shutdownTimeoutMs: 300, redisPrefix: idle.config.redisPrefix }));
  try {
    await adminJson(busy.url, "POST", "/api/admin/connections", {
      id: "hang-conn",
      base_url: upstream.url,
      auth_secret_key: "k",
      secrets: { k: "v" },
    });
    const path = "/proxy/hang-conn/x";
    const pending = authorizedGet(busy.url, path).then(
      () => "answered",
      () => "cut",
    );
    await eventually(() => upstream.requests.length === 1);
    const started = Date.now();
    assert.equal(await busy.proxy.stop(), "timeout");
    assert.ok(Date.now() - started < 3000);
    assert.equal(await pending, "cut");
    const text = await busy.proxy.metrics.registry.getSingleMetricAsString(
      "sigilum_gateway_shutdown_drain_seconds",
    );
    assert.match(text, /sigilum_gateway_shutdown_drain_seconds_count\{[^}]*outcome="timeout"[^}]*\} 1/);
  } finally {
    await upstream.close();
    await deletePrefix(idle.config.redisPrefix);
  }
});
