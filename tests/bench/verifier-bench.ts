import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { defaultEd25519Backend } from "../../packages/shared/src/ed25519.ts";
import { signRequest } from "../../packages/shared/src/http-signatures.ts";
import { identityFromSeed, initIdentity } from "../../packages/shared/src/identity.ts";
import { startFeedServer } from "../../services/verifier/test/helpers/feed-server.ts";
import { deleteKeys } from "../../services/verifier/test/helpers/harness.ts";
import { fmt, opsPerSecond, ratio } from "./measure.ts";

/**
 * Verifier throughput and latency, each part in its own process: the verifier (services/verifier/src/main.ts,
 * real Redis, approved agent, cached certificate), a bare node:http server answering 200 (the ceiling of any
 * node:http service on this machine), optionally a bare express app, and a load generator (undici Pool) that sends
 * Envoy-shaped check requests. First a closed-loop saturation run, then an open-loop run at half that rate for
 * p50/p99 (latency counted from the scheduled send time, so a stall is not hidden).
 *
 * Run alone: `node tests/bench/verifier-bench.ts [--workers=N] [--seconds=S] [--no-express] [--no-logs]`
 * (tests/bench/run.ts calls runVerifierBench). Profile the verifier under this load with
 * `BENCH_VERIFIER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" node tests/bench/verifier-bench.ts`.
 */

const SELF = fileURLToPath(import.meta.url);
const VERIFIER_MAIN = fileURLToPath(new URL("../../services/verifier/src/main.ts", import.meta.url));
const SERVICE_KEY = "bench-service-key";
const TARGET_URL = "http://127.0.0.1:38100/proxy/bench/v1/items?limit=10";

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
}

export interface LoadResult {
  requests: number;
  errors: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
}

export interface VerifierBenchResult {
  backend: string;
  workers: number;
  rawVerifiesPerSecond: number;
  bare: { saturation: LoadResult; half: LoadResult; cpuPerRequestUs?: number };
  express?: { saturation: LoadResult; cpuPerRequestUs?: number };
  verifier: { saturation: LoadResult; half: LoadResult; cpuPerRequestUs?: number; inside?: InsideLatency };
  /** Decisions one verifier core sustains (1 / CPU time per decision): comparable to the raw one-core verify rate. */
  verifierPerCoreCapacity?: number;
  verifierToRawVerify: number;
  verifierToBare: number;
  targets: { ratioMet: boolean; p99Met: boolean };
}

// ---------------------------------------------------------------- child roles

async function roleBare(): Promise<void> {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.statusCode = 200;
      res.setHeader("content-length", "0");
      res.end();
    });
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, "127.0.0.1", () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
  });
}

async function roleExpress(): Promise<void> {
  const { default: express } = await import("express");
  const app = express();
  app.use((_req, res) => {
    res.status(200).end();
  });
  const server = app.listen(0, "127.0.0.1", () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
  });
  server.keepAliveTimeout = 65_000;
}

interface LoadSpec {
  port: number;
  mode: "saturate" | "rate";
  seconds: number;
  concurrency: number;
  rate: number;
  /** Requests available to a saturation run (signed ones are built up front). */
  budget: number;
  /** Base64 seed of the agent; absent = unsigned requests (bare servers). */
  agentSeed?: string;
  agentNamespace?: string;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** Serializes one Envoy-shaped check request; signed ones carry a fresh signature and nonce each. */
function buildRequests(spec: LoadSpec, count: number): Buffer[] {
  const url = new URL(TARGET_URL);
  const head = `GET /check${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\nx-forwarded-proto: http\r\nx-forwarded-for: 198.51.100.9\r\nx-envoy-auth-partial-body: false\r\ncontent-length: 0\r\n`;
  const agent = spec.agentSeed
    ? identityFromSeed(spec.agentNamespace as string, Buffer.from(spec.agentSeed, "base64"))
    : undefined;
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    // Envoy always sends x-request-id (generate_request_id), so the verifier never has to mint one.
    let text = `${head}x-request-id: ${randomBytes(16).toString("hex")}\r\n`;
    if (agent) {
      for (const [name, value] of Object.entries(
        signRequest(agent, { url: TARGET_URL, method: "GET" }).headers,
      )) {
        text += `${name}: ${value}\r\n`;
      }
    }
    out.push(Buffer.from(`${text}\r\n`, "latin1"));
  }
  return out;
}

/**
 * A wrk-like generator on raw sockets: pre-serialized requests, one in flight per connection (as Envoy's HTTP/1.1
 * pool), responses framed by content-length. Much lighter than an HTTP client library, which matters on a small
 * machine where the generator shares the cores with the server it measures.
 */
