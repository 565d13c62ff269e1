import { type IdentityError, loadIdentity } from "@sigilum-gw/shared/identity";
import { decisionLog, type Logger } from "@sigilum-gw/shared/logger";
import { withTimeout } from "@sigilum-gw/shared/timeout";
import type { Worker } from "bullmq";
import type { Redis } from "ioredis";
import type { Counter } from "prom-client";
import { startUsageSubmitter } from "./submitter.ts";

/**
 * Usage delivery: loads the gateway's identity, then consumes the `usage-events` queue into the control plane.
 * Runs inside the proxy (`GATEWAY_USAGE_DELIVERY=embedded`) or in its own process (`usage-worker.ts`): each
 * delivered event costs an Ed25519 signature and an HTTP call, more CPU than forwarding the request did.
 */

export interface UsageDeliveryOptions {
  registryUrl: string;
  identity: { namespace: string | undefined; home: string | undefined };
  /** The service API key for a service (connection id), from the configuration; "" when none. */
  serviceKeyFor: (service: string) => string;
  /** Given to the bullmq worker (blocking commands): not shared with anything else. */
  connection: Redis;
  prefix: string;
  logger: Logger;
  logDecisions: boolean;
  submitFailed: Counter<"final">;
}

export interface UsageDelivery {
  /** Resolves true once the worker consumes the queue, false when the identity could not be loaded. */
  readonly started: Promise<boolean>;
  /**
   * Lets the batch in hand finish for up to `timeoutMs`, then stops. A batch cut short stays in the queue and is
   * delivered again later (the control plane dedupes on event_id).
   */
  close(timeoutMs?: number): Promise<void>;
}

export function startUsageDelivery(opts: UsageDeliveryOptions): UsageDelivery {
  const { logger } = opts;
  // Owned here whichever process runs delivery (ioredis retries; an unheard "error" event would only be printed).
  opts.connection.on("error", (err: Error) =>
    logger.warn({ err, connection: "usage-delivery" }, "redis connection error"),
  );
  let worker: Worker | undefined;
  let closed = false;
  const started = loadIdentity({ namespace: opts.identity.namespace, homeDir: opts.identity.home }).then(
    (identity) => {
      if (closed) return false;
      worker = startUsageSubmitter({
        connection: opts.connection,
        prefix: opts.prefix,
        registryUrl: opts.registryUrl,
        identity,
        serviceKeyFor: opts.serviceKeyFor,
        onFailed: (event, error, final) => {
          opts.submitFailed.inc({ final: String(final) });
          if (opts.logDecisions) {
            decisionLog(logger, "usage_submit_failed", {
              service: event.service,
              namespace: event.namespace,
              subject: event.subject,
              protocol: event.protocol,
              action: event.action,
              final,
              error,
            });
          }
        },
      });
      return true;
    },
    (err: IdentityError) => {
      logger.warn({ err }, "gateway identity unavailable: usage events stay queued and are not delivered");
      return false;
    },
  );
  return {
    started,
    async close(timeoutMs = 5000) {
      closed = true;
      await started;
      if (worker) {
        const finished = await withTimeout(worker.close(), timeoutMs);
        if (finished.settled === "rejected") throw finished.error;
        if (finished.settled === "timeout") await worker.close(true);
      }
      opts.connection.disconnect();
    },
  };
}
