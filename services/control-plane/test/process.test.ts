import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { unusedPort } from "@sigilum-gw/testkit/network";
import { makeIdentity, signedFetch } from "./agents.ts";
import { createTestDatabase, rand, setupService, startTestControlPlane } from "./helpers.ts";

const MAIN = new URL("../src/main.ts", import.meta.url).pathname;

/** A GET with a Host header of our choosing (fetch does not let one be set). */
function getWithHost(url: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { host } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

function run(env: Record<string, string>): {
  child: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const collect = (chunk: Buffer) => lines.push(...chunk.toString().split("\n").filter(Boolean));
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  const exited = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
  return { child, lines, exited };
}

// The first start of the embedded database (PGlite initdb) is the slow part: over 90 s on a loaded 2-core machine
// (docs/decisions.md, "memory of the embedded control-plane database"); the tests that start one allow for it.
async function waitForLine(lines: string[], re: RegExp, timeoutMs = 120_000): Promise<string> {
  const start = Date.now();
  for (;;) {
    const hit = lines.find((l) => re.test(l));
    if (hit) return hit;
    if (Date.now() - start > timeoutMs) throw new Error(`no line matching ${re}: ${lines.join("\n")}`);
    await sleep(50);
  }
}

describe("the process (npm start) and failure modes", () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test("starts from env only, serves /health, exits 0 on SIGTERM", { timeout: 240_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "cp-proc-"));
    dirs.push(dataDir);
    const p = run({ CONTROL_PLANE_ADDR: "127.0.0.1:0", CONTROL_PLANE_DATA_DIR: dataDir });
    try {
      const line = await waitForLine(p.lines, /control plane listening/);
      const url = JSON.parse(line).url as string;
      const res = await fetch(`${url}/health`);
      assert.equal(res.status, 200);
      assert.equal((await fetch(`${url}/health/ready`)).status, 200);
      // The shell's ops routes: Prometheus text with the default and lifecycle metrics, to loopback callers.
      const metrics = await fetch(`${url}/metrics`);
      assert.equal(metrics.status, 200);
      const text = await metrics.text();
      assert.match(text, /sigilum_gateway_requests_in_flight\{service="control-plane"\} 1/);
      assert.match(text, /process_cpu_user_seconds_total/);
      // DNS rebinding: a page whose name now resolves to 127.0.0.1 reads from a loopback peer with its own Host.
      const rebound = await getWithHost(`${url}/metrics`, "attacker.example");
      assert.equal(rebound.status, 403);
      assert.equal(JSON.parse(rebound.body).code, "ADMIN_HOST_NOT_ALLOWED");
      p.child.kill("SIGTERM");
      assert.equal(await p.exited, 0);
    } finally {
      p.child.kill("SIGKILL");
    }
  });

  test("a bad variable stops start-up with exit 2, naming it", async () => {
    const p = run({ CONTROL_PLANE_ADDR: "not an address" });
    assert.equal(await p.exited, 2);
    assert.ok(
      p.lines.some((l) => l.includes("CONTROL_PLANE_ADDR")),
      p.lines.join("\n"),
    );
  });

  test("a taken port is reported with the variable that changes it", { timeout: 240_000 }, async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const port = (blocker.address() as { port: number }).port;
    const dataDir = mkdtempSync(join(tmpdir(), "cp-proc-"));
    dirs.push(dataDir);
    try {
      const p = run({ CONTROL_PLANE_ADDR: `127.0.0.1:${port}`, CONTROL_PLANE_DATA_DIR: dataDir });
      assert.equal(await p.exited, 1);
      assert.ok(
        p.lines.some((l) => /address already in use \(set CONTROL_PLANE_ADDR/.test(l)),
        p.lines.join("\n"),
      );
    } finally {
      blocker.close();
    }
  });

  test("Redis configured but down: signed requests fail closed with 503, owner routes still work", {
    timeout: 240_000,
  }, async () => {
    const t = await startTestControlPlane({
      env: { REDIS_URL: `redis://127.0.0.1:${await unusedPort()}` },
    });
    try {
      const ns = `noredis-${rand(3)}`;
      const { apiKey } = await setupService(t, ns, `svc-${rand(3)}`);
      const gw = await makeIdentity(ns);
      const res = await signedFetch(gw, `${t.url}/v1/namespaces/claims`, {
        headers: { authorization: `Bearer ${apiKey}` },
      });
      assert.equal(res.status, 503);
      assert.equal(res.body.code, "NONCE_STORE_UNAVAILABLE");
    } finally {
      await t.stop();
    }
  });

  test("database unreachable: 503 DB_UNAVAILABLE, not a 500", async () => {
    const db = await createTestDatabase();
    // A TCP proxy in front of PostgreSQL that the test can cut, like a network outage.
    const target = new URL(db.url);
    const sockets = new Set<Socket>();
    const proxy = createServer((client) => {
      const upstream = connect(Number(target.port || 5432), target.hostname);
      sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const drop = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on("error", drop).on("close", drop);
      upstream.on("error", drop).on("close", drop);
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    const viaProxy = new URL(db.url);
    viaProxy.host = `127.0.0.1:${(proxy.address() as { port: number }).port}`;
    const t = await startTestControlPlane({ databaseUrl: viaProxy.toString() });
    try {
      const token = await t.token(`dbdown-${rand(3)}`);
      assert.equal((await t.owner(token, "GET", "/v1/services")).status, 200);
      proxy.close();
      for (const s of sockets) s.destroy();
      for (let i = 0; i < 3; i++) {
        const res = await t.owner(token, "GET", "/v1/services");
        assert.equal(res.status, 503, JSON.stringify(res.body));
        assert.equal(res.body.code, "DB_UNAVAILABLE");
      }
    } finally {
      await t.stop().catch(() => {});
      await db.drop();
    }
  });
});