async function roleLoad(spec: LoadSpec): Promise<void> {
  const { connect } = await import("node:net");
  const budget = spec.mode === "rate" ? Math.ceil(spec.rate * spec.seconds) + 16 : spec.budget;
  const requests = spec.agentSeed ? buildRequests(spec, budget) : buildRequests(spec, 1);
  const requestAt = (i: number) => (spec.agentSeed ? (requests[i] as Buffer) : (requests[0] as Buffer));
  const latencies = new Float64Array(budget);
  let done = 0;
  let errors = 0;
  let next = 0;

  interface Conn {
    socket: import("node:net").Socket;
    buffer: Buffer;
    scheduledAt: number;
    busy: boolean;
  }
  const idle: Conn[] = [];
  const queue: { index: number; at: number }[] = [];
  let onSettled: (() => void) | undefined;

  const dispatch = (conn: Conn, index: number, at: number) => {
    conn.busy = true;
    conn.scheduledAt = at;
    conn.socket.write(requestAt(index));
  };
  const release = (conn: Conn) => {
    conn.busy = false;
    const waiting = queue.shift();
    if (waiting) dispatch(conn, waiting.index, waiting.at);
    else idle.push(conn);
  };
  const complete = (conn: Conn, status: number) => {
    if (done < latencies.length) latencies[done] = performance.now() - conn.scheduledAt;
    done++;
    if (status !== 200) errors++;
    if (mode === "saturate") {
      if (performance.now() < endAt && next < budget) dispatch(conn, next++, performance.now());
      else {
        conn.busy = false;
        if (!connections.some((c) => c.busy)) onSettled?.();
      }
    } else {
      release(conn);
      if (done === next && next >= plannedTotal) onSettled?.();
    }
  };
  const onData = (conn: Conn, chunk: Buffer) => {
    conn.buffer = conn.buffer.length ? Buffer.concat([conn.buffer, chunk]) : chunk;
    for (;;) {
      const end = conn.buffer.indexOf("\r\n\r\n");
      if (end === -1) return;
      const head = conn.buffer.toString("latin1", 0, end);
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? "0");
      if (conn.buffer.length < end + 4 + length) return;
      conn.buffer = conn.buffer.subarray(end + 4 + length);
      complete(conn, Number(head.slice(9, 12)));
    }
  };

  const mode = spec.mode;
  const connections: Conn[] = await Promise.all(
    Array.from(
      { length: spec.concurrency },
      () =>
        new Promise<Conn>((resolve, reject) => {
          const socket = connect(spec.port, "127.0.0.1", () => resolve(conn));
          socket.setNoDelay(true);
          const conn: Conn = { socket, buffer: Buffer.alloc(0), scheduledAt: 0, busy: false };
          socket.on("data", (chunk) => onData(conn, chunk));
          socket.on("error", reject);
        }),
    ),
  );
  const started = performance.now();
  const endAt = started + spec.seconds * 1000;
  let plannedTotal = Number.POSITIVE_INFINITY;
  const settled = new Promise<void>((resolve) => {
    onSettled = resolve;
  });
  if (mode === "saturate") {
    for (const conn of connections) if (next < budget) dispatch(conn, next++, performance.now());
  } else {
    idle.push(...connections);
    const interval = 1000 / spec.rate;
    plannedTotal = Math.min(budget, Math.floor((spec.seconds * 1000) / interval));
    const tick = () => {
      const now = performance.now();
      while (next < plannedTotal && started + next * interval <= now) {
        const at = started + next * interval;
        const conn = idle.pop();
        if (conn) dispatch(conn, next, at);
        else queue.push({ index: next, at });
        next++;
      }
      if (next < plannedTotal) setTimeout(tick, 0);
    };
    tick();
  }
  await settled;
  const elapsed = (performance.now() - started) / 1000;
  for (const conn of connections) conn.socket.destroy();
  const sorted = latencies.subarray(0, Math.min(done, latencies.length)).sort();
  const result: LoadResult = {
    requests: done,
    errors,
    rps: done / elapsed,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

// ---------------------------------------------------------------- orchestration

function spawnRole(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): { child: ChildProcess; firstLine: Promise<string> } {
  const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "inherit"] });
  const firstLine = new Promise<string>((resolve, reject) => {
    let buffer = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("utf8");
      const newline = buffer.indexOf("\n");
      if (newline !== -1) resolve(buffer.slice(0, newline));
    });
    child.once("exit", (code) => reject(new Error(`${args.join(" ")} exited with ${code}`)));
  });
  firstLine.catch(() => undefined);
  return { child, firstLine };
}

async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const { child, firstLine } = spawnRole([SELF, "--role=load", `--spec=${JSON.stringify(spec)}`]);
  try {
    return JSON.parse(await firstLine) as LoadResult;
  } finally {
    child.kill();
  }
}

