import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { startControlPlane } from "@sigilum-gw/testkit/control-plane";
import { deletePrefix } from "@sigilum-gw/testkit/redis";
import { defaultEd25519Backend } from "../../packages/shared/src/ed25519.ts";
import { signRequest } from "../../packages/shared/src/http-signatures.ts";
import { identityFromSeed, initIdentity } from "../../packages/shared/src/identity.ts";
import * as load from "./load.ts";
import { fmt, opsPerSecond, ratio } from "./measure.ts";

/**
 * Verifier throughput and latency, each part in its own process: the verifier (services/verifier/src/main.ts,
 * real Redis, approved agent, cached certificate), a bare node:http server answering 200 (the ceiling of any
 * node:http service on this machine), optionally a bare express app, and a raw-socket load generator (load.ts) that
 * sends Envoy-shaped check requests. First a closed-loop saturation run, then an open-loop run at half that rate for
 * p50/p99 (latency counted from the scheduled send time, so a stall is not hidden).
 *
 * Run alone: `node tests/bench/verifier-bench.ts [--workers=N] [--seconds=S] [--no-express] [--no-logs]
 * [--separate-cpus]` (servers on CPU 1, load generator on CPU 0: the latency of the server, not of two processes
 * taking turns on one core).
 * With SIGILUM_SDK_REFERENCE=<module> also the reference SDK's verification server (roleSdkReference).
 * (tests/bench/run.ts calls runVerifierBench). Profile the verifier under this load with
 * `BENCH_VERIFIER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" node tests/bench/verifier-bench.ts`.
 */

const SELF = fileURLToPath(import.meta.url);
const VERIFIER_MAIN = fileURLToPath(new URL("../../services/verifier/src/main.ts", import.meta.url));
const SERVICE_KEY = "bench-service-key";
const SERVER_CPU = "1";
const LOAD_CPU = "0";
const loadCpuOf = (o: VerifierBenchOptions) => (o.separateCpus ? LOAD_CPU : undefined);
const TARGET_URL = "http://127.0.0.1:38100/proxy/bench/v1/items?limit=10";
const FORWARDED_FOR = "198.51.100.9";

export interface VerifierBenchOptions {
  /** Seconds of each measured run (default 5). */
  seconds?: number;
  /** Seconds of saturation load before measuring (default 3). */
  warmupSeconds?: number;
  /** In-flight requests during saturation (default 32). */
  concurrency?: number;
  redisUrl?: string;
  /** Decision logs on (the production default) or off. */
  decisionLogs?: boolean;
  /** Also measure a bare express app (the choice for the /check hot path). */
  compareExpress?: boolean;
  /** VERIFIER_WORKERS of the verifier under test (default 1: one core, comparable to the one-core verify rate). */
  workers?: number;
  quiet?: boolean;
  /** Servers pinned to CPU 1 and the load generator to CPU 0 (taskset), instead of both floating. */
  separateCpus?: boolean;
  /**
   * Path of an ES module exporting the reference Sigilum SDK's `verifyHttpSignature` (SIGILUM_SDK_REFERENCE): when
   * given, a node:http server verifying each check with it is measured under the same signed load.
   */
  sdkReference?: string;
}

export interface VerifierBenchResult {
  backend: string;
  workers: number;
  separateCpus: boolean;
  /** Median of three one-second readings (start, before the verifier, after it). */
  rawVerifiesPerSecond: number;
  rawVerifyReadings: number[];
  bare: { saturation: load.LoadResult; half: load.LoadResult; cpuPerRequestUs?: number };
  express?: Saturated;
  /** The least a node:http verifier does per check (roleFloor): verify alone, then verify + Redis nonce. */
  floor: { verify: Saturated; verifyAndNonce: Saturated };
  verifier: {
    saturation: load.LoadResult;
    half: load.LoadResult;
    cpuPerRequestUs?: number;
    inside?: InsideLatency;
  };
  /** The reference SDK's verification server (only with `sdkReference`). */
  sdkReference?: Saturated & { module: string };
  /** Decisions one verifier core sustains (1 / CPU time per decision): comparable to the raw one-core verify rate. */
  verifierPerCoreCapacity?: number;
  verifierToRawVerify: number;
  verifierToBare: number;
  targets: { ratioMet: boolean; p99Met: boolean };
}

