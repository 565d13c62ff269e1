import { setTimeout as sleep } from "node:timers/promises";
import { DELIVERY_ATTEMPTS } from "@sigilum-gw/shared/errors/retryable";
import { QUEUES } from "@sigilum-gw/shared/redis-keys";
import { withTimeout } from "@sigilum-gw/shared/timeout";
import { Queue } from "bullmq";
import type { Redis } from "ioredis";

/**
 * Usage events (spec §4.5): one per forwarded request of an identified agent, queued on the bullmq
 * `usage-events` queue; never a payload, header or credential. The control plane dedupes on event_id, so a batch
 * retried after a partial delivery does not double count.
 *
 * Two durabilities (GATEWAY_USAGE_DURABILITY):
 * - `buffered` (default): events are buffered in memory off the request path and queued as one job per batch
 *   every 250 ms (a bullmq job per request costs more CPU than the forward itself). A proxy crash loses what is
 *   buffered (at most 250 ms of traffic, or what piled up while Redis was away); the buffer is bounded and drops
 *   (counted) beyond it.
 * - `durable`: `recordDurable` resolves once the event is in Redis, and the proxy ends the response only then
 *   (group commit: events arriving while one write is in flight go together in the next). A proxy crash loses no
 *   event of an answer the agent received whole; when the event cannot be stored the answer is cut (fail closed).
 *
 * The queue is bounded (`maxQueuedBatches` waiting, read at most once a second): when full, buffered events are
 * dropped and counted (`reason="queue_full"`), durable ones cut the answer.
 */

export const USAGE_QUEUE = QUEUES.usageEvents;

export interface UsageEvent {
  event_id: string;
  namespace: string;
  service: string;
  public_key: string;
  subject: string;
  protocol: "http" | "mcp";
  action: string;
  outcome: string;
  agent_id?: string;
  status_code?: number;
  duration_ms?: number;
  response_bytes: number;
  request_method?: string;
  request_path?: string;
  remote_ip?: string;
}

/** The data of one bullmq job. */
export interface UsageBatch {
  events: UsageEvent[];
}

export interface UsageSink {
  record(event: UsageEvent): void;
  recordDurable(event: UsageEvent): Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface UsageRecorderOptions {
  connection: Redis;
  /** bullmq prefix (shared key layout). */
  prefix: string;
  flushIntervalMs?: number;
  maxBatch?: number;
  maxBuffered?: number;
  /** Batches waiting in Redis beyond which new events are refused (see above). */
  maxQueuedBatches?: number;
  /** Deadline for a durable write (Redis away: the answer is cut after it). */
  durableTimeoutMs?: number;
  onDropped?: (count: number, reason: DropReason) => void;
  onError?: (error: unknown) => void;
  /** Called with the queue's waiting batches each time it is read. */
  onDepth?: (batches: number) => void;
}

/** Why events were not queued: memory buffer full (Redis away), queue at its bound, or the proxy shutting down. */
export type DropReason = "buffer_full" | "queue_full" | "shutdown";

export class UsageQueueFullError extends Error {
  constructor(bound: number) {
    super(`usage queue holds ${bound} or more waiting batches`);
  }
}

interface DurableWaiter {
  event: UsageEvent;
  resolve: () => void;
  reject: (error: Error) => void;
}

export class UsageRecorder implements UsageSink {
  readonly #queue: Queue;
  readonly #buffer: UsageEvent[] = [];
  readonly #flushIntervalMs: number;
  readonly #maxBatch: number;
  readonly #maxBuffered: number;
  readonly #onDropped: (count: number, reason: DropReason) => void;
  readonly #onError: (error: unknown) => void;
  readonly #onDepth: (batches: number) => void;
  readonly #maxQueuedBatches: number;
  readonly #durableTimeoutMs: number;
  readonly #durable: DurableWaiter[] = [];
  #durableWriting = false;
  #waiting = 0;
  #depthReadAt = 0;
  #readingDepth = false;
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #closed = false;
  #lastFlushFailed = false;

