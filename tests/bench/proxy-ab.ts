import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { deletePrefix } from "@sigilum-gw/testkit/redis";
import * as load from "./load.ts";
import { startEnvoyProxy } from "./proxy-bench.ts";

/**
 * Paired A/B of two proxy builds or settings: both run side by side (envoy mode) against one upstream and one
 * Redis, and are saturated in alternating bursts, order reversed every round; each burst gives CPU per request
 * from /proc. The median of the per-round differences survives the phases of a shared machine, where one build
 * measured alone moves by ±50 % within an hour (docs/decisions.md, "Session of 2026-12-02").
 *
 *   A_MAIN=/path/to/old/services/proxy/src/main.ts B_MAIN=services/proxy/src/main.ts node tests/bench/proxy-ab.ts
 *   B_ENV='{"GATEWAY_LOG_PROXY_REQUESTS":"false"}' node tests/bench/proxy-ab.ts     # same build, one setting
 *
 * ROUNDS (default 8), SECONDS per burst (3), PIN=<cpu> runs every process on that CPU (taskset).
 */

const BENCH = fileURLToPath(new URL("./proxy-bench.ts", import.meta.url));
const THIS_PROXY = fileURLToPath(new URL("../../services/proxy/src/main.ts", import.meta.url));
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

const rounds = Number(process.env.ROUNDS ?? 8);
const seconds = Number(process.env.SECONDS ?? 3);
const cpu = process.env.PIN || undefined;
const secret = randomBytes(32).toString("hex");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const upstream = await load.spawnListening([BENCH, "--role=upstream"], { cpu });
const prefixes: string[] = [];
const start = async (main: string, extraEnv: string | undefined) => {
  const prefix = `bench-ab:${randomBytes(4).toString("hex")}:`;
  prefixes.push(prefix);
  return startEnvoyProxy({
    main,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      REDIS_URL,
      REDIS_PREFIX: prefix,
      GATEWAY_INTERNAL_SECRET: secret,
      GATEWAY_MASTER_KEY: randomBytes(24).toString("hex"),
      LOG_LEVEL: "info",
      ...(JSON.parse(extraEnv ?? "{}") as Record<string, string>),
    },
    upstreamPort: upstream.port,
    cpu,
  });
};
const a = await start(process.env.A_MAIN ?? THIS_PROXY, process.env.A_ENV);
const b = await start(process.env.B_MAIN ?? THIS_PROXY, process.env.B_ENV);

const burst = async (p: load.Listening, s: number) => {
  const spec = { port: p.port, kind: "envoy", host: `127.0.0.1:${p.port}`, concurrency: 32, secret };
  const { saturation, cpuUs } = await load.saturate(
    BENCH,
    { ...spec, seconds: s, budget: 10_000_000 },
    [p.child.pid],
    cpu,
  );
  return { rps: saturation.rps, cpuUs: cpuUs[0] ?? Number.NaN };
};

try {
  await burst(a, 2);
  await burst(b, 2);
  const diffs: number[] = [];
  const cpuA: number[] = [];
  const cpuB: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const first = round % 2 === 0 ? a : b;
    const results = new Map([[first, await burst(first, seconds)]]);
    const second = first === a ? b : a;
    results.set(second, await burst(second, seconds));
    const ra = results.get(a) as { rps: number; cpuUs: number };
    const rb = results.get(b) as { rps: number; cpuUs: number };
    cpuA.push(ra.cpuUs);
    cpuB.push(rb.cpuUs);
    diffs.push(rb.cpuUs - ra.cpuUs);
    console.log(
      `round ${round}: A ${ra.cpuUs.toFixed(1)} us (${Math.round(ra.rps)}/s)  B ${rb.cpuUs.toFixed(1)} us (${Math.round(rb.rps)}/s)  B-A ${(rb.cpuUs - ra.cpuUs).toFixed(1)}`,
    );
  }
  console.log(
    `CPU per request: median A ${median(cpuA).toFixed(1)} us, B ${median(cpuB).toFixed(1)} us; median(B-A) ${median(diffs).toFixed(1)} us; B lower in ${diffs.filter((d) => d < 0).length} of ${rounds} rounds`,
  );
} finally {
  for (const p of [a, b, upstream]) await load.stopChild(p.child);
  for (const prefix of prefixes) await deletePrefix(prefix, REDIS_URL);
}
process.exit(0);
