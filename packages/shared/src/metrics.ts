import {
  Counter,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  type Metric,
  Registry,
  Summary,
} from "prom-client";

/**
 * Prometheus metrics. Family names, help texts and labels follow spec/gateway.md §10 so dashboards built for the
 * Sigilum gateway keep working; each service registers only the families it records, once, through these
 * factories (idempotent per registry).
 */

export interface MetricsRegistryOptions {
  /** Default label on every series, e.g. "verifier". */
  service: string;
  /** Node process metrics (CPU, memory, event loop lag, GC). Default true. */
  defaultMetrics?: boolean;
}

export function createMetricsRegistry(opts: MetricsRegistryOptions): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service: opts.service });
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  return registry;
}

/** §10: lower-cased, every char outside [a-z0-9] → "_", trimmed of "_", one pass of "__" → "_", empty → "unknown". */
export function normalizeLabelValue(value: string): string {
  const out = value
    .toLowerCase()
    .replace(/[^a-z0-9]/g, "_")
    .replace(/^_+|_+$/g, "")
    .replaceAll("__", "_");
  return out === "" ? "unknown" : out;
}

function once<M extends Metric>(registry: Registry, name: string, create: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? create();
}

function counter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[] = [],
) {
  return once(registry, name, () => new Counter<L>({ name, help, labelNames, registers: [registry] }));
}

/** Verifier: every AUTH_* rejection, and replays among them. */
export function authMetrics(registry: Registry) {
  return {
    authRejectTotal: counter(
      registry,
      "sigilum_gateway_auth_reject_total",
      "Total proxy auth rejects by reason code.",
      ["reason"],
    ),
    replayDetectedTotal: counter(
      registry,
      "sigilum_gateway_replay_detected_total",
      "Total replay detections from signature nonce cache.",
    ),
  };
}

export type AuthMetrics = ReturnType<typeof authMetrics>;

/** Counts one rejection under its lower-cased code (`auth_signature_invalid`); replays also count separately. */
export function recordAuthReject(metrics: AuthMetrics, code: string): void {
  metrics.authRejectTotal.inc({ reason: normalizeLabelValue(code) });
  if (code === "AUTH_REPLAY_DETECTED") metrics.replayDetectedTotal.inc();
}

const UPSTREAM_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** Proxy: upstream HTTP and MCP requests. */
export function upstreamMetrics(registry: Registry) {
  return {
    upstreamRequestsTotal: counter(
      registry,
      "sigilum_gateway_upstream_requests_total",
      "Total upstream requests by protocol/outcome.",
      ["protocol", "outcome"],
    ),
    upstreamLatencySeconds: once(
      registry,
      "sigilum_gateway_upstream_latency_seconds",
      () =>
        new Histogram<"protocol" | "outcome">({
          name: "sigilum_gateway_upstream_latency_seconds",
          help: "Observed upstream latency by protocol/outcome.",
          labelNames: ["protocol", "outcome"],
          buckets: UPSTREAM_BUCKETS,
          registers: [registry],
        }),
    ),
    upstreamErrorTotal: counter(
      registry,
      "sigilum_gateway_upstream_error_total",
      "Total upstream failures by class.",
      ["class"],
    ),
  };
}

export type UpstreamMetrics = ReturnType<typeof upstreamMetrics>;

/** One finished upstream request (spec §10 "when recorded"): outcome and latency, plus its error class if any. */
export function recordUpstream(
  metrics: UpstreamMetrics,
  protocol: "http" | "mcp",
  outcome: "success" | "error",
  seconds: number,
  errorClass?: string,
): void {
  metrics.upstreamRequestsTotal.inc({ protocol, outcome });
  metrics.upstreamLatencySeconds.observe({ protocol, outcome }, seconds);
  if (errorClass) metrics.upstreamErrorTotal.inc({ class: normalizeLabelValue(errorClass) });
}

/** Proxy: MCP discovery and tool calls. */
export function mcpMetrics(registry: Registry) {
  return {
    mcpDiscoveryTotal: counter(
      registry,
      "sigilum_gateway_mcp_discovery_total",
      "Total MCP discovery attempts by result.",
      ["result"],
    ),
    mcpToolCallTotal: counter(
      registry,
      "sigilum_gateway_mcp_tool_call_total",
      "Total MCP tool calls by result.",
      ["result"],
    ),
  };
}

/** Every service: requests in flight and the graceful-shutdown drain. */
export function lifecycleMetrics(registry: Registry) {
  return {
    requestsInFlight: once(
      registry,
      "sigilum_gateway_requests_in_flight",
      () =>
        new Gauge({
          name: "sigilum_gateway_requests_in_flight",
          help: "Current number of in-flight HTTP requests.",
          registers: [registry],
        }),
    ),
    shutdownDrainTotal: counter(
      registry,
      "sigilum_gateway_shutdown_drain_total",
      "Total gateway graceful shutdown drain attempts by outcome.",
      ["outcome"],
    ),
    shutdownDrainSeconds: once(
      registry,
      "sigilum_gateway_shutdown_drain_seconds",
      () =>
        new Summary<"outcome">({
          name: "sigilum_gateway_shutdown_drain_seconds",
          help: "Observed graceful shutdown drain durations by outcome.",
          labelNames: ["outcome"],
          // §10 emits only _count and _sum for this family.
          percentiles: [],
          registers: [registry],
        }),
    ),
  };
}

export type DrainOutcome = "success" | "timeout" | "error" | "forced_close_failed";

export function recordShutdownDrain(
  metrics: ReturnType<typeof lifecycleMetrics>,
  outcome: DrainOutcome,
  seconds: number,
): void {
  metrics.shutdownDrainTotal.inc({ outcome });
  metrics.shutdownDrainSeconds.observe({ outcome }, seconds);
}
