import { availableParallelism, cpus } from "node:os";
import type { McpEraFigures } from "./mcp-bench.ts";
import type { ProxyBenchResult } from "./proxy-bench.ts";
import type { UsageBenchResult } from "./usage-bench.ts";
import type { VerifierBenchResult } from "./verifier-bench.ts";

/**
 * The performance targets, each a ratio to a reference measured in the same run (docs/benchmarks.md): what was
 * measured, the reference beside it, the limit and whether it was met. `met` is undefined when a part could not be
 * measured on this machine (the line says why).
 */

export interface Target {
  id: string;
  name: string;
  measured: number | undefined;
  reference: number | undefined;
  unit: string;
  referenceName: string;
  /** measured / reference */
  ratio: number | undefined;
  comparison: "<=" | ">=";
  /** A ratio, or with `absolute` a figure in `unit` (the issue's own budget; the reference is then context). */
  limit: number;
  absolute?: boolean;
  met: boolean | undefined;
  note?: string;
}

export interface BenchResults {
  when: string;
  machine: { cpus: number; model: string; load1: number | undefined; node: string };
  verifier: VerifierBenchResult;
  proxy: ProxyBenchResult;
  usage: UsageBenchResult;
  /** MCP through the gateway vs the MCP server directly, per protocol era. */
  mcp?: McpEraFigures[];
  /** The verifier bench again with VERIFIER_WORKERS=2 (only on 3 or more CPUs: the load generator needs its own). */
  scale?: VerifierBenchResult;
}

function target(t: Omit<Target, "ratio" | "met"> & { ratio?: number; met?: boolean | undefined }): Target {
  const ratio = t.ratio ?? (t.measured !== undefined && t.reference ? t.measured / t.reference : undefined);
  const judged = t.absolute ? t.measured : ratio;
  const met =
    judged === undefined ? undefined : t.comparison === "<=" ? judged <= t.limit : judged >= t.limit;
  return { ...t, ratio, met: t.met ?? met };
}

const ERA_NAMES: Record<McpEraFigures["era"], string> = {
  stateful: "stateful 2025-11-25",
  stateless: "stateless 2026-07-28",
};

/** The issue's MCP targets, per era: cached `tools` listing p50 ≤ 2 ms; added tool-call p50 ≤ 2 ms vs direct. */
export function mcpTargets(figures: readonly McpEraFigures[]): Target[] {
  const withinTwoMs = (
    t: Pick<Target, "id" | "name" | "measured" | "reference" | "referenceName" | "note">,
  ) => target({ ...t, unit: "ms", comparison: "<=", limit: 2, absolute: true });
  return figures.flatMap((f) => [
    withinTwoMs({
      id: `mcp-list-${f.era}`,
      name: `MCP cached tools listing p50 (${ERA_NAMES[f.era]})`,
      measured: f.gatewayCachedListP50Ms,
      reference: f.directListP50Ms,
      referenceName: "tools/list at the server directly",
      note: `p99 ${f.gatewayCachedListP99Ms.toFixed(2)} ms, ${Math.round(f.gatewayCachedListCpuUs)} us CPU`,
    }),
    withinTwoMs({
      id: `mcp-call-${f.era}`,
      name: `MCP tool call added p50 (${ERA_NAMES[f.era]})`,
      measured: f.addedCallP50Ms,
      reference: f.directCallP50Ms,
      referenceName: "the same call at the server directly",
      note: `gateway ${f.gatewayCallP50Ms.toFixed(2)} ms p50, ${Math.round(f.addedCallCpuUs)} us CPU added`,
    }),
  ]);
}

export function machineShape(): BenchResults["machine"] {
  const load1 = (() => {
    try {
      return Number(
        (process.getBuiltinModule("node:fs") as typeof import("node:fs"))
          .readFileSync("/proc/loadavg", "utf8")
          .split(" ")[0],
      );
    } catch {
      return undefined;
    }
  })();
  return {
    cpus: availableParallelism(),
    model: cpus()[0]?.model ?? "unknown",
    load1,
    node: process.version,
  };
}

