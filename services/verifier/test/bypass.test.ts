import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { verifyAuthzToken } from "@sigilum-gw/shared/authz-token";
import { createLogger } from "@sigilum-gw/shared/logger";
import { type ControlPlane, startControlPlane } from "@sigilum-gw/testkit/control-plane";
import { envelopeCode, rawCheck } from "./helpers/envoy-check.ts";
import { type RunningVerifier, SERVICE_API_KEY, startVerifier, testEnv } from "./helpers/harness.ts";

/** GATEWAY_ALLOW_UNSIGNED_PROXY / GATEWAY_ALLOW_UNSIGNED_CONNECTIONS exactly as spec/gateway.md §7.5. */
describe("development bypass", () => {
  let feed: ControlPlane;
  let verifier: RunningVerifier;
  let logs = "";
  const secret = testEnv("http://x", "x")["GATEWAY_INTERNAL_SECRET"] as string;

  before(async () => {
    feed = await startControlPlane({ apiKey: SERVICE_API_KEY });
    const sink = new Writable({
      write(chunk, _encoding, done) {
        logs += chunk.toString();
        done();
      },
    });
    verifier = await startVerifier(
      feed.url,
      {
        GATEWAY_ALLOW_UNSIGNED_PROXY: "true",
        GATEWAY_ALLOW_UNSIGNED_CONNECTIONS: "demo, slack-proxy",
        GATEWAY_LOG_PROXY_REQUESTS: "true",
      },
      { logger: createLogger("verifier", { level: "info", destination: sink }) },
    );
  });
  after(async () => {
    await verifier?.stop();
    await feed?.close();
  });

  test("is announced loudly at start-up", () => {
    assert.match(logs, /"level":"warn"/);
    assert.match(logs, /DEVELOPMENT BYPASS ON/);
    assert.match(logs, /"connections":\["demo","slack-proxy"\]/);
  });

  test("listed connections pass unsigned, with an empty identity bound in the authz token", async () => {
    for (const path of ["/proxy/demo/v1/x?q=1", "/slack/chat"]) {
      const response = await rawCheck(
        verifier.port,
        "POST",
        `/check${path}`,
        [["host", "127.0.0.1:38100"]],
        Buffer.from("{}"),
      );
      assert.equal(response.status, 200, path);
      assert.equal(response.headers["x-sigilum-namespace"], undefined);
      assert.match(String(response.headers["x-envoy-auth-headers-to-remove"]), /x-sigilum-namespace/);
      const token = verifyAuthzToken(secret, response.headers["x-sigilum-authz"] as string, {
        method: "POST",
        path,
      });
      assert.ok(token.ok);
      if (token.ok) assert.equal(token.claims.namespace, "");
    }
    assert.match(logs, /"event":"proxy_auth_bypass"/);
    assert.match(logs, /"reason_code":"ALLOW_UNSIGNED_CONNECTION"/);
  });

  test("other connections (exact, case-sensitive match) still need a signature", async () => {
    for (const path of ["/check/proxy/other/x", "/check/proxy/Demo/x"]) {
      const response = await rawCheck(verifier.port, "GET", path, [["host", "127.0.0.1:38100"]]);
      assert.equal(response.status, 403, path);
      assert.equal(envelopeCode(response), "AUTH_SIGNATURE_INVALID");
    }
  });
});

describe("development bypass with an empty connection list", () => {
  test("means every connection (the spec's hazard, kept for parity)", async () => {
    const feed = await startControlPlane({ apiKey: SERVICE_API_KEY });
    const verifier = await startVerifier(feed.url, { GATEWAY_ALLOW_UNSIGNED_PROXY: "true" });
    try {
      const response = await rawCheck(verifier.port, "GET", "/check/mcp/anything/tools", [["host", "x"]]);
      assert.equal(response.status, 200);
    } finally {
      await verifier.stop();
      await feed.close();
    }
  });
});
