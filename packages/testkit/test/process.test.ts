import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { runScript, serviceMain, spawnService } from "../src/process.ts";

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
