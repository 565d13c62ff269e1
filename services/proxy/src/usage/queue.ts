import { QUEUES } from "@sigilum-gw/shared/redis-keys";
import { Queue } from "bullmq";
import type { Redis } from "ioredis";

/**
 * Usage events (spec §4.5): one per forwarded request of an identified agent, queued on the bullmq
 * `usage-events` queue; never a payload, header or credential. Events are buffered off the request path and
 * queued as one job per batch (a bullmq job per request costs more CPU than the forward itself); the buffer is
 * bounded and drops (counted) when Redis is away. The control plane dedupes on event_id, so a batch retried
 * after a partial delivery does not double count.
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
  onDropped?: (count: number) => void;
  onError?: (error: unknown) => void;
}

export class UsageRecorder implements UsageSink {
  readonly #queue: Queue;
  readonly #buffer: UsageEvent[] = [];
  readonly #flushIntervalMs: number;
  readonly #maxBatch: number;
  readonly #maxBuffered: number;
  readonly #onDropped: (count: number) => void;
  readonly #onError: (error: unknown) => void;
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #closed = false;
  #lastFlushFailed = false;

  constructor(opts: UsageRecorderOptions) {
    this.#queue = new Queue(USAGE_QUEUE, {
      connection: opts.connection,
      prefix: opts.prefix,
      defaultJobOptions: {
        attempts: 5,
        backoff: { type: "exponential", delay: 1000 },
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
    this.#onDropped = opts.onDropped ?? (() => {});
    this.#onError = opts.onError ?? (() => {});
  }

  get queue(): Queue {
    return this.#queue;
  }

  record(event: UsageEvent): void {
    if (this.#closed || this.#buffer.length >= this.#maxBuffered) {
      this.#onDropped(1);
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
          if (batch.length > room) this.#onDropped(batch.length - Math.max(room, 0));
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
   * Flushes what is buffered (one attempt, at most `timeoutMs`: Redis may be gone), then refuses new events and
   * closes the queue. Whatever could not be queued is counted as dropped.
   */
  async close(timeoutMs = 2000): Promise<void> {
    this.#closed = true;
    await withTimeout(this.flush(), timeoutMs);
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#buffer.length > 0) this.#onDropped(this.#buffer.splice(0).length);
    await withTimeout(this.#queue.close(), timeoutMs);
  }
}

/** Resolves when `work` settles or after `ms`, whichever comes first; never rejects. */
async function withTimeout(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    work.catch(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}
