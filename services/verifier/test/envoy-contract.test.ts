import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { verifyAuthzToken } from "@sigilum-gw/shared/authz-token";
import { ALLOW_HEADERS, DENY_CLIENT_HEADERS } from "@sigilum-gw/shared/ext-authz";
import { SIGNING_HEADERS, signRequest } from "@sigilum-gw/shared/http-signatures";
import { createIdentity } from "@sigilum-gw/shared/identity";
import { type ControlPlane, startControlPlane } from "@sigilum-gw/testkit/control-plane";
import { randomPrefix, seedReplayEpoch } from "@sigilum-gw/testkit/redis";
import { type SdkVector, sdkVectors } from "@sigilum-gw/testkit/vectors";
import { HEADERS_TO_REMOVE_HEADER } from "../src/pipeline/answer.ts";
import {
  type AgentRequest,
  envelopeCode,
  envoyCheck,
  envoyHeaders,
  rawCheck,
} from "./helpers/envoy-check.ts";
import { loadEnvoyExtAuthz, matches } from "./helpers/envoy-config.ts";
import { type RunningVerifier, SERVICE_API_KEY, startVerifier, testEnv } from "./helpers/harness.ts";

const vectors = sdkVectors;
type Vector = SdkVector;
const envoy = loadEnvoyExtAuthz();
const SECRET = testEnv("http://x", "x")["GATEWAY_INTERNAL_SECRET"] as string;

/** Our code for each mutated vector (the reference SDK's own reason codes are finer; see the vectors README). */
const EXPECTED_INVALID: Record<string, string> = {
  "tampered-body": "AUTH_SIGNATURE_INVALID",
  "tampered-method": "AUTH_SIGNATURE_INVALID",
  "tampered-path": "AUTH_SIGNATURE_INVALID",
  "tampered-query": "AUTH_SIGNATURE_INVALID",
  "tampered-host": "AUTH_SIGNATURE_INVALID",
  "tampered-subject": "AUTH_SIGNATURE_INVALID",
  "tampered-namespace": "AUTH_IDENTITY_INVALID",
  "swapped-agent-key": "AUTH_IDENTITY_INVALID",
  "swapped-cert": "AUTH_IDENTITY_INVALID",
  "forged-cert-proof": "AUTH_IDENTITY_INVALID",
  "signature-bitflip": "AUTH_SIGNATURE_INVALID",
  "missing-signature": "AUTH_SIGNATURE_INVALID",
  "missing-signature-input": "AUTH_SIGNATURE_INVALID",
  "missing-content-digest-header": "AUTH_SIGNATURE_INVALID",
  "digest-wrong": "AUTH_SIGNATURE_INVALID",
  "components-missing-subject": "AUTH_SIGNED_COMPONENTS_INVALID",
  "components-reordered": "AUTH_SIGNED_COMPONENTS_INVALID",
  "alg-not-ed25519": "AUTH_SIGNATURE_INVALID",
  "keyid-mismatch": "AUTH_IDENTITY_INVALID",
  "nonce-changed": "AUTH_SIGNATURE_INVALID",
  "created-changed": "AUTH_SIGNATURE_INVALID",
  "body-added-to-bodyless": "AUTH_SIGNED_COMPONENTS_INVALID",
  "signature-garbage": "AUTH_SIGNATURE_INVALID",
  "cert-not-json": "AUTH_IDENTITY_INVALID",
};

const asAgent = (v: Vector): AgentRequest => ({
  method: v.method,
  url: v.url,
  headers: v.headers,
  body: v.body_base64 === null ? null : Buffer.from(v.body_base64, "base64"),
});

function serviceOf(url: string): string {
  const path = new URL(url).pathname;
  const [, kind, id] = path.split("/");
  return kind === "slack" ? "slack-proxy" : decodeURIComponent(id ?? "");
}

describe("envoy/envoy.yaml", () => {
  test("fails closed, buffers the whole body and prefixes /check", () => {
    assert.equal(envoy.failureModeAllow, false);
    assert.equal(envoy.allowPartial, false);
    assert.equal(envoy.maxRequestBytes, 2097152);
    assert.equal(envoy.pathPrefix, "/check");
    assert.deepEqual(envoy.disabledPrefixes.sort(), ["/api/admin/", "/health"]);
    assert.deepEqual(envoy.raw["status_on_error"], { code: "ServiceUnavailable" });
  });

  test("forwards every request header the verifier reads", () => {
    const needed = [
      ...SIGNING_HEADERS,
      "content-type",
      "x-forwarded-proto",
      "x-forwarded-for",
      "x-request-id",
    ];
    for (const name of needed)
      assert.ok(matches(envoy.allowedHeaders, name), `${name} must be in allowed_headers`);
    assert.ok(
      !matches(envoy.allowedHeaders, "authorization"),
      "the agent's Authorization is not the verifier's business",
    );
    assert.ok(!matches(envoy.allowedHeaders, "cookie"));
  });

  test("copies upstream exactly the identity headers the allow answer sets", () => {
    const upstream = envoy.upstreamHeaders.map((p) => p.exact).sort();
    assert.deepEqual(upstream, [...ALLOW_HEADERS].sort());
    assert.ok(
      envoy.upstreamHeaders.every((p) => p.exact !== undefined),
      "no prefix matchers upstream",
    );
  });

  test("passes the deny headers to the agent", () => {
    for (const name of DENY_CLIENT_HEADERS) assert.ok(matches(envoy.clientHeaders, name), name);
  });
});

