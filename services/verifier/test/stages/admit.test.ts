import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MAX_REQUEST_TARGET_BYTES } from "@sigilum-gw/shared/limits";
import { settle } from "@sigilum-gw/testkit/stage";
import { admit } from "../../src/pipeline/admit.ts";
import { checkRequest, useStageBench } from "../helpers/stage-context.ts";

describe("admission stage", () => {
  const bench = useStageBench();

  test("a bodyless check passes synchronously, body null", async () => {
    const request = checkRequest("/proxy/svc/v1");
    const { sync, result } = await settle(admit(request, bench.ctx));
    assert.equal(sync, true);
    assert.deepEqual(result, { ok: true, value: { request, body: null } });
  });

  test("a body within the bound is read", async () => {
    const request = checkRequest("/proxy/svc/v1", {
      headers: { "content-length": "5" },
      body: [Buffer.from("he"), Buffer.from("llo")],
    });
    const { sync, result } = await settle(admit(request, bench.ctx));
    assert.equal(sync, false);
    assert.ok(result.ok);
    assert.equal(result.value.body?.toString(), "hello");
  });

  test("a declared body over the bound is refused before reading, and the connection closes", async () => {
    const request = checkRequest("/proxy/svc/v1", { headers: { "content-length": "1025" } });
    const { sync, result } = await settle(admit(request, bench.ctx));
    assert.equal(sync, true);
    assert.ok(!result.ok);
    assert.equal(result.denial.code, "REQUEST_BODY_TOO_LARGE");
    assert.equal(result.denial.status, 413);
    assert.equal(result.denial.stage, "body");
    assert.deepEqual(result.denial.headers, { connection: "close" });
  });

  test("a chunked body is refused once it crosses the bound", async () => {
    const request = checkRequest("/proxy/svc/v1", {
      headers: { "transfer-encoding": "chunked" },
      body: [Buffer.alloc(600), Buffer.alloc(600)],
    });
    const { result } = await settle(admit(request, bench.ctx));
    assert.ok(!result.ok);
    assert.equal(result.denial.code, "REQUEST_BODY_TOO_LARGE");
  });

  test("a body Envoy truncated can never prove its digest", async () => {
    const request = checkRequest("/proxy/svc/v1", { headers: { "x-envoy-auth-partial-body": "true" } });
    const { result } = await settle(admit(request, bench.ctx));
    assert.ok(!result.ok);
    assert.equal(result.denial.code, "AUTH_PARTIAL_BODY");
    assert.equal(result.denial.stage, "body");
  });

  test("over the request limits: refused before anything else", async () => {
    const request = checkRequest(`/proxy/svc/${"a".repeat(MAX_REQUEST_TARGET_BYTES)}`);
    const { result } = await settle(admit(request, bench.ctx));
    assert.ok(!result.ok);
    assert.equal(result.denial.code, "REQUEST_TARGET_TOO_LONG");
    assert.equal(result.denial.status, 414);
    assert.equal(result.denial.stage, "limits");
  });

  test("while shutting down every check is refused with 503", async () => {
    bench.closing = true;
    try {
      const { result } = await settle(admit(checkRequest("/proxy/svc/v1"), bench.ctx));
      assert.ok(!result.ok);
      assert.equal(result.denial.code, "SERVICE_UNAVAILABLE");
      assert.equal(result.denial.status, 503);
      assert.equal(result.denial.stage, "shutdown");
    } finally {
      bench.closing = false;
    }
  });
});