// ---------------------------------------------------------------- child roles

async function roleExpress(): Promise<void> {
  const { default: express } = await import("express");
  const app = express();
  app.use((_req, res) => {
    res.status(200).end();
  });
  load.listenAndAnnounce(createServer(app));
}

/**
 * The least any node:http verifier must do per check: answer over node:http and verify one Ed25519 signature (a
 * fixed one: same cost), plus, with `--redis=<url>`, record one nonce with `SET NX EX` (ioredis, auto-pipelined).
 * No parsing, claims, token, metrics or logs: its CPU per request bounds what the real verifier can reach.
 */
async function roleFloor(): Promise<void> {
  const backend = defaultEd25519Backend();
  const seed = randomBytes(32);
  const key = backend.importPublicKey(backend.publicKeyFromSeed(seed));
  const message = randomBytes(600);
  const signature = backend.sign(seed, message);
  const redisUrl = load.cliArg("redis");
  const { Redis } = await import("ioredis");
  const redis = redisUrl ? new Redis(redisUrl, { enableAutoPipelining: true }) : undefined;
  const prefix = load.cliArg("prefix") ?? "bench:floor:";
  let n = 0;
  const answer = (res: import("node:http").ServerResponse, ok: boolean) => {
    res.writeHead(ok ? 200 : 403, { "content-length": 0 });
    res.end();
  };
  const server = createServer((req, res) => {
    req.resume();
    const ok = backend.verify(key, message, signature);
    if (!redis) return answer(res, ok);
    redis.set(`${prefix}${n++}`, "1", "EX", 60, "NX").then(
      (set) => answer(res, ok && set === "OK"),
      () => answer(res, false),
    );
  });
  load.listenAndAnnounce(server);
}

/**
 * The reference Sigilum SDK's own verification in a node:http server: `--module=<path>` exports the SDK's
 * `verifyHttpSignature`. Each check's signed URL is rebuilt as the verifier does (scheme from x-forwarded-proto,
 * Host, the path after /check) and verified with the SDK's strict options (5 minutes' skew, its in-memory nonce set):
 * 200 when valid, 403 otherwise (counted as errors by the load generator).
 */
async function roleSdkReference(): Promise<void> {
  const verify = await loadSdkReference(load.cliArg("module") as string);
  const nonceStore = new Set<string>();
  const server = createServer((req, res) => {
    req.resume();
    const path = (req.url ?? "/").replace(/^\/check/, "");
    const result = verify({
      url: `${req.headers["x-forwarded-proto"] ?? "http"}://${req.headers.host}${path}`,
      method: req.method ?? "GET",
      headers: req.headers,
      body: null,
      strict: { maxAgeSeconds: 300, nonceStore },
    });
    res.writeHead(result.valid ? 200 : 403, { "content-length": 0 });
    res.end();
  });
  load.listenAndAnnounce(server);
}

type SdkVerify = (input: {
  url: string;
  method: string;
  headers: Record<string, string | string[] | undefined>;
  body: null;
  strict: { maxAgeSeconds: number; nonceStore: Set<string> };
}) => { valid: boolean; code?: string };

/** The SDK's `verifyHttpSignature` from the module at `path`; throws saying what the module must export. */
export async function loadSdkReference(path: string): Promise<SdkVerify> {
  const module = (await import(pathToFileURL(resolve(path)).href)) as { verifyHttpSignature?: unknown };
  if (typeof module.verifyHttpSignature !== "function") {
    throw new Error(
      `SIGILUM_SDK_REFERENCE=${path} does not export verifyHttpSignature (an ES module bundling the reference SDK's src/index.ts is expected; docs/benchmarks.md)`,
    );
  }
  return module.verifyHttpSignature as SdkVerify;
}

interface CheckLoad extends load.LoadRun {
  /** Base64 seed of the agent; absent = unsigned requests (bare servers). */
  agentSeed?: string;
  agentNamespace?: string;
}

/** Envoy-shaped check requests; signed ones carry a fresh signature and nonce each. */
function buildChecks(spec: CheckLoad, count: number): Buffer[] {
  const url = new URL(TARGET_URL);
  const check = (agentHeaders?: Record<string, string>) =>
    load.envoyCheck(url.host, `${url.pathname}${url.search}`, FORWARDED_FOR, agentHeaders);
  if (!spec.agentSeed) return [check()];
  const agent = identityFromSeed(spec.agentNamespace as string, Buffer.from(spec.agentSeed, "base64"));
  return Array.from({ length: count }, () =>
    check(signRequest(agent, { url: TARGET_URL, method: "GET" }).headers),
  );
}