export function buildTargets(r: BenchResults): Target[] {
  const v = r.verifier;
  const p = r.proxy;
  const pinned = p.oneCore;
  const forwarding = pinned ?? p;
  const where = pinned ? "one pinned core" : "unpinned";
  const gatewayCpu =
    p.gateway?.proxyCpuUs !== undefined && p.gateway.verifierCpuUs !== undefined
      ? p.gateway.proxyCpuUs + p.gateway.verifierCpuUs
      : undefined;
  const partsCpu =
    p.verifier?.cpuUs !== undefined && p.proxy.cpuUs !== undefined
      ? p.verifier.cpuUs + p.proxy.cpuUs
      : undefined;
  const targets: Target[] = [
    target({
      id: "verifier-cpu",
      name: "verifier CPU per decision",
      measured: v.verifier.cpuPerRequestUs,
      reference: v.floor.verifyAndNonce.cpuPerRequestUs,
      unit: "us",
      referenceName: "floor server (node:http + 1 verify + 1 SET NX)",
      comparison: "<=",
      limit: 1.2,
    }),
    target({
      id: "verifier-p99",
      name: "verifier p99 at half its saturation",
      measured: v.verifier.half.p99Ms,
      reference: v.bare.half.p99Ms,
      unit: "ms",
      referenceName: "bare node:http p99 at half its own saturation",
      comparison: "<=",
      limit: 2,
    }),
    target({
      id: "proxy-cpu",
      name: `proxy alone CPU per request (${where})`,
      measured: forwarding.proxy.cpuUs,
      reference: forwarding.engines.undici.cpuUs,
      unit: "us",
      referenceName: "bare undici forwarder",
      comparison: "<=",
      limit: 1.6,
    }),
    target({
      id: "gateway-cpu",
      name: "whole gateway (inline) CPU per request",
      measured: gatewayCpu,
      reference: partsCpu,
      unit: "us",
      referenceName: "verifier alone + proxy alone",
      comparison: "<=",
      limit: 1.1,
    }),
    target({
      id: "usage-cpu",
      name: "usage CPU per delivered event (worker + control plane)",
      measured: r.usage.totalCpuUsPerEvent,
      reference: p.proxy.cpuUs,
      unit: "us",
      referenceName: "proxy alone CPU per request",
      comparison: "<=",
      limit: 0.1,
      note: `worker ${r.usage.workerCpuUsPerEvent.toFixed(1)} us, control plane ${r.usage.controlPlaneCpuUsPerEvent.toFixed(1)} us; PostgreSQL ${r.usage.postgresCpuUsPerEvent === undefined ? "not measured" : `${r.usage.postgresCpuUsPerEvent.toFixed(1)} us more`}, not counted`,
    }),
    target({
      id: "usage-rate",
      name: "usage events delivered per second",
      measured: r.usage.eventsPerSecond,
      reference: p.gateway?.saturation.rps,
      unit: "/s",
      referenceName: "whole gateway saturation (requests/s)",
      comparison: ">=",
      limit: 1,
      note: "the control plane keeps up when it stores events at least as fast as the gateway forwards",
    }),
    target({
      id: "verifier-scale",
      name: "VERIFIER_WORKERS=2 throughput",
      measured: r.scale?.verifier.saturation.rps,
      reference: r.scale ? v.verifier.saturation.rps : undefined,
      unit: "/s",
      referenceName: "one worker",
      comparison: ">=",
      limit: 1.8,
      note: r.scale
        ? `CPU per decision ${r.scale.verifier.cpuPerRequestUs?.toFixed(0)} us with 2 workers vs ${v.verifier.cpuPerRequestUs?.toFixed(0)} us with 1`
        : `not measurable here: ${r.machine.cpus} CPUs, and the target needs two for the workers plus one for the load generator`,
    }),
    target({
      id: "hpm-vs-undici",
      name: "reference: http-proxy-middleware throughput",
      measured: p.engines.httpProxyMiddleware.saturation.rps,
      reference: p.engines.undici.saturation.rps,
      unit: "/s",
      referenceName: "our undici forwarder",
      comparison: "<=",
      limit: Number.POSITIVE_INFINITY,
      met: true,
      note: "reference point, no limit",
    }),
    sdkReferenceTarget(v),
    target({
      id: "durable-usage",
      name: "reference: proxy alone with durable usage",
      measured: p.durableUsage?.durable.cpuUs,
      reference: p.durableUsage?.buffered.cpuUs,
      unit: "us",
      referenceName: "buffered (default), paired rounds",
      comparison: "<=",
      limit: Number.POSITIVE_INFINITY,
      note: p.durableUsage
        ? `CPU per request, median difference ${p.durableUsage.cpuDiffUs.toFixed(0)} us (durable cheaper in ${p.durableUsage.durableCheaperRounds} of ${p.durableUsage.rounds} rounds); p50 unloaded ${p.durableUsage.durable.p50UnloadedMs.toFixed(2)} vs ${p.durableUsage.buffered.p50UnloadedMs.toFixed(2)} ms; the price of "none lost on a proxy crash", no limit`
        : "not measured",
    }),
    ...mcpTargets(r.mcp ?? []),
  ];
  return targets;
}

/**
 * Our verifier's decisions per second against the reference Sigilum SDK's `verifyHttpSignature` in a node:http
 * server, same signed checks (SIGILUM_SDK_REFERENCE; the SDK is not on the npm registry and none of its code is in
 * this repository, so the module is built outside it: docs/benchmarks.md).
 */
