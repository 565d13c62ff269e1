import { createHmac, randomUUID } from "node:crypto";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Logger } from "@sigilum-gw/shared/logger";
import { QUEUES } from "@sigilum-gw/shared/redis-keys";
import { type Job, Queue, Worker } from "bullmq";
import type { Redis } from "ioredis";
import type { Db } from "../db/db.ts";
import { type AttemptOutcome, insertDelivery, recordAttempt } from "./deliveries.ts";
import type { WebhookSecretBox } from "./secret-box.ts";
import {
  type DeliveryEvent,
  findWebhook,
  insertDeadLetter,
  recordDelivered,
  recordFailure,
  type WebhookRow,
} from "./store.ts";
import { checkTarget, guardedLookup, type TargetPolicy, TargetRefused } from "./target-policy.ts";

/**
 * Webhook delivery through bullmq (queue `webhooks`, shared by every replica): one job per (webhook, event,
 * attempt). A failed attempt is re-queued with the reference's delays (5 min, 1 h, 2 h, 4 h, 8 h, then doubling)
 * while it stays inside the retry window (24 h); past it, or when the target became invalid, the delivery goes to
 * the owner's dead-letter list. The signing secret never enters Redis: the worker reads it sealed from PostgreSQL.
 * Each delivery has a row in webhook_deliveries (deliveries.ts) that every attempt updates.
 */

export interface DeliveryJob {
  delivery_id: string;
  webhook_id: string;
  event: DeliveryEvent;
  /** The exact JSON text POSTed: `{event, timestamp, data}`. */
  body: string;
  first_attempt_at: string;
  attempt: number;
  /** Asked for by the owner (test event, redelivery): sent even to a webhook not subscribed to the event. */
  requested?: boolean;
}

export interface WebhookSettings extends TargetPolicy {
  retryDelaysMs: readonly number[];
  retryWindowMs: number;
  timeoutMs: number;
}

/** Delay before attempt `attempt + 1` (0-based): the listed delays, then the last one doubling. */
export function retryDelay(attempt: number, delays: readonly number[]): number {
  const last = delays[delays.length - 1]!;
  return attempt < delays.length ? delays[attempt]! : last * 2 ** (attempt - delays.length + 1);
}

/**
 * `X-Sigilum-Signature: sha256=<hex HMAC(secret, body)>` (the reference's), plus `X-Sigilum-Timestamp` (unix
 * seconds of this attempt) and `X-Sigilum-Signature-V2: sha256=<hex HMAC(secret, "<timestamp>.<body>")>`, which a
 * receiver checks together with the timestamp's age to refuse replays.
 */
export function signatureHeaders(secret: string, body: string, timestamp: number): Record<string, string> {
  const hmac = (text: string) => createHmac("sha256", secret).update(text, "utf8").digest("hex");
  return {
    "x-sigilum-signature": `sha256=${hmac(body)}`,
    "x-sigilum-timestamp": String(timestamp),
    "x-sigilum-signature-v2": `sha256=${hmac(`${timestamp}.${body}`)}`,
  };
}

const MAX_ERROR_CHARS = 300;

/** The subscriber answered, but not 2xx. */
class HttpStatusError extends Error {
  readonly status: number;
  constructor(status: number) {
    super(`HTTP ${status}`);
    this.status = status;
  }
}

export class WebhookDelivery {
  readonly #queue: Queue<DeliveryJob>;
  readonly #worker: Worker<DeliveryJob>;
  readonly #workerConnection: Redis;
  readonly #db: Db;
  readonly #box: WebhookSecretBox;
  readonly #settings: WebhookSettings;
  readonly #log: Logger;

