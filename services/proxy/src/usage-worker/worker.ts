import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { serviceApiKeyFor } from "@sigilum-gw/shared/config";
import { createLogger, type Logger } from "@sigilum-gw/shared/logger";
import { createMetricsRegistry, type DrainOutcome } from "@sigilum-gw/shared/metrics";
import { createOpsServer } from "@sigilum-gw/shared/service-shell";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { Gauge } from "prom-client";
import { usageSubmitFailedCounter } from "../metrics.ts";
import { createProxyKeys } from "../store/keys.ts";
import { startUsageDelivery } from "../usage/delivery.ts";
import { USAGE_QUEUE } from "../usage/queue.ts";
import type { UsageWorkerConfig } from "./config.ts";

/**
 * The usage worker: delivers the events the proxies queue (`GATEWAY_USAGE_DELIVERY=separate`) to the control plane,
 * in a process of its own so that signing and posting every event never competes with forwarding. Scales on its own
 * (bullmq workers share the queue); serves health, readiness and metrics only.
 */

export interface UsageWorker {
  server: Server;
  logger: Logger;
  /** Where it posts, for the listening line. */
  listening: Record<string, unknown>;
  start(): Promise<AddressInfo>;
  stop(): Promise<DrainOutcome>;
}

export function createUsageWorker(config: UsageWorkerConfig, opts: { logger?: Logger } = {}): UsageWorker {
  const logger = opts.logger ?? createLogger("usage-worker", { level: config.logLevel });
  const registry = createMetricsRegistry({ service: "usage-worker" });
  const submitFailed = usageSubmitFailedCounter(registry);
  // The bullmq worker blocks on its connection; readiness pings on another one that never waits for Redis.
  const queueConnection = new Redis(config.redisUrl, { maxRetriesPerRequest: null, connectTimeout: 5000 });
  const probe = new Redis(config.redisUrl, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 1000,
    connectTimeout: 5000,
  });
  probe.on("error", (err: Error) => logger.warn({ err, connection: "probe" }, "redis connection error"));

  const prefix = createProxyKeys(config.redisPrefix).bullmq;
  // The backlog, read at each scrape: when it keeps growing, run more workers.
  const backlog = new Queue(USAGE_QUEUE, { connection: probe, prefix });
  // Its connection's errors are logged above; an unheard "error" event would end the process.
  backlog.on("error", () => {});
  new Gauge({
    name: "sigilum_gateway_usage_batches_waiting",
    help: "Usage event batches queued and not yet taken by a usage worker.",
    registers: [registry],
    async collect() {
      const waiting = await backlog.getWaitingCount().catch(() => undefined);
      if (waiting !== undefined) this.set(waiting);
    },
  });

  const delivery = startUsageDelivery({
    registryUrl: config.registryUrl,
    identity: config.identity,
    serviceKeyFor: (service) => serviceApiKeyFor(service, config.serviceApiKeyEnv),
    connection: queueConnection,
    prefix,
    logger,
    logDecisions: config.logDecisions,
    submitFailed,
  });
  let delivering = false;
  void delivery.started.then((started) => {
    delivering = started;
  });

  const ops = createOpsServer({
    service: "usage-worker",
    registry,
    ready: async () => ({ ready: delivering && (await probe.ping()) === "PONG" }),
  });

  return {
    server: ops.server,
    logger,
    listening: { registry: config.registryUrl },
    start: () => ops.listen(config.listen, "USAGE_WORKER_ADDR"),
    async stop() {
      const outcome = await ops.stop(config.shutdownTimeoutMs);
      await delivery.close(config.shutdownTimeoutMs);
      await backlog.close().catch(() => {});
      probe.disconnect();
      logger.info({ outcome }, "usage worker stopped");
      return outcome;
    },
  };
}