async function startVerifierProcess(
  env: NodeJS.ProcessEnv,
  workers: number,
): Promise<{ child: ChildProcess; port: number }> {
  const nodeArgs = process.env.BENCH_VERIFIER_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, VERIFIER_MAIN], {
    env,
    stdio: ["ignore", "pipe", "inherit"],
  });
  let buffer = "";
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("verifier did not start")), 15_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("utf8");
      const matches = [...buffer.matchAll(/"port":(\d+)[^\n]*verifier listening/g)];
      if (matches.length >= workers) {
        clearTimeout(timer);
        buffer = "";
        resolve(Number(matches[0]?.[1]));
      }
      if (buffer.length > 1 << 20) buffer = buffer.slice(-4096);
    });
    child.once("exit", (code) => reject(new Error(`verifier exited with ${code}`)));
  });
  // Keep draining stdout (decision logs) so the verifier never blocks on a full pipe.
  child.stdout?.removeAllListeners("data");
  child.stdout?.resume();
  return { child, port };
}

/**
 * SIGTERM and wait for the exit (bounded), so a verifier run with BENCH_VERIFIER_NODE_ARGS="--cpu-prof ..." gets to
 * write its profile before the bench exits.
 */
async function stopChild(child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  await exited;
  clearTimeout(timer);
}

