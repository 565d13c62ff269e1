import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { abBurst, abSettings, abSide, runAb } from "./ab.ts";
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

const THIS_VERIFIER = fileURLToPath(new URL("../../services/verifier/src/main.ts", import.meta.url));

const settings = abSettings("bench-vab", { GATEWAY_LOG_PROXY_REQUESTS: "true" });
const { cpu } = settings;
const homes = [await mkdtemp(join(tmpdir(), "verifier-ab-")), await mkdtemp(join(tmpdir(), "verifier-ab-"))];
const controlPlane = await startBenchControlPlane();
const start = (side: "A" | "B", home: string) =>
  startVerifier({ ...abSide(settings, side, THIS_VERIFIER), controlPlane, home, cpu });
const a = await start("A", homes[0] as string);
const b = await start("B", homes[1] as string);

const burst = async (v: { verifier: load.Listening; agent: BenchAgent }, s: number): Promise<load.Burst> => {
  const host = "127.0.0.1:38100";
  const spec = { port: v.verifier.port, kind: "check", host, concurrency: 32, ...v.agent };
  // Signed requests carry a nonce each: built up front, enough for the burst.
  const { rps, cpuUs } = await abBurst(
    { ...spec, seconds: s, budget: Math.ceil(25_000 * s) },
    [v.verifier.child.pid],
    cpu,
  );
  return { rps, cpuUs: cpuUs[0] ?? Number.NaN };
};

await runAb(settings, [a, b], burst, "decision", async () => {
  for (const v of [a, b]) await load.stopChild(v.verifier.child);
  await controlPlane.close();
  for (const home of homes) await rm(home, { recursive: true, force: true });
});
