import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { deny, ok, type Result, type Stage, stages } from "../src/stage.ts";

type Ctx = { calls: string[] };
const double: Stage<number, number, Ctx> = (n, ctx) => {
  ctx.calls.push("double");
  return ok(n * 2);
};
const later: Stage<number, string, Ctx> = async (n, ctx) => {
  ctx.calls.push("later");
  await new Promise((resolve) => setImmediate(resolve));
  return ok(`n=${n}`);
};
const refuseOdd: Stage<number, number, Ctx> = (n, ctx) => {
  ctx.calls.push("refuseOdd");
  return n % 2 ? deny("parity", "INVALID_REQUEST", { message: "odd", headers: { "x-a": "1" } }) : ok(n);
};

describe("stage pipeline", () => {
  test("synchronous stages finish before run returns: no promise", () => {
    const ctx: Ctx = { calls: [] };
    let result: Result<number> | undefined;
    stages<number, Ctx>()
      .pipe(double)
      .pipe(double)
      .run(3, ctx, { done: (r) => (result = r), fail: assert.fail });
    assert.deepEqual(result, { ok: true, value: 12 });
    assert.deepEqual(ctx.calls, ["double", "double"]);
  });

  test("an asynchronous stage resumes the list when it settles", async () => {
    const ctx: Ctx = { calls: [] };
    const result = await stages<number, Ctx>().pipe(double).pipe(later).result(5, ctx);
    assert.deepEqual(result, { ok: true, value: "n=10" });
  });

  test("the first denial stops the run; it carries the code's catalogue status", async () => {
    const ctx: Ctx = { calls: [] };
    const result = await stages<number, Ctx>().pipe(refuseOdd).pipe(double).result(3, ctx);
    assert.deepEqual(result, {
      ok: false,
      denial: {
        code: "INVALID_REQUEST",
        stage: "parity",
        status: 400,
        message: "odd",
        headers: { "x-a": "1" },
      },
    });
    assert.deepEqual(ctx.calls, ["refuseOdd"]);
  });

  test("a stage that throws or rejects fails the run (the caller answers INTERNAL_ERROR)", async () => {
    const boom: Stage<number, number, Ctx> = () => {
      throw new Error("boom");
    };
    const rejects: Stage<string, number, Ctx> = async () => {
      throw new Error("later boom");
    };
    const ctx: Ctx = { calls: [] };
    await assert.rejects(stages<number, Ctx>().pipe(boom).result(1, ctx), /^Error: boom$/);
    await assert.rejects(stages<number, Ctx>().pipe(later).pipe(rejects).result(1, ctx), /later boom/);
  });

  test("a done callback that throws is reported through fail, once", async () => {
    const ctx: Ctx = { calls: [] };
    const failures: unknown[] = [];
    stages<number, Ctx>()
      .pipe(later)
      .run(1, ctx, {
        done: () => {
          throw new Error("answer failed");
        },
        fail: (error) => failures.push(error),
      });
    await sleep(20);
    assert.equal(failures.length, 1);
    assert.match(String(failures[0]), /answer failed/);
  });
});