/** CPU seconds (user + system) used so far by a process and its children (cluster workers), from /proc (Linux). */
async function cpuSeconds(pid: number | undefined): Promise<number | undefined> {
  if (!pid) return undefined;
  const { readFile } = await import("node:fs/promises");
  const one = async (p: number) => {
    const stat = await readFile(`/proc/${p}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  };
  try {
    const children = (await readFile(`/proc/${pid}/task/${pid}/children`, "utf8").catch(() => ""))
      .split(" ")
      .filter(Boolean)
      .map(Number);
    const times = await Promise.all([pid, ...children].map(one));
    return times.reduce((a, b) => a + b, 0);
  } catch {
    return undefined;
  }
}

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
): Promise<{ saturation: LoadResult; half: LoadResult; cpuPerRequestUs?: number; inside?: InsideLatency }> {
  const common = {
    port,
    concurrency: o.concurrency,
    ...(signed ? { agentSeed: signed.seed, agentNamespace: signed.namespace } : {}),
  };
  // Long enough for the JIT to settle: in the first seconds under load TurboFan compiles on another thread, which
  // /proc counts as the server's CPU (~10 % of it in the verifier), though a long-running service never pays it.
  const warm = await runLoad({
    ...common,
    mode: "saturate",
    seconds: o.warmupSeconds,
    rate: 0,
    budget: signed ? 25_000 * o.warmupSeconds : 200_000 * o.warmupSeconds,
  });
  const budget = signed ? Math.min(300_000, Math.ceil(warm.rps * 2 * o.seconds) + 1000) : 100_000 * o.seconds;
  const cpuBefore = await cpuSeconds(pid);
  const saturation = await runLoad({ ...common, mode: "saturate", seconds: o.seconds, rate: 0, budget });
  const cpuAfter = await cpuSeconds(pid);
  const histogramBefore = signed ? await decisionHistogram(port) : undefined;
  const runtimeBefore = signed ? await runtimeFigures(port) : undefined;
  const half = await runLoad({
    ...common,
    concurrency: o.concurrency * 2,
    mode: "rate",
    seconds: o.seconds,
    rate: Math.max(1, Math.floor(saturation.rps / 2)),
    budget: 0,
  });
  const histogramAfter = signed ? await decisionHistogram(port) : undefined;
  const runtimeAfter = signed ? await runtimeFigures(port) : undefined;
  const inside =
    histogramBefore && histogramAfter ? insideLatency(histogramBefore, histogramAfter) : undefined;
  if (inside && runtimeAfter?.gcSeconds !== undefined && runtimeBefore?.gcSeconds !== undefined) {
    inside.gcMs = (runtimeAfter.gcSeconds - runtimeBefore.gcSeconds) * 1000;
  }
  const cpu = cpuBefore !== undefined && cpuAfter !== undefined ? cpuAfter - cpuBefore : undefined;
  return {
    saturation,
    half,
    ...(cpu ? { cpuPerRequestUs: (cpu / saturation.requests) * 1e6 } : {}),
    ...(inside ? { inside } : {}),
  };
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
    ...options,
  };
  const say = (line: string) => (o.quiet ? undefined : console.log(line));
  const backend = defaultEd25519Backend();
  const seed = randomBytes(32);
  const raw = backend.importPublicKey(backend.publicKeyFromSeed(seed));
  const message = randomBytes(600);
  const signature = backend.sign(seed, message);
  const rawVerifiesPerSecond = opsPerSecond(() => backend.verify(raw, message, signature), 1);

  const children: ChildProcess[] = [];
  const prefix = `bench:${randomBytes(4).toString("hex")}:`;
  const home = await mkdtemp(join(tmpdir(), "verifier-bench-"));
  const feed = await startFeedServer({ apiKey: SERVICE_KEY });
  try {
    say("bare node:http ...");
    const bare = spawnRole([SELF, "--role=bare"]);
    children.push(bare.child);
    const bareResult = await measureServer(
      JSON.parse(await bare.firstLine).port,
      bare.child.pid,
      undefined,
      o,
    );
    bare.child.kill();

    let expressResult: { saturation: LoadResult; cpuPerRequestUs?: number } | undefined;
    if (o.compareExpress) {
      say("bare express ...");
      const ex = spawnRole([SELF, "--role=express"]);
      children.push(ex.child);
      const port = JSON.parse(await ex.firstLine).port as number;
      await runLoad({
        port,
        concurrency: o.concurrency,
        mode: "saturate",
        seconds: 1,
        rate: 0,
        budget: 200_000,
      });
      const before = await cpuSeconds(ex.child.pid);
      const saturation = await runLoad({
        port,
        concurrency: o.concurrency,
        mode: "saturate",
        seconds: o.seconds,
        rate: 0,
        budget: 100_000 * o.seconds,
      });
      const cpu = (await cpuSeconds(ex.child.pid)) ?? 0;
      expressResult = {
        saturation,
        ...(before !== undefined ? { cpuPerRequestUs: ((cpu - before) / saturation.requests) * 1e6 } : {}),
      };
      ex.child.kill();
    }

    say("verifier ...");
    await initIdentity({ namespace: "gateway-bench", homeDir: home });
    const agentNamespace = "bench-agent";
    const agent = identityFromSeed(agentNamespace, seed);
    feed.approve("bench", agent.namespace, agent.publicKey);
    const verifier = await startVerifierProcess(
      {
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
      o.workers,
    );
    children.push(verifier.child);
    const verifierResult = await measureServer(
      verifier.port,
      verifier.child.pid,
      { seed: seed.toString("base64"), namespace: agentNamespace },
      o,
    );
    await stopChild(verifier.child);

    const verifierToRawVerify = verifierResult.saturation.rps / rawVerifiesPerSecond;
    const perCore = verifierResult.cpuPerRequestUs ? 1e6 / verifierResult.cpuPerRequestUs : undefined;
    return {
      backend: backend.name,
      workers: o.workers,
      rawVerifiesPerSecond,
      bare: bareResult,
      ...(expressResult ? { express: expressResult } : {}),
      verifier: verifierResult,
      verifierToRawVerify,
      ...(perCore ? { verifierPerCoreCapacity: perCore } : {}),
      verifierToBare: verifierResult.saturation.rps / bareResult.saturation.rps,
      targets: { ratioMet: verifierToRawVerify >= 0.6, p99Met: verifierResult.half.p99Ms <= 5 },
    };
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill();
    await feed.close();
    await deleteKeys(prefix, o.redisUrl);
    await rm(home, { recursive: true, force: true });
  }
}

export function printVerifierBench(r: VerifierBenchResult): void {
  const ms = (n: number) => `${n.toFixed(2)} ms`;
  console.log(
    `\n== Verifier: ext_authz decisions (approved agent, cached certificate, Redis nonce; ${r.workers} worker${r.workers > 1 ? "s" : ""}) ==`,
  );
  console.log(`  raw Ed25519 verify (${r.backend}, 1 core)   ${fmt(r.rawVerifiesPerSecond).padStart(9)} /s`);
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
  const errors = r.verifier.saturation.errors + r.verifier.half.errors;
  if (errors) console.log(`  !! ${errors} verifier requests were not allowed`);
}

if (import.meta.main) {
  const roleArg = process.argv.find((a) => a.startsWith("--role="))?.slice(7);
  if (roleArg === "bare") await roleBare();
  else if (roleArg === "express") await roleExpress();
  else if (roleArg === "load") {
    const spec = JSON.parse(process.argv.find((a) => a.startsWith("--spec="))?.slice(7) ?? "{}") as LoadSpec;
    await roleLoad(spec);
    process.exit(0);
  } else {
    const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
    const result = await runVerifierBench({
      compareExpress: !process.argv.includes("--no-express"),
      decisionLogs: !process.argv.includes("--no-logs"),
      workers: Number(arg("workers") ?? "1"),
      seconds: Number(arg("seconds") ?? "5"),
    });
    printVerifierBench(result);
    process.exit(0);
  }
}
