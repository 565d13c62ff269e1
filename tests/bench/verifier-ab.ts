import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { deletePrefix } from "@sigilum-gw/testkit/redis";
import * as load from "./load.ts";
import { type BenchAgent, startBenchControlPlane, startVerifier } from "./proxy-bench.ts";

/**
 * Paired A/B of two verifier builds or settings, as proxy-ab.ts does for the proxy: both run side by side on one
 * Redis and one control plane (each with its own approved agent), and are saturated with signed Envoy-shaped
 * check requests in alternating bursts, order reversed every round; each burst gives CPU per decision from /proc.
 * The median of the per-round differences survives the phases of a shared machine.
 *
 *   A_MAIN=/path/to/old/services/verifier/src/main.ts node tests/bench/verifier-ab.ts
 *   B_ENV='{"GATEWAY_LOG_PROXY_REQUESTS":"false"}' node tests/bench/verifier-ab.ts     # same build, one setting
 *
 * ROUNDS (default 8), SECONDS per burst (3), PIN=<cpu> runs every process on that CPU (taskset).
 */

const BENCH = fileURLToPath(new URL("./proxy-bench.ts", import.meta.url));
const THIS_VERIFIER = fileURLToPath(new URL("../../services/verifier/src/main.ts", import.meta.url));
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

const rounds = Number(process.env.ROUNDS ?? 8);
const seconds = Number(process.env.SECONDS ?? 3);
const cpu = process.env.PIN || undefined;

const prefix = `bench-vab:${randomBytes(4).toString("hex")}:`;
const env = {
  PATH: process.env.PATH ?? "",
  HOME: process.env.HOME ?? "",
  REDIS_URL,
  REDIS_PREFIX: prefix,
  GATEWAY_INTERNAL_SECRET: randomBytes(32).toString("hex"),
  LOG_LEVEL: "info",
  GATEWAY_LOG_PROXY_REQUESTS: "true",
};
const homes = [await mkdtemp(join(tmpdir(), "verifier-ab-")), await mkdtemp(join(tmpdir(), "verifier-ab-"))];
const controlPlane = await startBenchControlPlane();
const start = (main: string, extraEnv: string | undefined, home: string) =>
  startVerifier({
    main,
    env: { ...env, ...(JSON.parse(extraEnv ?? "{}") as Record<string, string>) },
    controlPlane,
    home,
    cpu,
  });
const a = await start(process.env.A_MAIN ?? THIS_VERIFIER, process.env.A_ENV, homes[0] as string);
const b = await start(process.env.B_MAIN ?? THIS_VERIFIER, process.env.B_ENV, homes[1] as string);

const burst = async (v: { verifier: load.Listening; agent: BenchAgent }, s: number): Promise<load.Burst> => {
  const host = "127.0.0.1:38100";
  const spec = { port: v.verifier.port, kind: "check", host, concurrency: 32, ...v.agent };
  // Signed requests carry a nonce each: built up front, enough for the burst.
  const { saturation, cpuUs } = await load.saturate(
    BENCH,
    { ...spec, seconds: s, budget: Math.ceil(25_000 * s) },
    [v.verifier.child.pid],
    cpu,
  );
  if (saturation.errors) console.log(`  !! ${saturation.errors} non-200 answers`);
  return { rps: saturation.rps, cpuUs: cpuUs[0] ?? Number.NaN };
};

try {
  await load.pairedRounds(a, b, burst, { rounds, seconds, unit: "decision" });
} finally {
  for (const v of [a, b]) await load.stopChild(v.verifier.child);
  await controlPlane.close();
  await deletePrefix(prefix, REDIS_URL);
  for (const home of homes) await rm(home, { recursive: true, force: true });
}
process.exit(0);