  constructor(opts: {
    db: Db;
    box: WebhookSecretBox;
    redis: Redis;
    prefix: string;
    settings: WebhookSettings;
    log: Logger;
  }) {
    this.#db = opts.db;
    this.#box = opts.box;
    this.#settings = opts.settings;
    this.#log = opts.log;
    this.#queue = new Queue<DeliveryJob>(QUEUES.webhooks, { connection: opts.redis, prefix: opts.prefix });
    this.#queue.on("error", (err) => opts.log.warn({ err }, "webhook queue error"));
    // The worker blocks on its connection: it gets one of its own (bullmq needs maxRetriesPerRequest null).
    this.#workerConnection = opts.redis.duplicate({ maxRetriesPerRequest: null, enableOfflineQueue: true });
    this.#workerConnection.on("error", (err) => opts.log.warn({ err }, "webhook worker redis error"));
    this.#worker = new Worker<DeliveryJob>(QUEUES.webhooks, (job) => this.#deliver(job), {
      connection: this.#workerConnection,
      prefix: opts.prefix,
      concurrency: 8,
    });
    this.#worker.on("error", (err) => opts.log.warn({ err }, "webhook worker error"));
  }

  /** Records the delivery (status pending) and queues its first attempt; returns the delivery id. */
  async enqueue(job: Omit<DeliveryJob, "delivery_id" | "attempt">): Promise<string> {
    const full: DeliveryJob = { ...job, delivery_id: `dlv_${randomUUID()}`, attempt: 0 };
    await insertDelivery(this.#db, { id: full.delivery_id, webhook_id: job.webhook_id, event: job.event });
    await this.#queue.add("deliver", full, {
      jobId: `${full.delivery_id}-0`,
      removeOnComplete: true,
      removeOnFail: 1000,
    });
    return full.delivery_id;
  }

  async #deliver(job: Job<DeliveryJob>): Promise<void> {
    const data = job.data;
    const attempts = data.attempt + 1;
    const record = (outcome: AttemptOutcome) => recordAttempt(this.#db, data.delivery_id, outcome);
    const hook = await findWebhook(this.#db, data.webhook_id);
    if (!hook) return; // deleted: its deliveries went with it
    if (!hook.active || !(data.requested || hook.events.includes(data.event))) {
      return record({ status: "skipped", attempts: data.attempt, error: "webhook inactive or unsubscribed" });
    }
    try {
      const httpStatus = await this.#post(hook, data.body);
      await recordDelivered(this.#db, hook.id);
      return record({ status: "delivered", attempts, httpStatus });
    } catch (err) {
      const reason = (err as Error).message.slice(0, MAX_ERROR_CHARS);
      const failed = {
        attempts,
        error: reason,
        httpStatus: err instanceof HttpStatusError ? err.status : undefined,
      };
      if (err instanceof TargetRefused) {
        await recordFailure(this.#db, hook.id, true);
        this.#log.warn({ webhook_id: hook.id, reason }, "webhook target refused; webhook deactivated");
        await record({ status: "dead_letter", ...failed });
        return this.#deadLetter(data, reason);
      }
      await recordFailure(this.#db, hook.id);
      const delay = retryDelay(data.attempt, this.#settings.retryDelaysMs);
      if (Date.now() + delay - Date.parse(data.first_attempt_at) > this.#settings.retryWindowMs) {
        this.#log.warn({ webhook_id: hook.id, attempts, reason }, "webhook delivery given up");
        await record({ status: "dead_letter", ...failed });
        return this.#deadLetter(data, reason);
      }
      this.#log.info({ webhook_id: hook.id, attempt: attempts, delay_ms: delay, reason }, "webhook retry");
      await record({ status: "retrying", ...failed, nextAttemptAt: new Date(Date.now() + delay) });
      const next: DeliveryJob = { ...data, attempt: attempts };
      await this.#queue.add("deliver", next, {
        delay,
        jobId: `${data.delivery_id}-${next.attempt}`,
        removeOnComplete: true,
        removeOnFail: 1000,
      });
    }
  }

  #deadLetter(data: DeliveryJob, reason: string): Promise<void> {
    return insertDeadLetter(this.#db, {
      delivery_id: data.delivery_id,
      webhook_id: data.webhook_id,
      event: data.event,
      payload: JSON.parse(data.body),
      attempts: data.attempt + 1,
      last_error: reason,
      first_attempt_at: data.first_attempt_at,
    });
  }

  /** POSTs the body; resolves with the 2xx status, rejects with HttpStatusError or the network error. */
  async #post(hook: WebhookRow, body: string): Promise<number> {
    const url = await checkTarget(hook.url, this.#settings);
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "content-length": String(Buffer.byteLength(body)),
      "user-agent": "sigilum-control-plane-webhooks",
      "x-sigilum-event": JSON.parse(body).event,
      "x-sigilum-webhook-id": hook.id,
      ...signatureHeaders(this.#box.open(hook.secret_sealed), body, Math.floor(Date.now() / 1000)),
    };
    if (hook.auth_header && hook.auth_value_sealed)
      headers[hook.auth_header] = this.#box.open(hook.auth_value_sealed);
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise<number>((resolve, reject) => {
      const req = send(url, {
        method: "POST",
        headers,
        lookup: guardedLookup(this.#settings),
        timeout: this.#settings.timeoutMs,
      });
      req.on("timeout", () => req.destroy(new Error(`no answer within ${this.#settings.timeoutMs} ms`)));
      req.on("error", reject);
      req.on("response", (res) => {
        res.resume(); // the answer's body is not read: only the status counts
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) resolve(status);
        else reject(new HttpStatusError(status));
      });
      req.end(body);
    });
  }

  async close(): Promise<void> {
    await this.#worker.close();
    await this.#queue.close();
    this.#workerConnection.disconnect();
  }
}
