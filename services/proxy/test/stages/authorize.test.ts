import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createAuthzTokenCodec } from "@sigilum-gw/shared/authz-token";
import { settle } from "@sigilum-gw/testkit/stage";
import { authorize, createEnvoyAuthorizer } from "../../src/pipeline/authorize.ts";
import type { ProxyContext } from "../../src/pipeline/exchange.ts";
import { gatewayRequest } from "./stage-request.ts";

const codec = createAuthzTokenCodec("stage-test-internal-secret-0123456789abcdef");
// The authorize stage reads only the authorizer from its context.
const ctx = { authorizer: createEnvoyAuthorizer(codec) } as ProxyContext;

const identity = {
  method: "GET",
  path: "/proxy/svc/v1?x=1",
  requestId: "req-stage-test",
  namespace: "acme",
  subject: "agent-1",
  keyId: "key-1",
  publicKey: "ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
};

const admitted = (target: string, token?: string) => ({
  request: gatewayRequest(target, token ? { headers: { "x-sigilum-authz": token } } : {}),
  body: null,
});

describe("proxy authorize stage (envoy mode)", () => {
  test("the verifier's token for this method and path yields the agent, synchronously", async () => {
    const input = admitted("/proxy/svc/v1?x=1", codec.sign(identity));
    const { sync, result } = await settle(authorize(input, ctx));
    assert.equal(sync, true);
    assert.ok(result.ok);
    assert.equal(result.value.identity?.namespace, "acme");
    assert.equal(result.value.identity?.subject, "agent-1");
    assert.equal(result.value.request, input.request);
  });

  test("the unsigned-bypass token (no namespace) yields no identity", async () => {
    const input = admitted("/proxy/svc/v1?x=1", codec.sign({ ...identity, namespace: "" }));
    const { result } = await settle(authorize(input, ctx));
    assert.deepEqual(result.ok && result.value.identity, null);
  });

  test("no token, or a token for another path: 403 AUTH_AUTHZ_TOKEN_INVALID, the failure named", async () => {
    const cases = [admitted("/proxy/svc/v1?x=1"), admitted("/proxy/svc/v2", codec.sign(identity))];
    for (const input of cases) {
      const { result } = await settle(authorize(input, ctx));
      assert.ok(!result.ok);
      assert.equal(result.denial.code, "AUTH_AUTHZ_TOKEN_INVALID");
      assert.equal(result.denial.status, 403);
      assert.equal(result.denial.stage, "authz_token");
      assert.deepEqual(result.denial.headers, { "x-sigilum-code": "AUTH_AUTHZ_TOKEN_INVALID" });
      assert.ok(result.denial.detail?.tokenFailure);
    }
  });
});
