import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { settle } from "@sigilum-gw/testkit/stage";
import { readRequestBody } from "../../src/pipeline/body.ts";
import type { ProxyContext } from "../../src/pipeline/exchange.ts";
import { gatewayRequest } from "./stage-request.ts";

// The body stage reads nothing else from its context.
const ctx = { maxBodyBytes: 16 } as ProxyContext;

describe("proxy body stage", () => {
  test("a bodyless request passes synchronously, body null", async () => {
    const request = gatewayRequest("/proxy/svc/v1");
    const { sync, result } = await settle(readRequestBody(request, ctx));
    assert.equal(sync, true);
    assert.deepEqual(result, { ok: true, value: { request, body: null } });
  });

  test("a body within the bound is read whole", async () => {
    const request = gatewayRequest("/proxy/svc/v1", {
      headers: { "content-length": "11" },
      body: [Buffer.from("hello "), Buffer.from("world")],
    });
    const { sync, result } = await settle(readRequestBody(request, ctx));
    assert.equal(sync, false);
    assert.ok(result.ok);
    assert.equal(result.value.body?.toString(), "hello world");
  });

  test("over the bound: 413 REQUEST_BODY_TOO_LARGE and the connection closes (declared or streamed)", async () => {
    const declared = gatewayRequest("/proxy/svc/v1", { headers: { "content-length": "17" } });
    const first = await settle(readRequestBody(declared, ctx));
    assert.equal(first.sync, true);
    const streamed = gatewayRequest("/proxy/svc/v1", {
      headers: { "transfer-encoding": "chunked" },
      body: [Buffer.alloc(10), Buffer.alloc(10)],
    });
    const second = await settle(readRequestBody(streamed, ctx));
    for (const { result } of [first, second]) {
      assert.ok(!result.ok);
      assert.equal(result.denial.code, "REQUEST_BODY_TOO_LARGE");
      assert.equal(result.denial.status, 413);
      assert.equal(result.denial.stage, "body");
      assert.deepEqual(result.denial.headers, { connection: "close" });
    }
  });
});
