import cluster, { type Worker } from "node:cluster";
import { randomUUID } from "node:crypto";
import type { Logger } from "@sigilum-gw/shared/logger";
import { AggregatorRegistry, type Registry } from "prom-client";

/**
 * Several verifier processes on one port (VERIFIER_WORKERS): one Ed25519 verify is most of a decision's CPU, so a
 * pod with N cores decides about N times faster. Every worker is a complete verifier (its own claims snapshot and
 * claim worker; nonces, claims copies and rate limits are shared through Redis as between replicas). The primary
 * only forks, restarts crashed workers, forwards shutdown and aggregates /metrics.
 */

const METRICS_REQUEST = "sigilum-verifier:metrics-request";
const METRICS_RESPONSE = "sigilum-verifier:metrics-response";

interface MetricsRequest {
  type: typeof METRICS_REQUEST;
  id: string;
}
interface MetricsResponse {
  type: typeof METRICS_RESPONSE;
  id: string;
  body?: string;
  error?: string;
}

export function runPrimary(workers: number, logger: Logger, shutdownTimeoutMs: number): void {
  const aggregator = new AggregatorRegistry();
  let stopping = false;
  const fork = () => cluster.fork();

  cluster.on("message", (worker: Worker, message: MetricsRequest) => {
    if (message?.type !== METRICS_REQUEST) return;
    aggregator.clusterMetrics().then(
      (body) => worker.send({ type: METRICS_RESPONSE, id: message.id, body } satisfies MetricsResponse),
      (error: Error) =>
        worker.send({
          type: METRICS_RESPONSE,
          id: message.id,
          error: error.message,
        } satisfies MetricsResponse),
    );
  });
  cluster.on("exit", (worker, code, signal) => {
    if (stopping) return;
    logger.error({ worker: worker.id, code, signal }, "verifier worker exited; starting a new one");
    setTimeout(fork, 1000).unref();
  });

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, workers: Object.keys(cluster.workers ?? {}).length }, "stopping verifier workers");
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGTERM");
    const deadline = setTimeout(() => {
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGKILL");
      process.exit(1);
    }, shutdownTimeoutMs + 5000);
    deadline.unref();
    const check = setInterval(() => {
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        clearInterval(check);
        process.exit(0);
      }
    }, 50);
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  logger.info({ workers }, "starting verifier workers");
  for (let i = 0; i < workers; i++) fork();
}

/**
 * In a worker: answer the primary's aggregation requests with this registry, and return a /metrics source that
 * serves the sum over all workers (so a scrape never sees one random worker's counters).
 */
export function clusterMetricsSource(registry: Registry): () => Promise<string> {
  new AggregatorRegistry(); // installs prom-client's worker-side listener
  AggregatorRegistry.setRegistries([registry]);
  const pending = new Map<string, { resolve: (body: string) => void; reject: (error: Error) => void }>();
  process.on("message", (message: MetricsResponse) => {
    if (message?.type !== METRICS_RESPONSE) return;
    const request = pending.get(message.id);
    if (!request) return;
    pending.delete(message.id);
    if (message.body !== undefined) request.resolve(message.body);
    else request.reject(new Error(message.error ?? "metrics aggregation failed"));
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = randomUUID();
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error("metrics aggregation timed out"));
      }, 5000);
      pending.set(id, {
        resolve: (body) => {
          clearTimeout(timer);
          resolve(body);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      process.send?.({ type: METRICS_REQUEST, id } satisfies MetricsRequest);
    });
}

export const isClusterWorker = () => cluster.isWorker;
