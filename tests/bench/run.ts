// `npm run bench`: every benchmark in one run, so the ratios compare figures taken on the same machine state.
// Crypto first (in process), then the verifier against a bare server and the floor servers, then the proxy and the
// whole gateway, then usage delivery on the real control plane; last, each target's line with its reference and
// bench/results.json, bench/results.md and bench/chart.png.
import { mkdir, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { writeChart } from "./chart.ts";
import { printCryptoBench, runCryptoBench } from "./crypto-bench.ts";
import { tasksetAvailable } from "./load.ts";
import { printMcpBench, runMcpBench } from "./mcp-bench.ts";
import { printProxyBench, runProxyBench } from "./proxy-bench.ts";
import { type BenchResults, buildTargets, machineShape, markdownTable, printTargets } from "./targets.ts";
import { printUsageBench, runUsageBench } from "./usage-bench.ts";
import { printVerifierBench, runVerifierBench } from "./verifier-bench.ts";

const json = process.argv.includes("--json");
const started = Date.now();
const machine = machineShape();
const when = new Date().toISOString().replace(/\.\d+Z$/, "Z");

const crypto = runCryptoBench();
printCryptoBench(crypto);
// The p99 target is the verifier's latency: on two or more cores it gets a core of its own, away from the load.
const separateCpus = availableParallelism() >= 2 && (await tasksetAvailable());
// SIGILUM_SDK_REFERENCE=<module exporting the reference SDK's verifyHttpSignature>: that SDK measured as a reference.
const sdkReference = process.env.SIGILUM_SDK_REFERENCE ?? "";
const verifier = await runVerifierBench({ quiet: json, separateCpus, sdkReference });
printVerifierBench(verifier);
// Two workers only scale when the load generator has a core of its own: 3 CPUs or more.
const scale = availableParallelism() >= 3 ? await runVerifierBench({ quiet: json, workers: 2 }) : undefined;
if (scale) printVerifierBench(scale);
const proxy = await runProxyBench({ quiet: json });
printProxyBench(proxy);
const mcp = await runMcpBench();
printMcpBench(mcp);
const usage = await runUsageBench({ quiet: json });
printUsageBench(usage);

const results: BenchResults = { when, machine, verifier, proxy, usage, mcp, ...(scale ? { scale } : {}) };
const targets = buildTargets(results);
printTargets(results, targets);
const dir = fileURLToPath(new URL("../../bench/", import.meta.url));
await mkdir(dir, { recursive: true });
await writeFile(`${dir}results.json`, `${JSON.stringify({ ...results, crypto, targets }, null, 2)}\n`);
await writeFile(`${dir}results.md`, markdownTable(results, targets));
await writeChart(`${dir}chart.png`, results, targets);
console.log(`\nwrote bench/results.json, bench/results.md, bench/chart.png`);

console.log(`benchmarks done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
if (json) console.log(JSON.stringify({ crypto, verifier, proxy, mcp, usage, targets }, null, 2));
process.exit(0);