describe("ext_authz contract with the Sigilum SDK vectors", () => {
  let feed: ControlPlane;
  let verifier: RunningVerifier;

  before(async () => {
    feed = await startControlPlane({ apiKey: SERVICE_API_KEY });
    for (const v of [...vectors.valid, ...vectors.invalid]) {
      const id = vectors.identities[v.identity]!;
      feed.approve(serviceOf(v.url), id.namespace, id.publicKey);
    }
    // The vectors are signed for the reference's host names: this gateway answers to them.
    const hosts = new Set([...vectors.valid, ...vectors.invalid].map((v) => new URL(v.url).host));
    // Under the vectors' frozen clock, the replay window must have begun before they were signed.
    const prefix = randomPrefix();
    await seedReplayEpoch(prefix, vectors.created_unix - 60);
    verifier = await startVerifier(
      feed.url,
      { GATEWAY_ALLOWED_HOSTS: [...hosts].join(",") },
      { now: () => vectors.created_unix + 3, prefix },
    );
  });
  after(async () => {
    await verifier?.stop();
    await feed?.close();
  });

  test("every valid vector is allowed once, then refused as a replay", async () => {
    for (const v of vectors.valid) {
      const first = await envoyCheck(verifier.port, asAgent(v));
      assert.equal(first.status, 200, `${v.name}: ${first.body}`);
      assert.equal(first.body, "");
      const identity = vectors.identities[v.identity]!;
      assert.equal(first.headers["x-sigilum-namespace"], identity.namespace, v.name);
      assert.equal(first.headers["x-sigilum-public-key"], identity.publicKey, v.name);
      assert.equal(first.headers["x-sigilum-subject"], v.headers["sigilum-subject"], v.name);
      // Exactly the headers Envoy copies upstream, plus the removal list and the request id.
      const sigilum = Object.keys(first.headers).filter((h) => h.startsWith("x-sigilum-"));
      for (const h of sigilum) assert.ok(matches(envoy.upstreamHeaders, h), `${h} would not reach the proxy`);
      const removed = String(first.headers[HEADERS_TO_REMOVE_HEADER]).split(", ");
      for (const h of SIGNING_HEADERS) assert.ok(removed.includes(h), `${h} must be stripped upstream`);
      assert.ok(removed.includes("x-sigilum-agent-id"), "an agent-supplied x-sigilum-agent-id is stripped");
      const url = new URL(v.url);
      const token = verifyAuthzToken(SECRET, first.headers["x-sigilum-authz"] as string, {
        method: v.method,
        path: url.pathname + url.search,
      });
      assert.ok(token.ok, `${v.name}: authz token must verify for the same method and path`);
      if (token.ok) assert.equal(token.claims.namespace, identity.namespace);

      const second = await envoyCheck(verifier.port, asAgent(v));
      assert.equal(second.status, 403, v.name);
      assert.equal(envelopeCode(second), "AUTH_REPLAY_DETECTED", v.name);
      assert.equal(second.headers["x-sigilum-authz"], undefined);
    }
  });

  test("every invalid vector is refused with its code, never allowed", async () => {
    for (const v of vectors.invalid) {
      const response = await envoyCheck(verifier.port, asAgent(v));
      assert.equal(response.status, 403, `${v.name}: ${response.body}`);
      assert.equal(envelopeCode(response), EXPECTED_INVALID[v.name], v.name);
      assert.equal(response.headers["x-sigilum-authz"], undefined, v.name);
      for (const name of Object.keys(response.headers)) {
        if (name.startsWith("x-") && name !== "x-request-id")
          assert.ok(matches(envoy.clientHeaders, name), name);
      }
    }
  });

  test("a truncated body (x-envoy-auth-partial-body: true) is refused", async () => {
    const v = vectors.valid.find((x) => x.name === "post-json")!;
    const response = await envoyCheck(verifier.port, asAgent(v), { "x-envoy-auth-partial-body": "true" });
    assert.equal(response.status, 413);
    assert.equal(envelopeCode(response), "AUTH_PARTIAL_BODY");
  });

  test("the signed URL must be the one Envoy saw: wrong scheme or Host fails", async () => {
    const v = vectors.valid.find((x) => x.name === "put-binary")!;
    const agent = asAgent(v);
    const url = new URL(agent.url);
    const headers = envoyHeaders(agent).map(([n, value]): [string, string] =>
      n === "x-forwarded-proto" ? [n, "http"] : [n, value],
    );
    const response = await rawCheck(verifier.port, v.method, `/check${url.pathname}`, headers, agent.body);
    assert.equal(envelopeCode(response), "AUTH_SIGNATURE_INVALID");
  });
});

