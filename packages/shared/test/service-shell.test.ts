import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createMetricsRegistry, lifecycleMetrics } from "../src/metrics.ts";
import { drainServer, trackRequests } from "../src/service-shell/drain.ts";
import { createServiceServer } from "../src/service-shell/http-server.ts";
import { listenOn } from "../src/service-shell/listen.ts";
import { opsRoutes, type Readiness } from "../src/service-shell/ops-routes.ts";

const FIXTURE = fileURLToPath(new URL("./support/shell-service.ts", import.meta.url));

interface Run {
  child: ChildProcess;
  lines: () => Record<string, unknown>[];
  exited: Promise<number | null>;
}

function run(env: Record<string, string>): Run {
  const child = spawn(process.execPath, [FIXTURE], {
    env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
  child.stderr?.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
  const exited = once(child, "exit").then(([code]) => code as number | null);
  const lines = () =>
    out.split("\n").flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  return { child, lines, exited };
}

async function listening(r: Run): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const line = r.lines().find((l) => l.msg === "shell test listening");
    if (line) return line.port as number;
    if (r.child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  r.child.kill("SIGKILL");
  throw new Error(`no listening line: ${JSON.stringify(r.lines())}`);
}

describe("runService", { timeout: 60_000 }, () => {
  test("reports where it listens, drains the request in flight on SIGTERM, flushes its logs, exits 0", async () => {
    const dir = await mkdtemp(join(tmpdir(), "service-shell-"));
    const file = join(dir, "listen.json");
    try {
      const r = run({
        USAGE_WORKER_ADDR: "127.0.0.1:0",
        SHELL_TEST_SLOW_MS: "400",
        LISTEN_ADDRESS_FILE: file,
      });
      const port = await listening(r);
      const line = r.lines().find((l) => l.msg === "shell test listening");
      assert.equal(line?.extra, "field");
      assert.deepEqual(JSON.parse(await readFile(file, "utf8")), { address: "127.0.0.1", port });
      const slow = fetch(`http://127.0.0.1:${port}/metrics`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      r.child.kill("SIGTERM");
      r.child.kill("SIGINT"); // a second signal does not start a second stop
      const res = await slow;
      assert.equal(res.status, 200);
      assert.match(await res.text(), /sigilum_gateway_requests_in_flight/);
      assert.equal(await r.exited, 0);
      const stopped = r.lines().filter((l) => l.msg === "shell test stopped");
      assert.equal(stopped.length, 1);
      assert.equal(stopped[0]?.outcome, "success");
      assert.equal(r.lines().filter((l) => l.msg === "shutting down").length, 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("a drain that times out exits 1", async () => {
    const r = run({
      USAGE_WORKER_ADDR: "127.0.0.1:0",
      SHELL_TEST_SLOW_MS: "5000",
      GATEWAY_SHUTDOWN_TIMEOUT_SECONDS: "1",
    });
    const port = await listening(r);
    const slow = fetch(`http://127.0.0.1:${port}/metrics`).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 100));
    r.child.kill("SIGTERM");
    assert.equal(await r.exited, 1);
    await slow;
    assert.equal(r.lines().find((l) => l.msg === "shell test stopped")?.outcome, "timeout");
  });

  test("a bad configuration logs each issue as fatal, naming its variable, and exits with the service's code", async () => {
    const r = run({
      USAGE_WORKER_ADDR: "nowhere",
      GATEWAY_SHUTDOWN_TIMEOUT_SECONDS: "x",
      SHELL_TEST_CONFIG_EXIT: "2",
    });
    assert.equal(await r.exited, 2);
    const fatal = r.lines().filter((l) => l.level === "fatal");
    assert.deepEqual(fatal.map((l) => l.variable).sort(), [
      "GATEWAY_SHUTDOWN_TIMEOUT_SECONDS",
      "USAGE_WORKER_ADDR",
    ]);
  });

  test("a taken port stops start-up with exit 1 and a message naming the address and the variable", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = blocker.address() as AddressInfo;
      const r = run({ USAGE_WORKER_ADDR: `127.0.0.1:${port}` });
      assert.equal(await r.exited, 1);
      const fatal = r.lines().find((l) => l.level === "fatal");
      assert.match(
        String(fatal?.msg),
        new RegExp(
          `cannot listen on 127\\.0\\.0\\.1:${port}: address already in use \\(set USAGE_WORKER_ADDR`,
        ),
      );
    } finally {
      blocker.close();
    }
  });
});

test("listenOn names the address and the variable of any bind failure", async () => {
  const server = createServer();
  await assert.rejects(
    listenOn(server, { host: "192.0.2.1", port: 0 }, "SOME_ADDR"),
    /cannot listen on 192\.0\.2\.1:0: .*\(set SOME_ADDR to another address, e\.g\. SOME_ADDR=127\.0\.0\.1:0/,
  );
});

describe("ops routes and client errors over real HTTP", () => {
  let server: Server;
  let base: string;
  let port: number;
  let readiness: Readiness = { ready: true };
  const registry = createMetricsRegistry({ service: "shell-test" });
  const lifecycle = lifecycleMetrics(registry);
  let inFlight: () => number;

  before(async () => {
    const routes = opsRoutes({
      service: "shell-test",
      registry,
      ready: () => readiness,
      details: () => ({ extra: 1 }),
      allowMetrics(req, res) {
        if (req.headers.authorization === "Bearer ok") return true;
        res.writeHead(403).end();
        return false;
      },
    });
    server = createServiceServer({ headersTimeout: 2000, maxHeaderSize: 1024 }, (req, res) => {
      if (!routes(req, res, (req.url ?? "/").split("?")[0] as string, "rid-1")) res.writeHead(404).end();
    });
    inFlight = trackRequests(server, lifecycle);
    port = (await listenOn(server, { host: "127.0.0.1", port: 0 }, "TEST_ADDR")).port;
    base = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    assert.equal(await drainServer(server, inFlight, 1000, lifecycle), "success");
    assert.match(
      await registry.metrics(),
      /sigilum_gateway_shutdown_drain_total\{outcome="success",service="shell-test"\} 1/,
    );
  });

  test("health and liveness: JSON with the service's details; HEAD has no body; OPTIONS 204; POST 405", async () => {
    for (const [path, check] of [
      ["/health", "health"],
      ["/health/live", "liveness"],
    ]) {
      const res = await fetch(base + path);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("x-request-id"), "rid-1");
      assert.equal(res.headers.get("cache-control"), "no-store");
      assert.deepEqual(await res.json(), { check, status: "ok", extra: 1 });
    }
    const head = await fetch(`${base}/health`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");
    assert.equal((await fetch(`${base}/health`, { method: "OPTIONS" })).status, 204);
    const post = await fetch(`${base}/health/ready`, { method: "POST" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
    assert.equal(((await post.json()) as { code: string }).code, "METHOD_NOT_ALLOWED");
  });

  test("readiness: the checks when ready; NOT_READY naming the failing ones, or the service's own reason", async () => {
    readiness = { ready: true, checks: { redis: true } };
    assert.deepEqual(await (await fetch(`${base}/health/ready`)).json(), {
      check: "readiness",
      status: "ok",
      checks: { redis: true },
      extra: 1,
    });
    readiness = { ready: false, checks: { redis: false, claims: true, db: false } };
    let res = await fetch(`${base}/health/ready`);
    assert.equal(res.status, 503);
    let body = (await res.json()) as { code: string; error: string };
    assert.equal(body.code, "NOT_READY");
    assert.equal(body.error, "shell-test dependencies are not ready: redis, db");
    readiness = { ready: false, message: "shutting down" };
    res = await fetch(`${base}/health/ready`);
    body = (await res.json()) as { code: string; error: string };
    assert.equal(body.error, "shutting down");
    readiness = { ready: true };
  });

  test("/metrics behind the service's access check, Prometheus text", async () => {
    assert.equal((await fetch(`${base}/metrics`)).status, 403);
    const res = await fetch(`${base}/metrics`, { headers: { authorization: "Bearer ok" } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    assert.match(await res.text(), /sigilum_gateway_requests_in_flight\{service="shell-test"\} 1/);
  });

  test("other paths are left to the service", async () => {
    assert.equal((await fetch(`${base}/healthz`)).status, 404);
  });

  for (const [name, request, status, code] of [
    ["a malformed request", "NONSENSE\r\n\r\n", 400, "INVALID_REQUEST"],
    [
      "oversized headers",
      `GET /health HTTP/1.1\r\nhost: x\r\nx-big: ${"a".repeat(4096)}\r\n\r\n`,
      431,
      "REQUEST_HEADER_TOO_LARGE",
    ],
  ] as const) {
    test(`${name} gets the JSON envelope (${status} ${code})`, async () => {
      const socket = connect(port, "127.0.0.1");
      socket.write(request);
      let raw = "";
      socket.on("data", (chunk: Buffer) => (raw += chunk.toString("utf8")));
      await once(socket, "close");
      assert.match(raw, new RegExp(`^HTTP/1\\.1 ${status} `));
      assert.match(raw, /content-type: application\/json/);
      const body = JSON.parse(raw.slice(raw.indexOf("\r\n\r\n") + 4)) as { code: string; request_id: string };
      assert.equal(body.code, code);
      assert.ok(body.request_id);
    });
  }
});