// ---------------------------------------------------------------- orchestration

/** Cumulative allow-decision histogram buckets (le seconds → count) from the verifier's own /metrics. */
async function decisionHistogram(port: number): Promise<Map<number, number> | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    const text = await response.text();
    const buckets = new Map<number, number>();
    const re = /^sigilum_verifier_decision_duration_seconds_bucket\{le="([^"]+)",decision="allow"\} (\d+)$/gm;
    for (const m of text.matchAll(re))
      buckets.set(m[1] === "+Inf" ? Number.POSITIVE_INFINITY : Number(m[1]), Number(m[2]));
    return buckets.size ? buckets : undefined;
  } catch {
    return undefined;
  }
}

/** Time spent inside the verifier (request received → answer written), without network or generator noise. */
export interface InsideLatency {
  /** Upper bounds of the histogram buckets holding the 50th and 99th percentile, in ms. */
  p50AtMostMs: number;
  p99AtMostMs: number;
  /** Time in garbage collection during the run (prom-client default metrics). */
  gcMs?: number;
}

async function runtimeFigures(port: number): Promise<{ gcSeconds?: number }> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    let gc = 0;
    for (const m of text.matchAll(/^nodejs_gc_duration_seconds_sum\{[^}]*\} (\S+)$/gm)) gc += Number(m[1]);
    return { gcSeconds: gc };
  } catch {
    return {};
  }
}

function insideLatency(before: Map<number, number>, after: Map<number, number>): InsideLatency | undefined {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const delta = bounds.map((le) => (after.get(le) ?? 0) - (before.get(le) ?? 0));
  const total = delta[delta.length - 1] ?? 0;
  if (total <= 0) return undefined;
  const bound = (q: number) =>
    (bounds[delta.findIndex((count) => count >= q * total)] ?? Number.POSITIVE_INFINITY) * 1000;
  return { p50AtMostMs: bound(0.5), p99AtMostMs: bound(0.99) };
}

async function measureServer(
  port: number,
  pid: number | undefined,
  signed: { seed: string; namespace: string } | undefined,
  o: Required<VerifierBenchOptions>,
): Promise<{
  saturation: load.LoadResult;
  half: load.LoadResult;
  cpuPerRequestUs?: number;
  inside?: InsideLatency;
}> {
  const common = {
    port,
    concurrency: o.concurrency,
    ...(signed ? { agentSeed: signed.seed, agentNamespace: signed.namespace } : {}),
  };
  // Long enough for the JIT to settle: in the first seconds under load TurboFan compiles on another thread, which
  // /proc counts as the server's CPU (~10 % of it in the verifier), though a long-running service never pays it.
  const loadCpu = loadCpuOf(o);
  const { saturation: warm } = await load.saturate(
    SELF,
    {
      ...common,
      seconds: o.warmupSeconds,
      budget: signed ? 25_000 * o.warmupSeconds : 200_000 * o.warmupSeconds,
    },
    [],
    loadCpu,
  );
  const budget = signed ? Math.min(300_000, Math.ceil(warm.rps * 2 * o.seconds) + 1000) : 100_000 * o.seconds;
  const {
    saturation,
    cpuUs: [cpuPerRequestUs],
  } = await load.saturate(SELF, { ...common, seconds: o.seconds, budget }, [pid], loadCpu);
  const histogramBefore = signed ? await decisionHistogram(port) : undefined;
  const runtimeBefore = signed ? await runtimeFigures(port) : undefined;
  const half = await load.runLoad(
    SELF,
    {
      ...common,
      concurrency: o.concurrency * 2,
      mode: "rate",
      seconds: o.seconds,
      rate: Math.max(1, Math.floor(saturation.rps / 2)),
      budget: 0,
    },
    loadCpu,
  );
  const histogramAfter = signed ? await decisionHistogram(port) : undefined;
  const runtimeAfter = signed ? await runtimeFigures(port) : undefined;
  const inside =
    histogramBefore && histogramAfter ? insideLatency(histogramBefore, histogramAfter) : undefined;
  if (inside && runtimeAfter?.gcSeconds !== undefined && runtimeBefore?.gcSeconds !== undefined) {
    inside.gcMs = (runtimeAfter.gcSeconds - runtimeBefore.gcSeconds) * 1000;
  }
  return {
    saturation,
    half,
    ...(cpuPerRequestUs ? { cpuPerRequestUs } : {}),
    ...(inside ? { inside } : {}),
  };
}

