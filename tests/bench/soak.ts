// `npm run soak`: the whole gateway as real processes (control plane, verifier, proxy in inline mode, usage worker,
// own Redis server, PostgreSQL), agents connecting to the proxy as with `npm start`, under steady signed traffic at a
// share of its measured saturation for a long time. Nothing of the harness stands in the request path (no relays:
// in the harness's process they, not the gateway, saturated), and the traffic is signed and sent from a thread of
// its own (soak-load.ts). Reports errors, latency, every answered request counted as a delivered usage event, and
// for each service its RSS over time (slope of a least-squares line over the second half, after warm-up) and its
// event-loop delay p99 (from /metrics; for the control plane, loop-delay-probe.ts runs inside it).
//
//   SOAK_MINUTES=10 (default) SOAK_SHARE=0.7 (default) npm run soak
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { type FaultStack, type ServiceName, startFaultStack } from "../faults/harness/stack.ts";
import type { LoadProgress, LoadResult, LoadRun } from "./load.ts";
import type { SoakLoadJob, SoakLoadMessage } from "./soak-load.ts";
import { machineShape } from "./targets.ts";

const minutes = Number(process.env.SOAK_MINUTES ?? 10);
const share = Number(process.env.SOAK_SHARE ?? 0.7);
const SERVICES: ServiceName[] = ["control-plane", "verifier-0", "proxy-0", "usage-worker"];
const SAMPLE_MS = 10_000;

interface Sample {
  atS: number;
  rssMb: Record<string, number>;
  loopP99Ms: Record<string, number>;
}

async function rssMb(pid: number | undefined): Promise<number> {
  if (!pid) return Number.NaN;
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return kb ? Number(kb) / 1024 : Number.NaN;
}

/**
 * The event-loop delay p99 since the last reading: prom-client's gauge from /metrics (it resets its histogram on each
 * scrape), or for the control plane (no /metrics) what loop-delay-probe.ts wrote to its file over the last interval.
 */
async function loopP99Ms(source: string | undefined): Promise<number> {
  if (!source) return Number.NaN;
  if (!source.startsWith("http"))
    return Number((await readFile(source, "utf8").catch(() => "")).trim() || Number.NaN);
  const url = source;
  try {
    const text = await (await fetch(url, { signal: AbortSignal.timeout(5000) })).text();
    const value = /^nodejs_eventloop_lag_p99_seconds(?:\{[^}]*\})? ([0-9.e+-]+)$/m.exec(text)?.[1];
    return value ? Number(value) * 1000 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** MB per minute of a least-squares line through (seconds, MB). */
function slopeMbPerMin(points: [number, number][]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const sxy = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  const sxx = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  return (sxy / sxx) * 60;
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? 0;

/** Runs `run` in a soak-load thread, `onProgress` called every second; resolves with what it measured. */
function runTraffic(
  stack: FaultStack,
  run: Omit<LoadRun, "port">,
  pathPrefix: string,
  onProgress: (progress: LoadProgress) => void = () => {},
): Promise<LoadResult> {
  const gateway = new URL(stack.url("proxy-0"));
  const job: SoakLoadJob = {
    run: { ...run, port: Number(gateway.port) },
    identity: stack.agentIdentity,
    host: gateway.host,
    pathPrefix,
  };
  const worker = new Worker(new URL("./soak-load.ts", import.meta.url), { workerData: job });
  return new Promise((resolve, reject) => {
    worker.on("message", (message: SoakLoadMessage) => {
      if (message.kind === "progress") onProgress(message.progress);
      else resolve(message.result);
    });
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`soak load thread exited (${code}) before its result`)));
  });
}

