import assert from "node:assert/strict";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import {
  authMetrics,
  createMetricsRegistry,
  lifecycleMetrics,
  mcpMetrics,
  normalizeLabelValue,
  recordAuthReject,
  recordShutdownDrain,
  recordUpstream,
  upstreamMetrics,
} from "../src/metrics.ts";
import { trackRequests } from "../src/service-shell/drain.ts";
import { createServiceServer } from "../src/service-shell/http-server.ts";
import { opsRoutes } from "../src/service-shell/ops-routes.ts";

test("label values are normalized as in spec §10", () => {
  assert.equal(normalizeLabelValue("AUTH_SIGNATURE_INVALID"), "auth_signature_invalid");
  assert.equal(normalizeLabelValue("  HTTP 502!! "), "http_502");
  assert.equal(normalizeLabelValue("a--b"), "a_b");
  assert.equal(normalizeLabelValue("***"), "unknown");
});

test("factories are idempotent per registry and families render as the spec names them", async () => {
  const registry = createMetricsRegistry({ service: "verifier", defaultMetrics: false });
  const auth = authMetrics(registry);
  assert.equal(authMetrics(registry).authRejectTotal, auth.authRejectTotal);
  recordAuthReject(auth, "AUTH_NONCE_INVALID");
  recordAuthReject(auth, "AUTH_REPLAY_DETECTED");
  const upstream = upstreamMetrics(registry);
  recordUpstream(upstream, "http", "success", 0.05);
  recordUpstream(upstream, "mcp", "error", 1.5, "mcp_tool_call_failed");
  const mcp = mcpMetrics(registry);
  mcp.mcpDiscoveryTotal.inc({ result: "success" });
  mcp.mcpToolCallTotal.inc({ result: "forbidden" });
  const life = lifecycleMetrics(registry);
  recordShutdownDrain(life, "success", 0.25);

  const text = await registry.metrics();
  for (const line of [
    'sigilum_gateway_auth_reject_total{reason="auth_nonce_invalid",service="verifier"} 1',
    'sigilum_gateway_auth_reject_total{reason="auth_replay_detected",service="verifier"} 1',
    'sigilum_gateway_replay_detected_total{service="verifier"} 1',
    'sigilum_gateway_requests_in_flight{service="verifier"} 0',
    'sigilum_gateway_upstream_requests_total{protocol="http",outcome="success",service="verifier"} 1',
    'sigilum_gateway_upstream_requests_total{protocol="mcp",outcome="error",service="verifier"} 1',
    'sigilum_gateway_upstream_error_total{class="mcp_tool_call_failed",service="verifier"} 1',
    'sigilum_gateway_mcp_discovery_total{result="success",service="verifier"} 1',
    'sigilum_gateway_mcp_tool_call_total{result="forbidden",service="verifier"} 1',
    'sigilum_gateway_shutdown_drain_total{outcome="success",service="verifier"} 1',
    'sigilum_gateway_shutdown_drain_seconds_count{outcome="success",service="verifier"} 1',
    "# HELP sigilum_gateway_auth_reject_total Total proxy auth rejects by reason code.",
    "# TYPE sigilum_gateway_upstream_latency_seconds histogram",
  ]) {
    assert.ok(text.includes(line), `missing: ${line}\n${text}`);
  }
  assert.ok(!text.includes("shutdown_drain_seconds{quantile"), "drain summary has only _count and _sum");
});

describe("/metrics handler over real HTTP", () => {
  let server: Server;
  let base: string;
  const registry = createMetricsRegistry({ service: "proxy" });
  const life = lifecycleMetrics(registry);
  const routes = opsRoutes({ service: "proxy", registry });
  before(async () => {
    server = createServiceServer({}, (req, res) => void routes(req, res, "/metrics", "test-request"));
    trackRequests(server, life);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test("GET serves Prometheus text with default metrics and counts itself in flight", async () => {
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.ok(text.includes('sigilum_gateway_requests_in_flight{service="proxy"} 1'));
    assert.ok(text.includes("process_cpu_user_seconds_total"));
    const inFlight = async () =>
      (await registry.getSingleMetricAsString("sigilum_gateway_requests_in_flight")).split("\n").at(-1);
    for (
      let i = 0;
      i < 50 && (await inFlight()) !== 'sigilum_gateway_requests_in_flight{service="proxy"} 0';
      i++
    ) {
      await sleep(20);
    }
    assert.equal(await inFlight(), 'sigilum_gateway_requests_in_flight{service="proxy"} 0');
  });

  test("other methods get the 405 envelope", async () => {
    const res = await fetch(`${base}/metrics`, { method: "POST" });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get("allow"), "GET, HEAD");
    assert.equal(((await res.json()) as { code: string }).code, "METHOD_NOT_ALLOWED");
  });
});
