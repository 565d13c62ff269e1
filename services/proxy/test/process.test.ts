import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createServer, get, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { signRequest } from "@sigilum-gw/shared/http-signatures";
import { createIdentity } from "@sigilum-gw/shared/identity";
import { type ControlPlane, startControlPlane } from "@sigilum-gw/testkit/control-plane";
import { waitForExit } from "@sigilum-gw/testkit/process";
import { type ServiceProcess, spawnGatewayVerifier, spawnProxy } from "./fixtures/processes.ts";
import {
  adminJson,
  deletePrefix,
  eventually,
  INTERNAL_SECRET,
  REDIS_URL,
  randomPrefix,
  rawRequest,
} from "./helpers.ts";

/**
 * The proxy as its own process (`node services/proxy/src/main.ts`, inline mode, real verifier process): a 50 MB
 * streamed response comes back intact without the proxy's memory growing with it, and SIGTERM drains in-flight
 * requests before exit.
 */

const SERVICE_KEY = "svc-key-process-tests";
const TOTAL = 50 * 1024 * 1024;
/** The agent reads at this rate; the upstream could write much faster, so only backpressure bounds the gap. */
const CLIENT_BYTES_PER_SECOND = 40 * 1024 * 1024;
const CHUNK = 64 * 1024;

/** Deterministic content that differs per chunk, so a reordered or duplicated chunk changes the digest. */
function chunkAt(i: number): Buffer {
  const hex = createHash("sha512").update(String(i)).digest("hex"); // 128 chars
  return Buffer.from(hex.repeat(CHUNK / hex.length));
}

async function rssOf(base: string): Promise<number> {
  const metrics = await rawRequest(base, "/metrics");
  const match = /^process_resident_memory_bytes(?:\{[^}]*\})? (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(
    metrics.text,
  );
  assert.ok(match, "process_resident_memory_bytes is exported");
  return Number(match[1]);
}