  constructor(opts: UsageRecorderOptions) {
    this.#queue = new Queue(USAGE_QUEUE, {
      connection: opts.connection,
      prefix: opts.prefix,
      defaultJobOptions: {
        attempts: DELIVERY_ATTEMPTS,
        backoff: { type: "custom" },
        removeOnComplete: true,
        removeOnFail: 1000,
      },
    });
    // Connection errors are retried by ioredis; without a listener bullmq would print each one.
    this.#queue.on("error", (err) => this.#onError(err));
    // Fewer, larger bullmq adds: against 50 ms / 200-event batches, three paired A/B runs gave -30, 0 and -6 µs
    // per proxied request (docs/decisions.md). Usage may arrive up to 250 ms late.
    this.#flushIntervalMs = opts.flushIntervalMs ?? 250;
    this.#maxBatch = opts.maxBatch ?? 1000;
    this.#maxBuffered = opts.maxBuffered ?? 10_000;
    this.#maxQueuedBatches = opts.maxQueuedBatches ?? 20_000;
    this.#durableTimeoutMs = opts.durableTimeoutMs ?? 2000;
    this.#onDropped = opts.onDropped ?? (() => {});
    this.#onError = opts.onError ?? (() => {});
    this.#onDepth = opts.onDepth ?? (() => {});
  }

  get queue(): Queue {
    return this.#queue;
  }

  record(event: UsageEvent): void {
    if (this.#closed || this.#buffer.length >= this.#maxBuffered) {
      this.#onDropped(1, this.#closed ? "shutdown" : "buffer_full");
      return;
    }
    this.#buffer.push(event);
    if (this.#buffer.length >= this.#maxBatch) void this.flush();
    else this.#timer ??= setTimeout(() => void this.flush(), this.#flushIntervalMs);
  }

  async flush(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    while (this.#flushing) await this.#flushing;
    if (this.#buffer.length === 0) return;
    const batch = this.#buffer.splice(0, this.#maxBatch);
    if (this.#queueFull()) {
      this.#onDropped(batch.length, "queue_full");
      if (this.#buffer.length > 0) this.#timer ??= setTimeout(() => void this.flush(), this.#flushIntervalMs);
      return;
    }
    this.#flushing = this.#queue
      .add("usage-batch", { events: batch } satisfies UsageBatch)
      .then(
        () => {
          this.#lastFlushFailed = false;
        },
        (error: unknown) => {
          this.#lastFlushFailed = true;
          this.#onError(error);
          // Put the batch back (bounded) so a short Redis outage does not lose events.
          const room = this.#maxBuffered - this.#buffer.length;
          if (room > 0) this.#buffer.unshift(...batch.slice(0, room));
          if (batch.length > room) this.#onDropped(batch.length - Math.max(room, 0), "buffer_full");
        },
      )
      .finally(() => {
        this.#flushing = undefined;
      });
    await this.#flushing;
    if (this.#buffer.length > 0 && !this.#closed) {
      // After a failure, wait before retrying so a Redis outage is not hammered.
      const delay = this.#lastFlushFailed ? 1000 : this.#flushIntervalMs;
      this.#timer ??= setTimeout(() => void this.flush(), delay);
    }
  }

  /**
   * Queues one event and resolves once it is stored in Redis; rejects (UsageQueueFullError, a Redis error or a
   * timeout) when it could not be. Writes are grouped: one in flight, the events arriving meanwhile form the next.
   */
  recordDurable(event: UsageEvent): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("usage recorder closed"));
    if (this.#queueFull()) return Promise.reject(new UsageQueueFullError(this.#maxQueuedBatches));
    return new Promise<void>((resolve, reject) => {
      this.#durable.push({ event, resolve, reject });
      if (!this.#durableWriting) void this.#writeDurable();
    });
  }

  async #writeDurable(): Promise<void> {
    this.#durableWriting = true;
    while (this.#durable.length > 0) {
      const group = this.#durable.splice(0, this.#maxBatch);
      const added = this.#queue.add("usage-batch", {
        events: group.map((w) => w.event),
      } satisfies UsageBatch);
      const outcome = await withTimeout(added, this.#durableTimeoutMs);
      if (outcome.settled === "resolved") for (const w of group) w.resolve();
      else {
        const error =
          outcome.settled === "timeout"
            ? new Error("usage event not stored in time")
            : outcome.error instanceof Error
              ? outcome.error
              : new Error(String(outcome.error));
        this.#onError(error);
        for (const w of group) w.reject(error);
      }
    }
    this.#durableWriting = false;
  }

  /** Whether the queue is at its bound, from the last reading; starts a new reading when that one is over 1 s old. */
  #queueFull(): boolean {
    const now = Date.now();
    if (!this.#readingDepth && now - this.#depthReadAt >= 1000) {
      this.#readingDepth = true;
      this.#queue
        .getWaitingCount()
        .then(
          (waiting) => {
            this.#waiting = waiting;
            this.#onDepth(waiting);
          },
          (error: unknown) => this.#onError(error),
        )
        .finally(() => {
          this.#depthReadAt = Date.now();
          this.#readingDepth = false;
        });
    }
    return this.#waiting >= this.#maxQueuedBatches;
  }

  /**
   * Flushes what is buffered (one attempt, at most `timeoutMs`: Redis may be gone), then refuses new events and
   * closes the queue. Whatever could not be queued is counted as dropped.
   */
  async close(timeoutMs = 2000): Promise<void> {
    this.#closed = true;
    await withTimeout(this.flush(), timeoutMs);
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#buffer.length > 0) this.#onDropped(this.#buffer.splice(0).length, "shutdown");
    while (this.#durableWriting) await sleep(10);
    await withTimeout(this.#queue.close(), timeoutMs);
  }
}