function sdkReferenceTarget(v: VerifierBenchResult): Target {
  const sdk = v.sdkReference;
  const refused = sdk?.saturation.errors ?? 0;
  const cpu =
    sdk?.cpuPerRequestUs && v.verifier.cpuPerRequestUs
      ? `; CPU per check ${sdk.cpuPerRequestUs.toFixed(0)} us vs ours ${v.verifier.cpuPerRequestUs.toFixed(0)} us = ${(sdk.cpuPerRequestUs / v.verifier.cpuPerRequestUs).toFixed(1)}x`
      : "";
  return target({
    id: "reference-sdk",
    name: "verifier decisions vs the reference Sigilum SDK",
    measured: sdk && !refused ? v.verifier.saturation.rps : undefined,
    reference: sdk && !refused ? sdk.saturation.rps : undefined,
    unit: "/s",
    referenceName: "SDK verifyHttpSignature in node:http",
    comparison: ">=",
    limit: 15,
    note: !sdk
      ? "to measure it, set SIGILUM_SDK_REFERENCE=/path/to/module.mjs exporting the SDK's verifyHttpSignature (docs/benchmarks.md)"
      : refused
        ? `the SDK refused ${refused} of ${sdk.saturation.requests} checks (is ${sdk.module} the SDK?)`
        : `${sdk.module}${cpu}`,
  });
}

const num = (x: number | undefined, unit: string) =>
  x === undefined
    ? "-"
    : `${x >= 100 ? Math.round(x).toLocaleString("en-US") : x.toFixed(x >= 10 ? 1 : 2)} ${unit}`;

export function verdict(t: Target): string {
  if (!Number.isFinite(t.limit)) return "reference";
  return t.met === undefined ? "not measured" : t.met ? "MET" : "MISSED";
}

function limitText(t: Target): string {
  return t.absolute ? `${t.comparison} ${t.limit} ${t.unit}` : `${t.comparison} ${t.limit}x`;
}

export function targetLine(t: Target): string {
  const limit = Number.isFinite(t.limit) ? ` (target ${limitText(t)})` : "";
  const ratio = t.ratio === undefined || t.absolute ? "" : ` = ${t.ratio.toFixed(2)}x`;
  return `  ${t.name.padEnd(56)} ${num(t.measured, t.unit).padStart(11)} vs ${num(t.reference, t.unit).padStart(11)} ${t.referenceName}${ratio}${limit} -> ${verdict(t)}${t.note ? `  [${t.note}]` : ""}`;
}

export function printTargets(r: BenchResults, targets: Target[]): void {
  const m = r.machine;
  console.log(
    `\n== Targets (each a ratio to a reference measured in this run; ${m.cpus} CPUs ${m.model}, load average ${m.load1 ?? "?"} at the start, Node ${m.node}) ==`,
  );
  for (const t of targets) console.log(targetLine(t));
}

export function markdownTable(r: BenchResults, targets: Target[]): string {
  const m = r.machine;
  const rows = targets.map(
    (t) =>
      `| ${t.name} | ${num(t.measured, t.unit)} | ${num(t.reference, t.unit)} (${t.referenceName}) | ${t.ratio === undefined || t.absolute ? "-" : `${t.ratio.toFixed(2)}×`} | ${Number.isFinite(t.limit) ? limitText(t).replace(/x$/, "×") : "-"} | ${verdict(t)}${t.note ? ` — ${t.note}` : ""} |`,
  );
  const p = r.proxy;
  const component = (name: string, s: { rps?: number; p50Ms?: number; p99Ms?: number } | undefined) =>
    `| ${name} | ${num(s?.rps, "/s")} | ${num(s?.p50Ms, "ms")} | ${num(s?.p99Ms, "ms")} |`;
  return [
    `Run of ${r.when} on ${m.cpus} CPUs (${m.model}), load average ${m.load1 ?? "?"} at the start, Node ${m.node}.`,
    "",
    "| target | measured | reference | ratio | limit | verdict |",
    "| --- | ---: | --- | ---: | ---: | --- |",
    ...rows,
    "",
    "| component (saturation) | throughput | p50 | p99 |",
    "| --- | ---: | ---: | ---: |",
    component("bare node:http (verifier bench)", r.verifier.bare.saturation),
    component("floor: node:http + verify + SET NX", r.verifier.floor.verifyAndNonce.saturation),
    component("verifier", r.verifier.verifier.saturation),
    ...(r.verifier.sdkReference
      ? [
          component(
            "reference Sigilum SDK (node:http + verifyHttpSignature)",
            r.verifier.sdkReference.saturation,
          ),
        ]
      : []),
    component("direct to upstream", p.direct.saturation),
    component("undici forwarder", p.engines.undici.saturation),
    component("http-proxy-middleware", p.engines.httpProxyMiddleware.saturation),
    component("proxy alone", p.proxy.saturation),
    component("whole gateway (inline)", p.gateway?.saturation),
    component("usage events delivered", { rps: r.usage.eventsPerSecond }),
    "",
  ].join("\n");
}