describe("proxy process: 50 MB streamed response and graceful drain", () => {
  const prefix = randomPrefix();
  let controlPlane: ControlPlane;
  let verifier: ServiceProcess;
  let proxy: ServiceProcess;
  let upstream: Server;
  let base: string;
  const agent = createIdentity("agent-stream");
  let expectedDigest = "";
  let upstreamWritten = 0;
  /** The /slow request reached the upstream (it is in flight through the proxy); it is answered on release. */
  const slowArrived = Promise.withResolvers<void>();
  const slowRelease = Promise.withResolvers<void>();

  before(async () => {
    controlPlane = await startControlPlane({ apiKey: SERVICE_KEY });
    controlPlane.approve("big-conn", agent.namespace, agent.publicKey);
    const digest = createHash("sha256");
    for (let i = 0; i < TOTAL / CHUNK; i++) digest.update(chunkAt(i));
    expectedDigest = digest.digest("hex");

    upstream = createServer((req, res) => {
      if (req.url?.startsWith("/slow")) {
        slowArrived.resolve();
        void slowRelease.promise.then(() => {
          res.writeHead(200, { "content-type": "text/plain" });
          res.end("slow-done");
        });
        return;
      }
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(TOTAL) });
      upstreamWritten = 0;
      let i = 0;
      const pump = () => {
        while (i < TOTAL / CHUNK) {
          const ok = res.write(chunkAt(i++));
          upstreamWritten += CHUNK;
          if (!ok) return void res.once("drain", pump);
        }
        res.end();
      };
      pump();
    });
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
    const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

    verifier = await spawnGatewayVerifier({
      namespace: "gateway-stream",
      prefix,
      registryUrl: controlPlane.url,
      serviceApiKey: SERVICE_KEY,
    });
    proxy = await spawnProxy({
      AUTHZ_MODE: "inline",
      GATEWAY_ADDR: "127.0.0.1:0",
      REDIS_URL,
      REDIS_PREFIX: prefix,
      GATEWAY_INTERNAL_SECRET: INTERNAL_SECRET,
      VERIFIER_URL: `http://127.0.0.1:${verifier.port}`,
      GATEWAY_MASTER_KEY: randomBytes(16).toString("hex"),
      GATEWAY_LOG_PROXY_REQUESTS: "false",
      GATEWAY_SHUTDOWN_TIMEOUT_SECONDS: "5",
    });
    base = `http://127.0.0.1:${proxy.port}`;
    const created = await adminJson(base, "POST", "/api/admin/connections", {
      id: "big-conn",
      base_url: upstreamUrl,
      auth_secret_key: "k",
      secrets: { k: "stream-SECRET" },
    });
    assert.equal(created.status, 201, created.text);
  });

  after(async () => {
    await proxy?.stop();
    await verifier?.stop();
    upstream?.closeAllConnections();
    await new Promise<void>((r) => (upstream ? upstream.close(() => r()) : r()));
    await controlPlane?.close();
    await deletePrefix(prefix);
  });

  /** Downloads through the proxy at CLIENT_BYTES_PER_SECOND; samples the proxy's RSS and the in-flight gap. */
  async function download(): Promise<{
    digest: string;
    bytes: number;
    status: number;
    peakRss: number;
    maxGap: number;
  }> {
    const signed = signRequest(agent, { url: `${base}/proxy/big-conn/blob`, method: "GET" });
    let peakRss = 0;
    let maxGap = 0;
    let received = 0;
    upstreamWritten = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peakRss = Math.max(peakRss, await rssOf(base));
        maxGap = Math.max(maxGap, upstreamWritten - received);
        await sleep(25);
      }
    })();
    const result = await new Promise<{ digest: string; bytes: number; status: number }>((resolve, reject) => {
      const url = new URL(signed.url);
      const req = get(
        { host: url.hostname, port: url.port, path: url.pathname, headers: signed.headers, agent: false },
        (res) => {
          const hash = createHash("sha256");
          const started = performance.now();
          res.on("data", (chunk: Buffer) => {
            hash.update(chunk);
            received += chunk.length;
            const due = (received / CLIENT_BYTES_PER_SECOND) * 1000 - (performance.now() - started);
            if (due > 1) {
              res.pause();
              setTimeout(() => res.resume(), due);
            }
          });
          res.on("end", () =>
            resolve({ digest: hash.digest("hex"), bytes: received, status: res.statusCode ?? 0 }),
          );
          res.on("error", reject);
        },
      );
      req.on("error", reject);
    });
    sampling = false;
    await sampler;
    return { ...result, peakRss, maxGap };
  }

  test("50 MB arrive byte-exact; backpressure bounds what is in flight; the proxy's RSS does not follow the body", async (t) => {
    const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;
    await rssOf(base);
    const baseline = await rssOf(base);
    const peaks: number[] = [];
    for (let round = 1; round <= 4; round++) {
      const run = await download();
      assert.equal(run.status, 200);
      assert.equal(run.bytes, TOTAL);
      assert.equal(run.digest, expectedDigest);
      // Without backpressure the upstream (writing at memory speed, done in a fraction of a second) would run
      // 40+ MB ahead of a 40 MB/s reader; with it, only the kernel socket buffers on both hops are in flight
      // (loopback buffers auto-tune to a few MB each, so up to ~20 MB).
      assert.ok(
        run.maxGap < 30 * 1024 * 1024,
        `round ${round}: upstream ran ${mb(run.maxGap)} ahead of the agent`,
      );
      peaks.push(run.peakRss);
      t.diagnostic(
        `round ${round}: peak RSS ${mb(run.peakRss)} (baseline ${mb(baseline)}), max gap ${mb(run.maxGap)}`,
      );
    }
    // The in-flight bound above is the proof that nothing is buffered. RSS is noisier: it rises by what V8 lets
    // garbage chunks pile up before a GC (tens of MB, independent of the body size) and pages are not always
    // returned, so the first round may lift the plateau, and a GC that comes late can lift one more. What must
    // not happen is growth per body: once warm, two further bodies (100 MB) add less than one, and the peak never
    // reaches the 150 MB of three bodies (V8 lets up to 64 MB of dead external buffers wait for a GC, so the margin
    // below that is what RSS can prove).
    const trail = `baseline ${mb(baseline)}, peaks ${peaks.map(mb).join(" → ")}`;
    assert.ok(peaks[3]! - peaks[1]! < TOTAL, `RSS kept growing: ${trail}`);
    assert.ok(Math.max(...peaks) - baseline < 3 * TOTAL, `RSS followed the bodies: ${trail}`);
  });

  test("SIGTERM: the in-flight request completes, new ones are refused, exit code 0", async () => {
    const signed = signRequest(agent, { url: `${base}/proxy/big-conn/slow`, method: "GET" });
    const inFlight = rawRequest(base, "/proxy/big-conn/slow", { headers: signed.headers });
    await slowArrived.promise;
    proxy.child.kill("SIGTERM");
    // Draining: a new connection is refused while the in-flight request is still held open by the upstream.
    await eventually(
      () =>
        rawRequest(base, "/health").then(
          () => false,
          () => true,
        ),
      10_000,
    );
    slowRelease.resolve();
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.equal(res.text, "slow-done");
    assert.equal(await waitForExit(proxy.child, 15_000), 0);
    assert.match(proxy.output(), /"outcome":"success"/);
    await assert.rejects(rawRequest(base, "/health"));
  });
});

describe("exit when the log reader is gone", () => {
  const prefix = randomPrefix();
  let controlPlane: ControlPlane;
  after(async () => {
    await controlPlane?.close();
    await deletePrefix(prefix);
  });

  test("proxy and verifier still exit on SIGTERM after whoever read their stdout went away (EPIPE)", async () => {
    controlPlane = await startControlPlane({ apiKey: SERVICE_KEY });
    const verifier = await spawnGatewayVerifier({
      namespace: "gateway-epipe",
      prefix,
      registryUrl: controlPlane.url,
      serviceApiKey: SERVICE_KEY,
    });
    const proxy = await spawnProxy({
      AUTHZ_MODE: "envoy",
      PROXY_ADDR: "127.0.0.1:0",
      REDIS_URL,
      REDIS_PREFIX: prefix,
      GATEWAY_INTERNAL_SECRET: INTERNAL_SECRET,
      GATEWAY_MASTER_KEY: randomBytes(16).toString("hex"),
    });
    for (const service of [verifier, proxy]) {
      service.child.stdout?.destroy();
      // Rejects (after a SIGKILL) when the process hangs in its exit path: past its own drain bound
      // (GATEWAY_SHUTDOWN_TIMEOUT_SECONDS, 15 s), which a loaded machine can approach.
      await service.stop("SIGTERM", 20_000);
    }
  });
});