interface Saturated {
  saturation: load.LoadResult;
  cpuPerRequestUs?: number;
}

/**
 * Starts `--role=...` of this file, saturates it with checks (after a 1 s warm-up), stops it. Unsigned checks,
 * or with `signed` checks signed by that agent, a fresh nonce each (built up front: the budget follows the warm-up).
 */
async function saturateRole(
  args: string[],
  serverCpu: { cpu?: string },
  o: Required<VerifierBenchOptions>,
  children: ChildProcess[],
  signed?: { seed: string; namespace: string },
): Promise<Saturated> {
  const server = await load.spawnListening([SELF, ...args], serverCpu);
  children.push(server.child);
  const target = {
    port: server.port,
    concurrency: o.concurrency,
    ...(signed ? { agentSeed: signed.seed, agentNamespace: signed.namespace } : {}),
  };
  const { saturation: warm } = await load.saturate(
    SELF,
    { ...target, seconds: 1, budget: signed ? 5_000 : 200_000 },
    [],
    loadCpuOf(o),
  );
  const {
    saturation,
    cpuUs: [cpuPerRequestUs],
  } = await load.saturate(
    SELF,
    {
      ...target,
      seconds: o.seconds,
      budget: signed ? Math.ceil(warm.rps * 2 * o.seconds) + 1000 : 100_000 * o.seconds,
    },
    [server.child.pid],
    loadCpuOf(o),
  );
  await load.stopChild(server.child);
  return { saturation, ...(cpuPerRequestUs !== undefined ? { cpuPerRequestUs } : {}) };
}

