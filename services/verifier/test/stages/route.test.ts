import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { settle } from "@sigilum-gw/testkit/stage";
import { route } from "../../src/pipeline/route.ts";
import { checkRequest, useStageBench } from "../helpers/stage-context.ts";

describe("route stage", () => {
  const bench = useStageBench();

  const run = (target: string, method = "GET") =>
    settle(route({ request: checkRequest(target, { method }), body: null }, bench.ctx));

  test("signed routes name their connection, synchronously", async () => {
    for (const [target, service] of [
      ["/proxy/github/repos?x=1", "github"],
      ["/mcp/docs/tools", "docs"],
      ["/slack/chat.postMessage", "slack-proxy"],
      ["/proxy/my%20svc/v1", "my svc"],
    ] as const) {
      const { sync, result } = await run(target);
      assert.equal(sync, true);
      assert.ok(result.ok, target);
      assert.equal(result.value.service, service);
    }
  });

  test("CONNECT and TRACE are refused", async () => {
    for (const method of ["CONNECT", "TRACE"]) {
      const { result } = await run("/proxy/github/x", method);
      assert.ok(!result.ok);
      assert.equal(result.denial.code, "METHOD_NOT_ALLOWED");
      assert.equal(result.denial.status, 405);
      assert.equal(result.denial.stage, "route");
    }
  });

  test("a path outside the signed routes is 404, an unsafe one 400 PATH_TRAVERSAL, a malformed one 400", async () => {
    const cases = [
      ["/admin", "NOT_FOUND", 404],
      ["/proxy/github/../admin", "PATH_TRAVERSAL", 400],
      ["/proxy//github", "PATH_TRAVERSAL", 400],
      ["/proxy", "INVALID_REQUEST", 400],
    ] as const;
    for (const [target, code, status] of cases) {
      const { result } = await run(target);
      assert.ok(!result.ok, target);
      assert.equal(result.denial.code, code, target);
      assert.equal(result.denial.status, status, target);
    }
    const { result } = await run("/proxy");
    assert.ok(!result.ok);
    assert.match(result.denial.message ?? "", /expected \/proxy\/\{connection_id\}/);
  });
});