describe("ext_authz contract with fresh signatures", () => {
  let feed: ControlPlane;
  let verifier: RunningVerifier;
  const agent = createIdentity("contract-agent");
  const sign = (
    url: string,
    init: { method?: string; body?: string; headers?: Record<string, string> } = {},
  ) => {
    const signed = signRequest(agent, { url, ...init });
    return {
      method: signed.method,
      url: signed.url,
      headers: signed.headers,
      body: signed.body,
    } as AgentRequest;
  };

  before(async () => {
    feed = await startControlPlane({ apiKey: SERVICE_API_KEY });
    feed.approve("linear", agent.namespace, agent.publicKey);
    feed.approve("slack-proxy", agent.namespace, agent.publicKey);
    verifier = await startVerifier(feed.url, { GATEWAY_MAX_REQUEST_BODY_BYTES: "1024" });
  });
  after(async () => {
    await verifier?.stop();
    await feed?.close();
  });

  test("the /slack alias is checked against connection slack-proxy", async () => {
    const response = await envoyCheck(
      verifier.port,
      sign("http://127.0.0.1:38100/slack/api/chat.postMessage"),
    );
    assert.equal(response.status, 200, response.body);
  });

  test("without a signed agent id, x-sigilum-agent-id is stripped upstream", async () => {
    const request = sign("http://127.0.0.1:38100/proxy/linear/graphql");
    const response = await envoyCheck(verifier.port, request, { "x-sigilum-agent-id": "forged" });
    assert.equal(response.status, 200, response.body);
    assert.equal(response.headers["x-sigilum-agent-id"], undefined);
    assert.match(String(response.headers[HEADERS_TO_REMOVE_HEADER]), /x-sigilum-agent-id/);
  });

  test("a duplicated signing header line is AUTH_HEADERS_INVALID", async () => {
    const request = sign("http://127.0.0.1:38100/proxy/linear/graphql");
    const url = new URL(request.url);
    const headers = envoyHeaders(request);
    headers.push(["signature-input", request.headers["signature-input"]!]);
    const response = await rawCheck(verifier.port, "GET", `/check${url.pathname}`, headers, null);
    assert.equal(response.status, 403);
    assert.equal(envelopeCode(response), "AUTH_HEADERS_INVALID");
  });

  test("a body over the limit is 413 before any signature work", async () => {
    const request = sign("http://127.0.0.1:38100/proxy/linear/graphql", {
      method: "POST",
      body: "x".repeat(2048),
      headers: { "content-type": "text/plain" },
    });
    const response = await envoyCheck(verifier.port, request);
    assert.equal(response.status, 413);
    assert.equal(envelopeCode(response), "REQUEST_BODY_TOO_LARGE");
  });

  test("paths outside the signed routes are refused, dot segments are refused", async () => {
    const cases: [string, number, string][] = [
      ["/check/", 404, "NOT_FOUND"],
      ["/check/api/admin/connections", 404, "NOT_FOUND"],
      ["/check/proxy/", 400, "INVALID_REQUEST"],
      ["/check/proxy/linear/../other/x", 400, "PATH_TRAVERSAL"],
      ["/check/proxy/linear/%2e%2e/x", 400, "PATH_TRAVERSAL"],
      ["/check/mcp/linear//tools", 400, "PATH_TRAVERSAL"],
    ];
    for (const [path, status, code] of cases) {
      const response = await rawCheck(verifier.port, "GET", path, [["host", "127.0.0.1:38100"]]);
      assert.equal(response.status, status, path);
      assert.equal(envelopeCode(response), code, path);
    }
    const trace = await rawCheck(verifier.port, "TRACE", "/check/proxy/linear/x", [
      ["host", "127.0.0.1:38100"],
    ]);
    assert.equal(trace.status, 405);
  });

  test("an unsigned request is AUTH_SIGNATURE_INVALID with a JSON envelope", async () => {
    const response = await rawCheck(verifier.port, "GET", "/check/proxy/linear/x", [
      ["host", "127.0.0.1:38100"],
    ]);
    assert.equal(response.status, 403);
    assert.equal(response.headers["content-type"], "application/json; charset=utf-8");
    const envelope = JSON.parse(response.body) as Record<string, string>;
    assert.equal(envelope["code"], "AUTH_SIGNATURE_INVALID");
    assert.ok(envelope["request_id"] && envelope["timestamp"] && envelope["docs_url"]);
    assert.equal(response.headers["x-request-id"], envelope["request_id"]);
  });
});
