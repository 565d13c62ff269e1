import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { BatchedDestination, flushLogs } from "../src/logger/destination.ts";

type Call = { bytes: string; offset: number; length: number };

/** A write function that records each call and answers with what `answer` decides. */
function scriptedWrite(answer: (call: Call, n: number) => { err?: string; written?: number } | "stall") {
  const calls: Call[] = [];
  const writeFn = (
    _fd: number,
    buffer: Buffer,
    offset: number,
    length: number,
    _position: null,
    cb: (err: NodeJS.ErrnoException | null, written: number) => void,
  ) => {
    const call = { bytes: buffer.subarray(offset, offset + length).toString(), offset, length };
    calls.push(call);
    const result = answer(call, calls.length);
    if (result === "stall") return;
    setImmediate(() => {
      if (result.err) cb(Object.assign(new Error(result.err), { code: result.err }), 0);
      else cb(null, result.written ?? length);
    });
  };
  return { calls, writeFn };
}

describe("BatchedDestination", () => {
  test("lines leave in order, a batch at a time, and flush sends the rest", async () => {
    const dir = mkdtempSync(join(tmpdir(), "log-dest-"));
    const file = join(dir, "out.log");
    const fd = openSync(file, "w");
    try {
      const destination = new BatchedDestination({ fd, batchBytes: 100 });
      const lines = Array.from({ length: 25 }, (_, i) => `{"n":${i},"pad":"${"x".repeat(20)}"}\n`);
      for (const line of lines) destination.write(line);
      await flushLogs(destination);
      assert.equal(readFileSync(file, "utf8"), lines.join(""));
      assert.equal(destination.dropped, 0);
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("nothing is written below the batch size until a flush", async () => {
    const { calls, writeFn } = scriptedWrite(() => ({}));
    const destination = new BatchedDestination({ batchBytes: 1000, writeFn });
    destination.write("a\n");
    destination.write("b\n");
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(calls.length, 0);
    await flushLogs(destination);
    assert.deepEqual(
      calls.map((c) => c.bytes),
      ["a\nb\n"],
    );
  });

  test("a full pipe (EAGAIN) is retried, a short write continues where it stopped", async () => {
    const { calls, writeFn } = scriptedWrite((call, n) =>
      n === 1 ? { err: "EAGAIN" } : n === 2 ? { written: 3 } : { written: call.length },
    );
    const destination = new BatchedDestination({ batchBytes: 1, retryDelayMs: 1, writeFn });
    destination.write("hello\n");
    await flushLogs(destination);
    assert.deepEqual(
      calls.map((c) => [c.offset, c.bytes]),
      [
        [0, "hello\n"],
        [0, "hello\n"],
        [3, "lo\n"],
      ],
    );
  });

  test("a reader gone (EPIPE) drops the logs, never throws, and flush still returns at once", async () => {
    const { calls, writeFn } = scriptedWrite(() => ({ err: "EPIPE" }));
    const destination = new BatchedDestination({ batchBytes: 1, writeFn });
    destination.write("one\n");
    await flushLogs(destination, 5000);
    const started = performance.now();
    for (let i = 0; i < 1000; i++) destination.write("more\n");
    await flushLogs(destination, 5000);
    assert.ok(performance.now() - started < 1000, "no retry loop after EPIPE");
    assert.equal(calls.length, 1, "nothing is written after the reader is gone");
    assert.equal(destination.dropped, 1001);
  });

  test("lines beyond maxPendingBytes are dropped and counted while a write is stuck", () => {
    const { writeFn } = scriptedWrite(() => "stall");
    const destination = new BatchedDestination({ batchBytes: 10, maxPendingBytes: 50, writeFn });
    destination.write("0123456789\n"); // leaves at once and never completes
    let accepted = 0;
    for (let i = 0; i < 10; i++) if (destination.write("0123456789\n")) accepted++;
    assert.equal(accepted, 4);
    assert.equal(destination.dropped, 6);
  });
});
