import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type ControlPlane, startControlPlane } from "@sigilum-gw/testkit/control-plane";
import { envelopeCode, rawCheck } from "./helpers/envoy-check.ts";
import { type RunningVerifier, SERVICE_API_KEY, startVerifier, waitFor } from "./helpers/harness.ts";

describe("health, readiness and metrics", () => {
  let feed: ControlPlane;
  let verifier: RunningVerifier;
  const get = (path: string, headers: [string, string][] = []) =>
    rawCheck(verifier.port, "GET", path, [["host", "127.0.0.1"], ...headers]);

  before(async () => {
    feed = await startControlPlane({ apiKey: SERVICE_API_KEY });
    verifier = await startVerifier(feed.url, {
      GATEWAY_ADMIN_ACCESS_MODE: "token",
      GATEWAY_ADMIN_TOKEN: "admin-token-for-tests",
      VERIFIER_CLAIMS_COLD_START: "false",
      VERIFIER_CLAIMS_PRELOAD_SERVICES: "crm",
    });
  });
  after(async () => {
    await verifier?.stop();
    await feed?.close();
  });

  test("health and liveness; other methods are 405 envelopes", async () => {
    assert.deepEqual(JSON.parse((await get("/health")).body), { check: "health", status: "ok" });
    assert.deepEqual(JSON.parse((await get("/health/live")).body), { check: "liveness", status: "ok" });
    const post = await rawCheck(verifier.port, "POST", "/health", [["host", "x"]]);
    assert.equal(post.status, 405);
    assert.equal(envelopeCode(post), "METHOD_NOT_ALLOWED");
    assert.equal(envelopeCode(await get("/nope")), "NOT_FOUND");
  });

  test("ready once Redis answers and the preloaded services are loaded", async () => {
    assert.ok(await waitFor(async () => (await get("/health/ready")).status === 200, 5000, 50));
    assert.ok(
      feed.feedRequests.some((r) => r.service === "crm"),
      "crm was preloaded from the feed",
    );
  });

  test("/metrics needs the admin token in token mode and counts rejects by reason", async () => {
    await rawCheck(verifier.port, "GET", "/check/proxy/crm/x", [["host", "127.0.0.1:38100"]]);
    const denied = await get("/metrics");
    assert.equal(denied.status, 403);
    assert.equal(envelopeCode(denied), "ADMIN_TOKEN_REQUIRED");
    const ok = await get("/metrics", [["authorization", "Bearer admin-token-for-tests"]]);
    assert.equal(ok.status, 200);
    assert.match(ok.body, /sigilum_gateway_auth_reject_total\{reason="auth_signature_invalid"\} 1/);
    assert.match(ok.body, /sigilum_gateway_replay_detected_total 0/);
    assert.match(ok.body, /sigilum_gateway_requests_in_flight \d/);
    assert.match(ok.body, /sigilum_verifier_decision_duration_seconds_bucket/);
    const viaHeader = await get("/metrics", [["x-sigilum-admin-token", "admin-token-for-tests"]]);
    assert.equal(viaHeader.status, 200);
  });
});

describe("readiness without a reachable control plane", () => {
  test("not ready while the preloaded claims cannot be loaded", async () => {
    const feed = await startControlPlane({ apiKey: SERVICE_API_KEY });
    feed.mode = "error503";
    const verifier = await startVerifier(feed.url, {
      VERIFIER_CLAIMS_COLD_START: "false",
      VERIFIER_CLAIMS_PRELOAD_SERVICES: "crm",
    });
    try {
      const response = await rawCheck(verifier.port, "GET", "/health/ready", [["host", "x"]]);
      assert.equal(response.status, 503);
      assert.equal(envelopeCode(response), "NOT_READY");
    } finally {
      await verifier.stop();
      await feed.close();
    }
  });
});

describe("SIGILUM_ED25519_BACKEND", () => {
  test("the configured implementation checks the signatures; unset, never the slow pure-JS one", async () => {
    const feed = await startControlPlane({ apiKey: SERVICE_API_KEY });
    try {
      for (const [backend, expected] of [
        ["noble", ["noble"]],
        ["node-crypto", ["node-crypto"]],
        ["", ["sodium-native", "node-crypto"]],
      ] as const) {
        const verifier = await startVerifier(feed.url, backend ? { SIGILUM_ED25519_BACKEND: backend } : {});
        try {
          assert.ok(expected.includes(verifier.service.listening.ed25519 as never), backend);
        } finally {
          await verifier.stop();
        }
      }
    } finally {
      await feed.close();
    }
  });
});
