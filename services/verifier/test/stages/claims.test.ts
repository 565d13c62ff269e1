import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { settle } from "@sigilum-gw/testkit/stage";
import { claims } from "../../src/pipeline/claims.ts";
import { signature } from "../../src/pipeline/signature.ts";
import { useStageBench } from "../helpers/stage-context.ts";

describe("claims stage", () => {
  const bench = useStageBench();

  async function signedFor(service: string) {
    const verified = await settle(signature(bench.signed(`/proxy/${service}/v1`), bench.ctx));
    assert.ok(verified.result.ok);
    return verified.result.value;
  }

  test("an approved agent passes; once the snapshot is in memory, synchronously", async () => {
    bench.feed.approve("approved-svc", bench.agent.namespace, bench.agent.publicKey);
    const signed = await signedFor("approved-svc");
    const first = await settle(claims(signed, bench.ctx));
    assert.equal(first.sync, false);
    assert.deepEqual(first.result, { ok: true, value: signed });
    const second = await settle(claims(signed, bench.ctx));
    assert.equal(second.sync, true);
    assert.deepEqual(second.result, { ok: true, value: signed });
  });

  test("an unknown connection is 404 before any claims lookup", async () => {
    const feedCalls = bench.feed.feedRequests.length;
    const { result } = await settle(claims(await signedFor("unknown-connection"), bench.ctx));
    assert.ok(!result.ok);
    assert.equal(result.denial.code, "CONNECTION_NOT_FOUND");
    assert.equal(result.denial.status, 404);
    assert.equal(result.denial.stage, "connection_lookup");
    assert.equal(result.denial.message, 'connection "unknown-connection" not found on this gateway');
    assert.equal(bench.feed.feedRequests.length, feedCalls);
  });

  test("an agent without approval gets an access request filed and the claim-required denial", async () => {
    const signed = await signedFor("pending-svc");
    const { result } = await settle(claims(signed, bench.ctx));
    assert.ok(!result.ok);
    assert.equal(result.denial.code, "AUTH_CLAIM_REQUIRED");
    assert.equal(result.denial.status, 403);
    assert.equal(result.denial.stage, "claims_authorization");
    const claim = result.denial.detail?.claim;
    assert.equal(claim?.service, "pending-svc");
    assert.equal(claim?.namespace, bench.agent.namespace);
    assert.equal(claim?.publicKey, bench.agent.publicKey);
    assert.equal(claim?.remoteIp, "203.0.113.7");
    assert.equal(claim?.submission.kind, "queued");
  });

  test("a feed that cannot answer is AUTH_CLAIMS_UNAVAILABLE, never an allow", async () => {
    bench.feed.mode = "error503";
    try {
      const { result } = await settle(claims(await signedFor("down-svc"), bench.ctx));
      assert.ok(!result.ok);
      assert.equal(result.denial.code, "AUTH_CLAIMS_UNAVAILABLE");
      assert.equal(result.denial.stage, "claims_cache");
    } finally {
      bench.feed.mode = "ok";
    }
  });
});
