// `npm run bench`: every benchmark in one run, so the ratios compare figures taken on the same machine state.
// Crypto first (in process), then the verifier against a bare server, then the proxy and the whole gateway.
import { availableParallelism } from "node:os";
import { printCryptoBench, runCryptoBench } from "./crypto-bench.ts";
import { tasksetAvailable } from "./load.ts";
import { printMcpBench, runMcpBench } from "./mcp-bench.ts";
import { printProxyBench, runProxyBench } from "./proxy-bench.ts";
import { printVerifierBench, runVerifierBench } from "./verifier-bench.ts";

const json = process.argv.includes("--json");
const started = Date.now();

const crypto = runCryptoBench();
printCryptoBench(crypto);
// The p99 target is the verifier's latency: on two or more cores it gets a core of its own, away from the load.
const separateCpus = availableParallelism() >= 2 && (await tasksetAvailable());
const verifier = await runVerifierBench({ quiet: json, separateCpus });
printVerifierBench(verifier);
const proxy = await runProxyBench({ quiet: json });
printProxyBench(proxy);
const mcp = await runMcpBench();
printMcpBench(mcp);

console.log(`\nbenchmarks done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
if (json) console.log(JSON.stringify({ crypto, verifier, proxy, mcp }, null, 2));
process.exit(0);
