import { type AuthMetrics, authMetrics } from "@sigilum-gw/shared/metrics";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** The verifier's Prometheus series; the `sigilum_gateway_*` names are the Sigilum gateway's (spec/gateway.md §10). */
export interface VerifierMetrics {
  registry: Registry;
  /** The Sigilum gateway's reject and replay counters (shared definitions). */
  auth: AuthMetrics;
  inFlight: Gauge;
  decisions: Counter<"decision">;
  decisionSeconds: Histogram<"decision">;
  claimsRefresh: Counter<"outcome">;
  claimSubmissions: Counter<"result">;
}

export function createVerifierMetrics(registry: Registry = new Registry()): VerifierMetrics {
  const registers = [registry];
  // Process, heap, GC and event-loop-lag series: what explains a latency tail.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
  const inFlight = new Gauge({
    name: "sigilum_gateway_requests_in_flight",
    help: "Current number of in-flight HTTP requests.",
    registers,
  });
  inFlight.set(0);
  return {
    registry,
    auth: authMetrics(registry),
    inFlight,
    decisions: new Counter({
      name: "sigilum_verifier_decisions_total",
      help: "ext_authz decisions by outcome (allow, deny, claim_required).",
      labelNames: ["decision"],
      registers,
    }),
    decisionSeconds: new Histogram({
      name: "sigilum_verifier_decision_duration_seconds",
      help: "Time from check request received to answer written, by outcome.",
      labelNames: ["decision"],
      buckets: [
        0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.025,
        0.05, 0.1, 0.25, 1,
      ],
      registers,
    }),
    claimsRefresh: new Counter({
      name: "sigilum_verifier_claims_refresh_total",
      help: "Approved-claims refreshes by outcome (fetched from the feed, adopted from another replica, error).",
      labelNames: ["outcome"],
      registers,
    }),
    claimSubmissions: new Counter({
      name: "sigilum_verifier_claim_submissions_total",
      help: "Claim submissions posted by the worker, by result (recorded, api_rejected, retry, failed).",
      labelNames: ["result"],
      registers,
    }),
  };
}