export async function runVerifierBench(options: VerifierBenchOptions = {}): Promise<VerifierBenchResult> {
  const o: Required<VerifierBenchOptions> = {
    seconds: 5,
    warmupSeconds: 3,
    concurrency: 32,
    redisUrl: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
    decisionLogs: true,
    compareExpress: false,
    workers: 1,
    quiet: false,
    separateCpus: false,
    sdkReference: "",
    ...options,
  };
  const say = (line: string) => (o.quiet ? undefined : console.log(line));
  // A module that is not the SDK fails here, not after ten minutes of benchmarks.
  if (o.sdkReference) await loadSdkReference(o.sdkReference);
  const serverCpu = o.separateCpus ? { cpu: SERVER_CPU } : {};
  const backend = defaultEd25519Backend();
  const seed = randomBytes(32);
  const raw = backend.importPublicKey(backend.publicKeyFromSeed(seed));
  const message = randomBytes(600);
  const signature = backend.sign(seed, message);
  // Measured at the start, before the verifier and after it; the median is the reference. One reading is at the
  // mercy of the machine's phase at that second (readings 30 s apart differed by 40 % here).
  const rawReadings = [opsPerSecond(() => backend.verify(raw, message, signature), 1)];

  const children: ChildProcess[] = [];
  const prefix = `bench:${randomBytes(4).toString("hex")}:`;
  const home = await mkdtemp(join(tmpdir(), "verifier-bench-"));
  const feed = await startControlPlane({ apiKey: SERVICE_KEY });
  try {
    say("bare node:http ...");
    const bare = await load.spawnListening([SELF, "--role=bare"], serverCpu);
    children.push(bare.child);
    const bareResult = await measureServer(bare.port, bare.child.pid, undefined, o);
    bare.child.kill();

    let expressResult: Saturated | undefined;
    if (o.compareExpress) {
      say("bare express ...");
      expressResult = await saturateRole(["--role=express"], serverCpu, o, children);
    }
    say("floor: node:http + one Ed25519 verify, then + one Redis SET NX ...");
    const floor = {
      verify: await saturateRole(["--role=floor"], serverCpu, o, children),
      verifyAndNonce: await saturateRole(
        ["--role=floor", `--redis=${o.redisUrl}`, `--prefix=${prefix}floor:`],
        serverCpu,
        o,
        children,
      ),
    };

    rawReadings.push(opsPerSecond(() => backend.verify(raw, message, signature), 1));
    say("verifier ...");
    await initIdentity({ namespace: "gateway-bench", homeDir: home });
    const agentNamespace = "bench-agent";
    const agent = identityFromSeed(agentNamespace, seed);
    feed.approve("bench", agent.namespace, agent.publicKey);
    const nodeArgs = process.env.BENCH_VERIFIER_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
    const verifier = await load.spawnListening([...nodeArgs, VERIFIER_MAIN], {
      ...serverCpu,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "",
        VERIFIER_ADDR: "127.0.0.1:0",
        REDIS_URL: o.redisUrl,
        REDIS_PREFIX: prefix,
        SIGILUM_REGISTRY_URL: feed.url,
        SIGILUM_SERVICE_API_KEY: SERVICE_KEY,
        GATEWAY_SIGILUM_HOME: home,
        GATEWAY_SIGILUM_NAMESPACE: "gateway-bench",
        GATEWAY_INTERNAL_SECRET: randomBytes(32).toString("hex"),
        GATEWAY_LOG_PROXY_REQUESTS: String(o.decisionLogs),
        GATEWAY_CLAIMS_CACHE_TTL_SECONDS: "300",
        VERIFIER_CLAIMS_PRELOAD_SERVICES: "bench",
        SIGILUM_ED25519_BACKEND: backend.name,
        VERIFIER_WORKERS: String(o.workers),
        LOG_LEVEL: "info",
      },
      marker: "verifier listening",
      listeners: o.workers,
    });
    children.push(verifier.child);
    const verifierResult = await measureServer(
      verifier.port,
      verifier.child.pid,
      { seed: seed.toString("base64"), namespace: agentNamespace },
      o,
    );
    await load.stopChild(verifier.child);
    let sdkReference: VerifierBenchResult["sdkReference"];
    if (o.sdkReference) {
      say(`reference Sigilum SDK verification server (${o.sdkReference}) ...`);
      const measured = await saturateRole(
        ["--role=sdk-reference", `--module=${o.sdkReference}`],
        serverCpu,
        o,
        children,
        { seed: seed.toString("base64"), namespace: agentNamespace },
      );
      sdkReference = { ...measured, module: o.sdkReference };
    }
    rawReadings.push(opsPerSecond(() => backend.verify(raw, message, signature), 1));
    const rawVerifiesPerSecond = [...rawReadings].sort((a, b) => a - b)[1] as number;

    const verifierToRawVerify = verifierResult.saturation.rps / rawVerifiesPerSecond;
    const perCore = verifierResult.cpuPerRequestUs ? 1e6 / verifierResult.cpuPerRequestUs : undefined;
    return {
      backend: backend.name,
      workers: o.workers,
      separateCpus: o.separateCpus,
      rawVerifiesPerSecond,
      rawVerifyReadings: rawReadings,
      bare: bareResult,
      ...(expressResult ? { express: expressResult } : {}),
      floor,
      verifier: verifierResult,
      ...(sdkReference ? { sdkReference } : {}),
      verifierToRawVerify,
      ...(perCore ? { verifierPerCoreCapacity: perCore } : {}),
      verifierToBare: verifierResult.saturation.rps / bareResult.saturation.rps,
      targets: { ratioMet: verifierToRawVerify >= 0.6, p99Met: verifierResult.half.p99Ms <= 5 },
    };
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill();
    await feed.close();
    await deletePrefix(prefix, o.redisUrl);
    await rm(home, { recursive: true, force: true });
  }
}

