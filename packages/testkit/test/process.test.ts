import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { hasExited, runScript, serviceMain, spawnService, stopProcess, waitForExit } from "../src/process.ts";

test("spawnService starts a service, reads its port from the listening line, and stops it", async () => {
  const bridge = await spawnService(serviceMain("pairing-bridge"), "pairing bridge listening", {
    BRIDGE_ADDR: "127.0.0.1:0",
  });
  const res = await fetch(`http://127.0.0.1:${bridge.port}/health`);
  assert.equal(res.status, 200);
  assert.equal(await bridge.stop(), 0);
});

test("a service that exits before listening rejects with its output", async () => {
  await assert.rejects(
    spawnService(serviceMain("pairing-bridge"), "pairing bridge listening", {
      BRIDGE_ADDR: "not-an-address",
    }),
    /exited with 1[\s\S]*BRIDGE_ADDR/,
  );
});

test("runScript runs a script to its end with the given stdin and environment and captures its output", async () => {
  const dir = await mkdtemp(join(tmpdir(), "testkit-run-"));
  try {
    const script = join(dir, "script.mjs");
    await writeFile(
      script,
      `process.stdin.on("data", (d) => process.stdout.write(process.argv[2] + ":" + d));
process.stderr.write(process.env.WHO ?? "nobody");
process.exitCode = 3;`,
    );
    const result = await runScript(script, ["arg"], { env: { WHO: "me" }, stdin: "in", timeoutMs: 10_000 });
    assert.deepEqual(result, { code: 3, stdout: "arg:in", stderr: "me" });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a process killed by a signal counts as exited (exitCode stays null, signalCode is set): stopping it again returns at once", async () => {
  const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  assert.equal(hasExited(child), false);
  assert.equal(await stopProcess(child, "SIGKILL"), null);
  assert.equal(child.exitCode, null);
  assert.equal(child.signalCode, "SIGKILL");
  assert.equal(hasExited(child), true);
  assert.equal(await waitForExit(child, 1000), null, "no second exit event is awaited");
  assert.equal(await stopProcess(child, "SIGKILL", 1000), null);
});

test("stopping a process that ignores the signal is bounded: it is SIGKILLed and the stop rejects", async () => {
  const child = spawn(
    process.execPath,
    ["-e", 'process.on("SIGTERM", () => {}); process.stdout.write("ready"); setInterval(() => {}, 1000)'],
    { stdio: ["ignore", "pipe", "ignore"] },
  );
  await new Promise((resolve) => child.stdout.once("data", resolve));
  await assert.rejects(stopProcess(child, "SIGTERM", 300), /still running 300 ms after SIGTERM; killed/);
  assert.equal(child.signalCode, "SIGKILL");
});
