import { deliveryRetryDelayMs, envelopeCode, retryableAnswer } from "@sigilum-gw/shared/errors/retryable";
import { signRequest } from "@sigilum-gw/shared/http-signatures";
import type { SigilumIdentity } from "@sigilum-gw/shared/identity";
import { UnrecoverableError, Worker } from "bullmq";
import type { Redis } from "ioredis";
import { z } from "zod";
import { type Answer, AnswerClient } from "../http/answer-client.ts";
import { USAGE_QUEUE, type UsageBatch, type UsageEvent } from "./queue.ts";

/**
 * Delivers queued usage events to the control plane, signed with the gateway's own Sigilum identity and
 * `Authorization: Bearer <service API key>` (spec §4.5): up to 500 events of one service per signed
 * `POST {registry}/v1/usage/events/batch` (one signature and one multi-row INSERT per batch); a registry without that
 * route (404: the reference API) gets one `POST /v1/usage/events` per event. Events that fail transiently stay in
 * the job (its data is narrowed to them) and bullmq retries it with backoff; an event the control plane rejects, a
 * 4xx other than 408/429 or a missing service key is final for that event. Every failure is reported as
 * `usage_submit_failed`.
 */

export interface UsageSubmitterOptions {
  connection: Redis;
  prefix: string;
  registryUrl: string;
  identity: SigilumIdentity;
  /** The service API key for a service (connection id); "" when none is configured. */
  serviceKeyFor: (service: string) => string;
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
/** Events per batch post: ~200 KB of JSON, well under the control plane's 1 MB body limit. */
const EVENTS_PER_POST = 500;

/** Where events go: the registry's usage routes and a client bound to its origin. */
interface UsageEndpoint {
  single: { url: string; path: string };
  batch: { url: string; path: string };
  /** Cleared when the registry answers 404 to a batch (it only has the per-event route). */
  batchRoute: boolean;
  client: AnswerClient;
}

function usageEndpoint(registryUrl: string, timeoutMs = 5000, connections = 64): UsageEndpoint {
  const route = (path: string) => {
    const url = new URL(`${registryUrl.replace(/\/+$/, "")}${path}`);
    return { url: url.href, path: `${url.pathname}${url.search}` };
  };
  const single = route("/v1/usage/events");
  return {
    single,
    batch: route("/v1/usage/events/batch"),
    batchRoute: true,
    client: new AnswerClient(new URL(single.url).origin, {
      timeoutMs,
      maxBodyBytes: MAX_ANSWER_BYTES,
      connections,
    }),
  };
}

/** A signed POST of a JSON body to one of the registry's usage routes. */
function postSigned(
  endpoint: UsageEndpoint,
  route: { url: string; path: string },
  identity: SigilumIdentity,
  key: string,
  body: string,
  subject: string | undefined,
): Promise<Answer> {
  const signed = signRequest(identity, {
    url: route.url,
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
    ...(subject === undefined ? {} : { subject }),
  });
  const headers: string[] = ["authorization", `Bearer ${key}`];
  for (const name in signed.headers) headers.push(name, signed.headers[name] as string);
  return endpoint.client.send({
    path: route.path,
    method: "POST",
    headers,
    body: signed.body ?? Buffer.from(body),
  });
}

function failureOf(answer: Answer): Error {
  const text = answer.body.toString("utf8", 0, MAX_ERROR_BODY);
  const message = `usage submit failed: HTTP ${answer.status}: ${text.replace(/\s+/g, " ").trim()}`;
  return retryableAnswer(answer.status, envelopeCode(text))
    ? new Error(message)
    : new UnrecoverableError(message);
}

const batchAnswerSchema = z.object({
  rejected: z.array(z.object({ index: z.number().int().min(0), code: z.string(), message: z.string() })),
});

async function submitUsageEvent(
  event: UsageEvent,
  endpoint: UsageEndpoint,
  identity: SigilumIdentity,
  key: string,
): Promise<void> {
  const answer = await postSigned(
    endpoint,
    endpoint.single,
    identity,
    key,
    JSON.stringify(event),
    event.subject,
  );
  if (answer.status >= 200 && answer.status < 300) return;
  throw failureOf(answer);
}

/**
 * Posts one batch of one service's events. Resolves with the events the control plane rejected (final, with their
 * reason) or `undefined` when the registry has no batch route; rejects when the whole batch failed.
 */
async function submitUsageBatch(
  events: UsageEvent[],
  endpoint: UsageEndpoint,
  identity: SigilumIdentity,
  key: string,
): Promise<{ event: UsageEvent; error: string }[] | undefined> {
  const answer = await postSigned(
    endpoint,
    endpoint.batch,
    identity,
    key,
    JSON.stringify({ events }),
    undefined,
  );
  if (answer.status === 404) return undefined;
  if (answer.status < 200 || answer.status >= 300) throw failureOf(answer);
  let parsed: z.infer<typeof batchAnswerSchema>;
  try {
    parsed = batchAnswerSchema.parse(JSON.parse(answer.body.toString("utf8")));
  } catch {
    throw new Error(`usage submit failed: HTTP ${answer.status} with an answer that is not a batch result`);
  }
  return parsed.rejected
    .filter((r) => r.index < events.length)
    .map((r) => ({
      event: events[r.index] as UsageEvent,
      error: `usage event rejected: ${r.code}: ${r.message}`,
    }));
}

export function startUsageSubmitter(opts: UsageSubmitterOptions): Worker<UsageBatch> {
  const concurrency = opts.concurrency ?? 4;
  const postsInFlight = opts.postsInFlight ?? POSTS_IN_FLIGHT;
  const endpoint = usageEndpoint(opts.registryUrl, opts.timeoutMs, concurrency * postsInFlight);
  const worker = new Worker<UsageBatch>(
    USAGE_QUEUE,
    async (job) => {
      const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      const retry: UsageEvent[] = [];
      let lastError = "";
      const failed = (events: UsageEvent[], err: unknown) => {
        const message = err instanceof Error ? err.message : String(err);
        const final = err instanceof UnrecoverableError || lastAttempt;
        for (const event of events) opts.onFailed(event, message, final);
        if (!final) {
          retry.push(...events);
          lastError = message;
        }
      };
      // Keys are looked up once per service and job (the lookup reads key files); a rotated key applies from the next.
      const lookup = opts.serviceKeyFor;
      const posts: { key: string; events: UsageEvent[] }[] = [];
      for (const [service, events] of byService(job.data.events)) {
        const key = lookup(service);
        if (key === "") {
          failed(events, new UnrecoverableError(`service API key not configured for service "${service}"`));
          continue;
        }
        for (let i = 0; i < events.length; i += EVENTS_PER_POST) {
          posts.push({ key, events: events.slice(i, i + EVENTS_PER_POST) });
        }
      }
      const perEvent = (key: string) => async (event: UsageEvent) => {
        try {
          await submitUsageEvent(event, endpoint, opts.identity, key);
        } catch (err) {
          failed([event], err);
        }
      };
      // Several posts in flight: one at a time, a registry 50 ms away would take 80 posts/s per worker.
      await inLanes(posts, postsInFlight, async ({ key, events }) => {
        if (endpoint.batchRoute) {
          try {
            const rejected = await submitUsageBatch(events, endpoint, opts.identity, key);
            if (rejected !== undefined) {
              for (const { event, error } of rejected) opts.onFailed(event, error, true);
              return;
            }
            endpoint.batchRoute = false;
          } catch (err) {
            failed(events, err);
            return;
          }
        }
        await inLanes(events, postsInFlight, perEvent(key));
      });
      if (retry.length > 0) {
        await job.updateData({ events: retry });
        throw new Error(`${retry.length} usage event(s) will be retried: ${lastError}`);
      }
    },
    {
      connection: opts.connection,
      prefix: opts.prefix,
      concurrency,
      settings: { backoffStrategy: deliveryRetryDelayMs },
    },
  );
  // Connection errors are retried by ioredis; the listener keeps them from crashing the process.
  worker.on("error", () => {});
  worker.once("closed", () => void endpoint.client.close().catch(() => {}));
  return worker;
}

function byService(events: UsageEvent[]): Map<string, UsageEvent[]> {
  const groups = new Map<string, UsageEvent[]>();
  for (const event of events) {
    const group = groups.get(event.service);
    if (group) group.push(event);
    else groups.set(event.service, [event]);
  }
  return groups;
}

/** Runs `work` over `items` with at most `lanes` in flight. */
async function inLanes<T>(items: T[], lanes: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(lanes, items.length) }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}
