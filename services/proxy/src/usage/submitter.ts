import { serviceApiKeyFor } from "@sigilum-gw/shared/config";
import { signRequest } from "@sigilum-gw/shared/http-signatures";
import type { SigilumIdentity } from "@sigilum-gw/shared/identity";
import { UnrecoverableError, Worker } from "bullmq";
import type { Redis } from "ioredis";
import { AnswerClient } from "../http/answer-client.ts";
import { USAGE_QUEUE, type UsageBatch, type UsageEvent } from "./queue.ts";

/**
 * Delivers queued usage events to the control plane: `POST {registry}/v1/usage/events`, signed with the gateway's
 * own Sigilum identity (sigilum-subject = the caller's subject) and `Authorization: Bearer <service API key>`
 * (spec §4.5). Each job is a batch; events that fail transiently stay in the job (its data is narrowed to them)
 * and bullmq retries it with backoff; a 4xx other than 408/429, or a missing service key, is final for that event.
 * Every failure is reported as `usage_submit_failed`.
 */

export interface UsageSubmitterOptions {
  connection: Redis;
  prefix: string;
  registryUrl: string;
  identity: SigilumIdentity;
  /** Reads per-connection service API keys; defaults to the process environment. */
  serviceKeyFor?: (service: string) => string;
  timeoutMs?: number;
  /** Batches (bullmq jobs) processed at once. */
  concurrency?: number;
  /** Event POSTs in flight per batch. */
  postsInFlight?: number;
  onFailed: (event: UsageEvent, error: string, final: boolean) => void;
}

const MAX_ERROR_BODY = 4096;
/** An answer is `{accepted: true}` or an error envelope; anything larger is a wrong endpoint. */
const MAX_ANSWER_BYTES = 64 * 1024;
const POSTS_IN_FLIGHT = 16;

/** Where events go: the registry's `/v1/usage/events` and a client bound to its origin. */
interface UsageEndpoint {
  url: string;
  path: string;
  client: AnswerClient;
}

function usageEndpoint(registryUrl: string, timeoutMs = 5000, connections = 64): UsageEndpoint {
  const url = new URL(`${registryUrl.replace(/\/+$/, "")}/v1/usage/events`);
  return {
    url: url.href,
    path: `${url.pathname}${url.search}`,
    client: new AnswerClient(url.origin, { timeoutMs, maxBodyBytes: MAX_ANSWER_BYTES, connections }),
  };
}

async function submitUsageEvent(
  event: UsageEvent,
  endpoint: UsageEndpoint,
  opts: Pick<UsageSubmitterOptions, "identity" | "serviceKeyFor">,
): Promise<void> {
  const key = (opts.serviceKeyFor ?? ((s) => serviceApiKeyFor(s)))(event.service);
  if (key === "")
    throw new UnrecoverableError(`service API key not configured for service "${event.service}"`);
  const body = JSON.stringify(event);
  const signed = signRequest(opts.identity, {
    url: endpoint.url,
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
    subject: event.subject,
  });
  const headers: string[] = ["authorization", `Bearer ${key}`];
  for (const name in signed.headers) headers.push(name, signed.headers[name] as string);
  const answer = await endpoint.client.send({
    path: endpoint.path,
    method: "POST",
    headers,
    body: signed.body ?? Buffer.from(body),
  });
  if (answer.status >= 200 && answer.status < 300) return;
  const text = answer.body.toString("utf8", 0, MAX_ERROR_BODY);
  const message = `usage submit failed: HTTP ${answer.status}: ${text.replace(/\s+/g, " ").trim()}`;
  const retryable = answer.status >= 500 || answer.status === 408 || answer.status === 429;
  throw retryable ? new Error(message) : new UnrecoverableError(message);
}

export function startUsageSubmitter(opts: UsageSubmitterOptions): Worker<UsageBatch> {
  const concurrency = opts.concurrency ?? 4;
  const postsInFlight = opts.postsInFlight ?? POSTS_IN_FLIGHT;
  const endpoint = usageEndpoint(opts.registryUrl, opts.timeoutMs, concurrency * postsInFlight);
  const worker = new Worker<UsageBatch>(
    USAGE_QUEUE,
    async (job) => {
      const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      // Looked up once per service and batch (the lookup reads key files); a rotated key applies from the next one.
      const keys = new Map<string, string>();
      const lookup = opts.serviceKeyFor ?? ((service: string) => serviceApiKeyFor(service));
      const serviceKeyFor = (service: string) => {
        let key = keys.get(service);
        if (key === undefined) {
          key = lookup(service);
          keys.set(service, key);
        }
        return key;
      };
      const retry: UsageEvent[] = [];
      let lastError = "";
      const deliver = async (event: UsageEvent) => {
        try {
          await submitUsageEvent(event, endpoint, { identity: opts.identity, serviceKeyFor });
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          const final = err instanceof UnrecoverableError || lastAttempt;
          opts.onFailed(event, message, final);
          if (!final) {
            retry.push(event);
            lastError = message;
          }
        }
      };
      // One POST per event (spec §4.5), several in flight: one at a time, a registry 50 ms away would take 80
      // events/s per worker, far below what a proxy forwards.
      const events = job.data.events;
      let next = 0;
      const lanes = Math.min(postsInFlight, events.length);
      await Promise.all(
        Array.from({ length: lanes }, async () => {
          while (next < events.length) await deliver(events[next++] as UsageEvent);
        }),
      );
      if (retry.length > 0) {
        await job.updateData({ events: retry });
        throw new Error(`${retry.length} usage event(s) will be retried: ${lastError}`);
      }
    },
    { connection: opts.connection, prefix: opts.prefix, concurrency },
  );
  // Connection errors are retried by ioredis; the listener keeps them from crashing the process.
  worker.on("error", () => {});
  worker.once("closed", () => void endpoint.client.close().catch(() => {}));
  return worker;
}
