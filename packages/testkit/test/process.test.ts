import assert from "node:assert/strict";
import { test } from "node:test";
import { serviceMain, spawnService } from "../src/process.ts";

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