const machine = machineShape();
console.log(`soak: starting the gateway (${machine.cpus} CPUs, load average ${machine.load1} now) ...`);
const probeDir = await mkdtemp(join(tmpdir(), "soak-"));
const controlPlaneLoop = join(probeDir, "control-plane-loop-p99");
const stack = await startFaultStack({
  verifiers: 1,
  proxies: 1,
  direct: true,
  controlPlaneEnv: {
    NODE_OPTIONS: `--import=${fileURLToPath(new URL("./loop-delay-probe.ts", import.meta.url))}`,
    LOOP_PROBE_FILE: controlPlaneLoop,
    LOOP_PROBE_INTERVAL_MS: String(SAMPLE_MS),
  },
});
try {
  // Closed loop, 16 connections (as Envoy's pool): warm-up, then the saturation the soak takes its share of.
  const closedLoop = (seconds: number) =>
    runTraffic(
      stack,
      { mode: "saturate", seconds, concurrency: 16, rate: 0, budget: seconds * 10_000 },
      `/proxy/${stack.service}/v1/saturate`,
    );
  const warmUp = await closedLoop(5);
  const saturation = await closedLoop(15);
  const saturated = saturation.rps;
  const rate = saturated * share;
  console.log(
    `soak: saturation ${saturated.toFixed(0)} req/s (16 in flight); ${minutes} min at ${(share * 100).toFixed(0)} % = ${rate.toFixed(0)} req/s`,
  );

  const started = performance.now();
  const durationMs = minutes * 60_000;
  const samples: Sample[] = [];
  let progress: LoadProgress = { scheduled: 0, answered: 0, failed: 0, inFlight: 0 };
  let maxInFlight = 0;
  const loopSources: Record<string, string | undefined> = {
    "control-plane": controlPlaneLoop,
    "verifier-0": stack.metricsUrl("verifier-0"),
    "proxy-0": stack.metricsUrl("proxy-0"),
    "usage-worker": stack.metricsUrl("usage-worker"),
  };
  const sampler = (async () => {
    while (performance.now() - started < durationMs) {
      const sample: Sample = { atS: (performance.now() - started) / 1000, rssMb: {}, loopP99Ms: {} };
      for (const name of SERVICES) {
        sample.rssMb[name] = await rssMb(stack.pid(name));
        sample.loopP99Ms[name] = await loopP99Ms(loopSources[name]);
      }
      samples.push(sample);
      const done = ((performance.now() - started) / durationMs) * 100;
      console.log(
        `soak: ${done.toFixed(0).padStart(3)} %  ${progress.scheduled} sent, ${progress.failed} failed, in flight ${progress.inFlight}  RSS ${SERVICES.map((s) => `${s} ${sample.rssMb[s]?.toFixed(0)}`).join(" ")} MB`,
      );
      await sleep(SAMPLE_MS);
    }
  })();
  // Open loop: requests leave on schedule whatever the answers do, and latency counts from the scheduled time (a
  // closed loop would hide a slowdown). 64 connections: a backlog queues in the generator, as in Envoy's pool.
  const soak = await runTraffic(
    stack,
    { mode: "rate", seconds: minutes * 60, concurrency: 64, rate, budget: 0 },
    `/proxy/${stack.service}/v1/soak`,
    (p) => {
      progress = p;
      maxInFlight = Math.max(maxInFlight, p.inFlight);
    },
  );
  await sampler;

  // Every answered request is a usage event (counted, not sampled): all of them must reach the control plane.
  const answered = [warmUp, saturation, soak].reduce(
    (sum, run) => sum + run.requests - (run.statuses.lost ?? 0),
    0,
  );
  const deliveredBy = performance.now() + 180_000;
  let delivered = 0;
  while (performance.now() < deliveredBy) {
    delivered = Object.values(await stack.usageByStatus()).reduce((a, b) => a + b, 0);
    if (delivered >= answered) break;
    await sleep(1000);
  }

  const secondHalf = samples.filter((s) => s.atS >= (minutes * 60) / 2);
  const services = Object.fromEntries(
    SERVICES.map((name) => {
      const rss = samples.map((s) => s.rssMb[name] ?? Number.NaN);
      const loops = samples.map((s) => s.loopP99Ms[name] ?? Number.NaN).filter((x) => Number.isFinite(x));
      return [
        name,
        {
          rssStartMb: rss[0],
          rssEndMb: rss.at(-1),
          rssSlopeMbPerMin: slopeMbPerMin(secondHalf.map((s) => [s.atS, s.rssMb[name] ?? Number.NaN])),
          eventLoopP99MaxMs: loops.length ? Math.max(...loops) : undefined,
          eventLoopP99MedianMs: loops.length
            ? quantile(
                [...loops].sort((a, b) => a - b),
                0.5,
              )
            : undefined,
        },
      ];
    }),
  );
  const failures = Object.fromEntries(Object.entries(soak.statuses).filter(([status]) => status !== "200"));
  const report = {
    when: new Date().toISOString(),
    machine,
    minutes,
    share,
    saturationRps: saturated,
    targetRps: rate,
    sent: soak.requests,
    errors: soak.errors,
    failures,
    latencyMs: { p50: soak.p50Ms, p99: soak.p99Ms, max: soak.maxMs },
    usage: { answered, delivered },
    maxInFlight,
    services,
    samples,
  };
  console.log(
    `\n== Soak: ${minutes} min at ${(share * 100).toFixed(0)} % of saturation (${rate.toFixed(0)} req/s) ==`,
  );
  console.log(
    `  requests ${soak.requests}, errors ${soak.errors}${soak.errors ? ` ${JSON.stringify(failures)}` : ""}; latency p50 ${report.latencyMs.p50.toFixed(1)} ms, p99 ${report.latencyMs.p99.toFixed(1)} ms, max ${report.latencyMs.max?.toFixed(0)} ms`,
  );
  console.log(
    `  usage events delivered ${delivered} of ${answered} answered requests (and the harness's own calls)`,
  );
  for (const [name, s] of Object.entries(services)) {
    console.log(
      `  ${name.padEnd(14)} RSS ${s.rssStartMb?.toFixed(0)} -> ${s.rssEndMb?.toFixed(0)} MB, slope ${s.rssSlopeMbPerMin.toFixed(2)} MB/min (second half)` +
        `; event-loop delay p99 ${s.eventLoopP99MedianMs === undefined ? "n/a" : `median ${s.eventLoopP99MedianMs.toFixed(1)} ms, max ${s.eventLoopP99MaxMs?.toFixed(1)} ms`}`,
    );
  }
  const out = fileURLToPath(new URL("../../bench/soak.json", import.meta.url));
  await mkdir(fileURLToPath(new URL("../../bench/", import.meta.url)), { recursive: true });
  await writeFile(out, `${JSON.stringify(report, null, 2)}\n`);
  console.log("wrote bench/soak.json");
} finally {
  await stack.stop();
  await rm(probeDir, { recursive: true, force: true });
}
process.exit(0);