export function printVerifierBench(r: VerifierBenchResult): void {
  const ms = (n: number) => `${n.toFixed(2)} ms`;
  console.log(
    `\n== Verifier: ext_authz decisions (approved agent, cached certificate, Redis nonce; ${r.workers} worker${r.workers > 1 ? "s" : ""}${r.separateCpus ? "; servers on CPU 1, load generator on CPU 0" : ""}) ==`,
  );
  console.log(
    `  raw Ed25519 verify (${r.backend}, 1 core)   ${fmt(r.rawVerifiesPerSecond).padStart(9)} /s (median of ${r.rawVerifyReadings.map(fmt).join(", ")})`,
  );
  console.log(`  bare node:http 200                       ${fmt(r.bare.saturation.rps).padStart(9)} /s`);
  if (r.express) {
    console.log(
      `  bare express 200                         ${fmt(r.express.saturation.rps).padStart(9)} /s = ${ratio(r.express.saturation.rps, r.bare.saturation.rps)} of node:http`,
    );
  }
  console.log(
    `  verifier decisions                       ${fmt(r.verifier.saturation.rps).padStart(9)} /s = ${ratio(r.verifier.saturation.rps, r.rawVerifiesPerSecond)} of raw verify (target >= 60%), ${ratio(r.verifier.saturation.rps, r.bare.saturation.rps)} of bare node:http`,
  );
  console.log(
    `  verifier at half saturation (${fmt(r.verifier.half.rps)}/s)   p50 ${ms(r.verifier.half.p50Ms)}, p99 ${ms(r.verifier.half.p99Ms)} (target p99 <= 5 ms)`,
  );
  if (r.verifier.inside) {
    console.log(
      `    of which inside the verifier           p50 <= ${r.verifier.inside.p50AtMostMs} ms, p99 <= ${r.verifier.inside.p99AtMostMs} ms (decision histogram)` +
        (r.verifier.inside.gcMs !== undefined
          ? `; GC ${r.verifier.inside.gcMs.toFixed(0)} ms in ${r.verifier.half.requests} requests`
          : ""),
    );
  }
  console.log(
    `  bare node:http at half (${fmt(r.bare.half.rps)}/s)      p50 ${ms(r.bare.half.p50Ms)}, p99 ${ms(r.bare.half.p99Ms)}`,
  );
  if (r.verifierPerCoreCapacity && r.verifier.cpuPerRequestUs) {
    console.log(
      `  verifier CPU per decision                ${r.verifier.cpuPerRequestUs.toFixed(0).padStart(9)} us = ${fmt(r.verifierPerCoreCapacity)} decisions per core-second = ${ratio(r.verifierPerCoreCapacity, r.rawVerifiesPerSecond)} of raw verify`,
    );
  }
  if (r.bare.cpuPerRequestUs)
    console.log(
      `  bare node:http CPU per request           ${r.bare.cpuPerRequestUs.toFixed(1).padStart(9)} us`,
    );
  if (r.express?.cpuPerRequestUs)
    console.log(
      `  bare express CPU per request             ${r.express.cpuPerRequestUs.toFixed(1).padStart(9)} us`,
    );
  const floorLine = (label: string, f: Saturated) =>
    console.log(
      `  ${label.padEnd(40)} ${fmt(f.saturation.rps).padStart(9)} /s` +
        (f.cpuPerRequestUs
          ? `, CPU ${f.cpuPerRequestUs.toFixed(0)} us = ${ratio(1e6 / f.cpuPerRequestUs, r.rawVerifiesPerSecond)} of raw verify per core`
          : ""),
    );
  floorLine("floor: node:http + 1 verify", r.floor.verify);
  floorLine("floor: node:http + 1 verify + SET NX", r.floor.verifyAndNonce);
  if (r.sdkReference) {
    floorLine("reference SDK verifyHttpSignature", r.sdkReference);
    if (r.sdkReference.saturation.errors)
      console.log(`  !! ${r.sdkReference.saturation.errors} checks refused by the reference SDK`);
  }
  const errors = r.verifier.saturation.errors + r.verifier.half.errors;
  if (errors) console.log(`  !! ${errors} verifier requests were not allowed`);
}

if (import.meta.main) {
  const role = load.cliArg("role");
  if (role === "bare") load.serveBare("");
  else if (role === "floor") await roleFloor();
  else if (role === "express") await roleExpress();
  else if (role === "sdk-reference") await roleSdkReference();
  else if (role === "load") await load.serveLoadRole(buildChecks);
  else {
    const result = await runVerifierBench({
      compareExpress: !process.argv.includes("--no-express"),
      decisionLogs: !process.argv.includes("--no-logs"),
      workers: Number(load.cliArg("workers") ?? "1"),
      seconds: Number(load.cliArg("seconds") ?? "5"),
      separateCpus: process.argv.includes("--separate-cpus"),
      sdkReference: process.env.SIGILUM_SDK_REFERENCE ?? "",
    });
    printVerifierBench(result);
    process.exit(0);
  }
}
