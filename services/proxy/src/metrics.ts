import {
  authMetrics,
  createMetricsRegistry,
  lifecycleMetrics,
  mcpMetrics,
  upstreamMetrics,
} from "@sigilum-gw/shared/metrics";
import { Counter, Gauge, type Registry } from "prom-client";

/** The proxy's Prometheus series (spec §10 names, plus usage-event accounting). */
export function createProxyMetrics(registry: Registry = createMetricsRegistry({ service: "proxy" })) {
  const lifecycle = lifecycleMetrics(registry);
  lifecycle.requestsInFlight.set(0);
  return {
    registry,
    auth: authMetrics(registry),
    upstream: upstreamMetrics(registry),
    mcp: mcpMetrics(registry),
    lifecycle,
    usageEventsDropped: new Counter({
      name: "sigilum_gateway_usage_events_dropped_total",
      help: "Usage events not queued: buffer_full (Redis away), queue_full (bound reached), shutdown, not_stored (durable mode: the answer was cut).",
      labelNames: ["reason"],
      registers: [registry],
    }),
    usageQueueDepth: new Gauge({
      name: "sigilum_gateway_usage_batches_waiting",
      help: "Usage event batches queued and not yet taken by a usage worker (read by the proxy at most once a second).",
      registers: [registry],
    }),
    usageSubmitFailed: usageSubmitFailedCounter(registry),
  };
}

/** Registered by whichever process delivers usage events: the proxy (embedded) or the usage worker. */
export function usageSubmitFailedCounter(registry: Registry): Counter<"final"> {
  return new Counter({
    name: "sigilum_gateway_usage_submit_failed_total",
    help: "Usage event deliveries to the control plane that failed, by finality.",
    labelNames: ["final"],
    registers: [registry],
  });
}

export type ProxyMetrics = ReturnType<typeof createProxyMetrics>;
