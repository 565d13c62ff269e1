import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { abBurst, abSettings, abSide, runAb } from "./ab.ts";
import * as load from "./load.ts";
import { type BenchAgent, startBenchControlPlane, startProxy, startVerifier } from "./proxy-bench.ts";

/**
 * Paired A/B of two proxy builds or settings: both run side by side (envoy mode, or inline mode against one shared
 * verifier with MODE=inline) against one upstream and one Redis, and are saturated in alternating bursts, order reversed every round; each burst gives CPU per request
 * from /proc. The median of the per-round differences survives the phases of a shared machine, where one build
 * measured alone moves by ±50 % within an hour (docs/decisions.md, "Session of 2026-12-02").
 *
 *   A_MAIN=/path/to/old/services/proxy/src/main.ts B_MAIN=services/proxy/src/main.ts node tests/bench/proxy-ab.ts
 *   B_ENV='{"GATEWAY_LOG_PROXY_REQUESTS":"false"}' node tests/bench/proxy-ab.ts     # same build, one setting
 *
 * ROUNDS (default 8), SECONDS per burst (3), PIN=<cpu> runs every process on that CPU (taskset). In inline mode
 * the figures are the proxies' own CPU per request (the verifier's is printed beside them).
 */

const BENCH = fileURLToPath(new URL("./proxy-bench.ts", import.meta.url));
const THIS_PROXY = fileURLToPath(new URL("../../services/proxy/src/main.ts", import.meta.url));

const settings = abSettings("bench-ab", { GATEWAY_MASTER_KEY: randomBytes(24).toString("hex") });
const { cpu, env, secret } = settings;

const inline = process.env.MODE === "inline";
const upstream = await load.spawnListening([BENCH, "--role=upstream"], { cpu });
const home = await mkdtemp(join(tmpdir(), "proxy-ab-"));
const controlPlane = inline ? await startBenchControlPlane() : undefined;
const verifierStack = controlPlane ? await startVerifier({ env, controlPlane, home, cpu }) : undefined;
const start = (side: "A" | "B", createConnection: boolean) =>
  startProxy({
    ...abSide(settings, side, THIS_PROXY),
    upstreamPort: upstream.port,
    ...(verifierStack ? { verifierUrl: `http://127.0.0.1:${verifierStack.verifier.port}` } : {}),
    createConnection,
    cpu,
  });
const a = await start("A", true);
const b = await start("B", false);
const verifierPid = verifierStack?.verifier.child.pid;

const burst = async (p: load.Listening, s: number): Promise<load.Burst> => {
  const host = `127.0.0.1:${p.port}`;
  const spec = inline
    ? { port: p.port, kind: "inline", host, concurrency: 32, ...(verifierStack?.agent as BenchAgent) }
    : { port: p.port, kind: "envoy", host, concurrency: 32, secret };
  // Signed requests carry a nonce each: built up front, enough for the burst.
  const budget = inline ? Math.ceil(20_000 * s) : 10_000_000;
  const { rps, cpuUs } = await abBurst({ ...spec, seconds: s, budget }, [p.child.pid, verifierPid], cpu);
  const verifierUs = cpuUs[1];
  return {
    rps,
    cpuUs: cpuUs[0] ?? Number.NaN,
    ...(verifierUs === undefined ? {} : { note: `, verifier ${verifierUs.toFixed(1)} us` }),
  };
};

await runAb(settings, [a, b], burst, "request", async () => {
  for (const p of [a, b, upstream, ...(verifierStack ? [verifierStack.verifier] : [])])
    await load.stopChild(p.child);
  await controlPlane?.close();
  await rm(home, { recursive: true, force: true });
});
