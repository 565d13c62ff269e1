import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { reportListening } from "../src/listen-report.ts";

test("the listen address file receives the address a listener got (0600, nothing else left); unset, nothing is written", async () => {
  const dir = await mkdtemp(join(tmpdir(), "listen-report-"));
  try {
    const file = join(dir, "svc.address.json");
    reportListening({ address: "127.0.0.1", family: "IPv4", port: 40123 }, file);
    assert.deepEqual(JSON.parse(await readFile(file, "utf8")), { address: "127.0.0.1", port: 40123 });
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    reportListening({ address: "127.0.0.1", family: "IPv4", port: 40124 }, undefined);
    assert.deepEqual(await readdir(dir), ["svc.address.json"]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
