import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { withTimeout } from "../src/timeout.ts";

test("a step that settles in time: its value, or its error (never a rejection)", async () => {
  assert.deepEqual(await withTimeout(Promise.resolve(42), 1000), { settled: "resolved", value: 42 });
  const error = new Error("redis gone");
  assert.deepEqual(await withTimeout(Promise.reject(error), 1000), { settled: "rejected", error });
  assert.deepEqual(await withTimeout(sleep(10, "late but in time"), 1000), {
    settled: "resolved",
    value: "late but in time",
  });
});

test("a step that never settles ends the wait at the deadline, and a failure after it is not unhandled", async () => {
  const started = performance.now();
  assert.deepEqual(await withTimeout(new Promise(() => {}), 50), { settled: "timeout" });
  const waited = performance.now() - started;
  assert.ok(waited >= 45 && waited < 1000, `waited ${waited} ms`);
  let unhandled: unknown;
  const onUnhandled = (reason: unknown) => {
    unhandled = reason;
  };
  process.on("unhandledRejection", onUnhandled);
  try {
    assert.deepEqual(
      await withTimeout(
        sleep(50).then(() => Promise.reject(new Error("after"))),
        5,
      ),
      {
        settled: "timeout",
      },
    );
    await sleep(100);
    assert.equal(unhandled, undefined);
  } finally {
    process.off("unhandledRejection", onUnhandled);
  }
});

test("the timer does not outlive the wait (a settled step leaves no handle keeping the process up)", async () => {
  const before = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
  await withTimeout(Promise.resolve(), 60_000);
  const after = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
  assert.equal(after, before);
});
