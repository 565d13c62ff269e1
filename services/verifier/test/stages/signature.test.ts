import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { settle } from "@sigilum-gw/testkit/stage";
import { signature } from "../../src/pipeline/signature.ts";
import { useStageBench } from "../helpers/stage-context.ts";

describe("signature stage", () => {
  const bench = useStageBench();

  test("a valid signature yields the agent's identity, synchronously", async () => {
    const routed = bench.signed("/proxy/github/repos?per_page=1");
    const { sync, result } = await settle(signature(routed, bench.ctx));
    assert.equal(sync, true);
    assert.ok(result.ok);
    assert.equal(result.value.service, "github");
    assert.equal(result.value.clientIp, "203.0.113.7");
    assert.equal(result.value.identity.namespace, bench.agent.namespace);
    assert.equal(result.value.identity.publicKey, bench.agent.publicKey);
  });

  test("a signed body must match its digest", async () => {
    const routed = bench.signed("/proxy/github/issues", { method: "POST", body: '{"a":1}' });
    assert.ok((await settle(signature(routed, bench.ctx))).result.ok);
    const tampered = { ...routed, body: Buffer.from('{"a":2}') };
    const { result } = await settle(signature(tampered, bench.ctx));
    assert.ok(!result.ok);
    assert.equal(result.denial.code, "AUTH_SIGNATURE_INVALID");
    assert.equal(result.denial.status, 403);
    assert.equal(result.denial.stage, "signature_verification");
    assert.equal(result.denial.detail?.service, "github");
  });

  test("a signature over another path is refused", async () => {
    const routed = bench.signed("/proxy/github/repos");
    const moved = { ...routed, request: { ...routed.request, target: "/proxy/github/admin" } };
    const { result } = await settle(signature(moved, bench.ctx));
    assert.ok(!result.ok);
    assert.equal(result.denial.code, "AUTH_SIGNATURE_INVALID");
  });

  test("each verifier code is logged under its own stage name", async () => {
    const routed = bench.signed("/proxy/github/repos");
    const { headers } = routed.request;
    const twice = { ...headers, "sigilum-namespace": [String(headers["sigilum-namespace"]), "other"] };
    const duplicated = await settle(
      signature({ ...routed, request: { ...routed.request, headers: twice } }, bench.ctx),
    );
    assert.ok(!duplicated.result.ok);
    assert.equal(duplicated.result.denial.code, "AUTH_HEADERS_INVALID");
    assert.equal(duplicated.result.denial.stage, "header_validation");
    const { "sigilum-agent-cert": _cert, ...withoutCert } = headers;
    const anonymous = await settle(
      signature({ ...routed, request: { ...routed.request, headers: withoutCert } }, bench.ctx),
    );
    assert.ok(!anonymous.result.ok);
    assert.equal(anonymous.result.denial.code, "AUTH_IDENTITY_INVALID");
    assert.equal(anonymous.result.denial.stage, "identity_extraction");
  });

  test("a Host that is not one of the gateway's names is refused before the signature is read", async () => {
    const routed = bench.signed("/proxy/github/repos", { host: "evil.test" });
    const { result } = await settle(signature(routed, bench.ctx));
    assert.ok(!result.ok);
    assert.equal(result.denial.code, "AUTH_HOST_NOT_ALLOWED");
    assert.equal(result.denial.stage, "route");
  });
});
