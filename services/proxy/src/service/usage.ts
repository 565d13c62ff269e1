import { serviceApiKeyFor } from "@sigilum-gw/shared/config";
import type { Logger } from "@sigilum-gw/shared/logger";
import { settleWithin } from "@sigilum-gw/shared/service-shell";
import type { Redis } from "ioredis";
import type { ProxyConfig } from "../config.ts";
import type { ProxyMetrics } from "../metrics.ts";
import type { ProxyKeys } from "../store/keys.ts";
import { startUsageDelivery } from "../usage/delivery.ts";
import type { UsageRecording } from "../usage/event.ts";
import { UsageRecorder } from "../usage/queue.ts";

/** Usage events: queued per request; delivered from this process only with GATEWAY_USAGE_DELIVERY=embedded. */
export interface ProxyUsage {
  recorder: UsageRecorder;
  recording: UsageRecording;
  close(): Promise<void>;
}

export function startProxyUsage(deps: {
  config: ProxyConfig;
  queue: Redis;
  keys: ProxyKeys;
  metrics: ProxyMetrics;
  logger: Logger;
}): ProxyUsage {
  const { config, metrics, logger } = deps;
  const recorder = new UsageRecorder({
    connection: deps.queue,
    prefix: deps.keys.bullmq,
    maxQueuedBatches: config.usageQueueMaxBatches,
    onDropped: (n, reason) => metrics.usageEventsDropped.inc({ reason }, n),
    onError: (err) => logger.warn({ err }, "usage events could not be queued"),
    onDepth: (batches) => metrics.usageQueueDepth.set(batches),
  });
  // Embedded delivery only: with GATEWAY_USAGE_DELIVERY=separate a usage-worker process consumes the queue.
  const delivery =
    config.registryUrl && config.usageDelivery === "embedded"
      ? startUsageDelivery({
          registryUrl: config.registryUrl,
          identity: config.identity,
          serviceKeyFor: (service) => serviceApiKeyFor(service, config.serviceApiKeyEnv),
          connection: deps.queue.duplicate(),
          prefix: deps.keys.bullmq,
          logger,
          logDecisions: config.logDecisions,
          submitFailed: metrics.usageSubmitFailed,
        })
      : undefined;
  return {
    recorder,
    recording: {
      sink: recorder,
      durable: config.usageDurability === "durable",
      notStored: () => metrics.usageEventsDropped.inc({ reason: "not_stored" }),
    },
    async close() {
      await recorder.close();
      await settleWithin(delivery?.close(), 2000);
    },
  };
}
