import { createHash, randomUUID } from "node:crypto";
import {
  DELIVERY_ATTEMPTS,
  deliveryRetryDelayMs,
  retryableAnswer,
} from "@sigilum-gw/shared/errors/retryable";
import { signRequest } from "@sigilum-gw/shared/http-signatures";
import type { SigilumIdentity } from "@sigilum-gw/shared/identity";
import { QUEUES, type RedisKeys } from "@sigilum-gw/shared/redis-keys";
import { withTimeout } from "@sigilum-gw/shared/timeout";
import { type ConnectionOptions, type Job, Queue, UnrecoverableError, Worker } from "bullmq";
import type { Redis } from "ioredis";
import { RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import { z } from "zod";
import { readClaimFailure, recordClaimFailure } from "../store/claim-failures.ts";
import { publishSettlement, type Settlement, type SettlementListener } from "../store/claim-settlements.ts";

/**
 * Unapproved caller → an authorization request (claim) for the namespace owner. The hot path only rate-limits
 * and enqueues (bullmq `claim-submissions`); a worker posts `POST /v1/claims` with retries and backoff, so a slow
 * control plane never holds a decision. One submission per (service, namespace, key) per dedupe window.
 */

export const CLAIM_QUEUE = QUEUES.claimSubmissions;

export interface ClaimSubmission {
  service: string;
  namespace: string;
  publicKey: string;
  subject: string;
  agentId?: string;
  agentIp: string;
}

export type SubmitOutcome =
  | { kind: "queued"; jobId: string }
  /** The control plane refused the submission for good (e.g. 403 SIGNATURE_NAMESPACE_MISMATCH). */
  | { kind: "failed"; httpStatus: number; code: string }
  | { kind: "rate_limited"; retryAfterSeconds: number }
  | { kind: "disabled" }
  | { kind: "unavailable" };

export interface ClaimSubmitterOptions {
  redis: Redis;
  queueConnection: ConnectionOptions;
  keys: RedisKeys;
  autoRegister: boolean;
  ratePerMinute: number;
  dedupeSeconds: number;
  /** Bound on the enqueue round trip; past it the request fails closed (503) instead of hanging. */
  timeoutMs: number;
  /** How long a request waits for its submission to be refused, so the agent's 403 can say so (0 = not at all). */
  settleMs?: number;
  /** Where that wait learns how the submission settled (without it, requests do not wait). */
  settlements?: SettlementListener;
}

/** One submission per (service, namespace, key): the bullmq dedupe id, also the key of its failure record. */
export function submissionId(claim: Pick<ClaimSubmission, "service" | "namespace" | "publicKey">): string {
  return createHash("sha256")
    .update(`${claim.service}\u0000${claim.namespace}\u0000${claim.publicKey}`)
    .digest("hex")
    .slice(0, 32);
}

/** Rate-limit key of the Sigilum gateway: lower(trim(connection)) + "|" + lower(trim(namespace)), empty → "_". */
export function rateLimitKey(service: string, namespace: string): string {
  const part = (s: string) => s.trim().toLowerCase() || "_";
  return `${part(service)}|${part(namespace)}`;
}

export class ClaimSubmitter {
  readonly #o: ClaimSubmitterOptions;
  readonly #limiter: RateLimiterRedis | undefined;
  readonly #queue: Queue | undefined;

  constructor(options: ClaimSubmitterOptions) {
    this.#o = options;
    if (options.autoRegister && options.ratePerMinute > 0) {
      this.#limiter = new RateLimiterRedis({
        storeClient: options.redis,
        keyPrefix: options.keys.rateLimit("claim-submit"),
        points: options.ratePerMinute,
        duration: 60,
        rejectIfRedisNotReady: true,
      });
    }
    if (options.autoRegister) {
      this.#queue = new Queue(CLAIM_QUEUE, {
        connection: options.queueConnection,
        prefix: options.keys.bullmqPrefix(),
      });
      // Connection errors surface through add(); without a listener they would be unhandled 'error' events.
      this.#queue.on("error", () => undefined);
    }
  }

  async submit(claim: ClaimSubmission): Promise<SubmitOutcome> {
    if (!this.#queue) return { kind: "disabled" };
    if (this.#limiter) {
      const consumed = await withTimeout(
        this.#limiter.consume(rateLimitKey(claim.service, claim.namespace)),
        this.#o.timeoutMs,
      );
      if (consumed.settled === "rejected" && consumed.error instanceof RateLimiterRes) {
        return {
          kind: "rate_limited",
          retryAfterSeconds: Math.max(1, Math.ceil(consumed.error.msBeforeNext / 1000)),
        };
      }
      if (consumed.settled !== "resolved") return { kind: "unavailable" };
    }
    const dedupeId = submissionId(claim);
    const settleMs = this.#o.settleMs ?? 0;
    // Listening before the job is added (or found) leaves no moment in which its settlement could be missed.
    const expected = settleMs > 0 ? this.#o.settlements?.expect(dedupeId) : undefined;
    try {
      const failed = await readClaimFailure(this.#o.redis, this.#o.keys, claim.service, dedupeId);
      if (failed) return failed;
      const added = await withTimeout(
        this.#queue.add("submit", claim, {
          attempts: DELIVERY_ATTEMPTS,
          backoff: { type: "custom" },
          removeOnComplete: { count: 1000 },
          removeOnFail: { count: 1000 },
          ...(this.#o.dedupeSeconds > 0
            ? { deduplication: { id: dedupeId, ttl: this.#o.dedupeSeconds * 1000 } }
            : {}),
        }),
        this.#o.timeoutMs,
      );
      if (added.settled !== "resolved") return { kind: "unavailable" };
      const job = added.value;
      const refused = expected && (await this.#refused(job, claim.service, dedupeId, expected, settleMs));
      return refused ?? { kind: "queued", jobId: job.id ?? dedupeId };
    } catch {
      return { kind: "unavailable" };
    } finally {
      expected?.cancel();
    }
  }

  /**
   * Waits (up to `settleMs`) for the job to settle, so the first 403 already says when the control plane refused
   * the submission for good. A job found settled (deduplicated onto an earlier one) answers without waiting.
   */
  async #refused(
    job: Job,
    service: string,
    submission: string,
    expected: { wait(ms: number): Promise<Settlement | undefined> },
    settleMs: number,
  ): Promise<SubmitOutcome | undefined> {
    const state = await job.getState().catch(() => "unknown");
    if (state === "failed") return readClaimFailure(this.#o.redis, this.#o.keys, service, submission);
    if (state === "completed" || state === "delayed" || state === "unknown") return undefined;
    const settled = await expected.wait(settleMs);
    return settled?.outcome === "failed"
      ? { kind: "failed", httpStatus: settled.httpStatus, code: settled.code }
      : undefined;
  }

  async close(): Promise<void> {
    await this.#queue?.close().catch(() => undefined);
  }
}

const claimResponseSchema = z
  .object({
    claim_id: z.string().optional(),
    status: z.string().optional(),
    code: z.string().optional(),
    message: z.string().optional(),
    error: z.string().optional(),
  })
  .loose();

export interface ClaimPostResult {
  httpStatus: number;
  claimId?: string;
  status?: string;
  code?: string;
}

export interface ClaimWorkerOptions {
  connection: ConnectionOptions;
  /** Where a final refusal is recorded (a non-blocking connection). */
  store: Redis;
  /** How long a refusal is remembered (and shown) before the agent's next request submits again. */
  failureTtlSeconds: number;
  keys: RedisKeys;
  registryUrl: string;
  identity: SigilumIdentity;
  apiKeyFor: (service: string) => string;
  timeoutMs: number;
  concurrency?: number;
  onResult?: (claim: ClaimSubmission, result: ClaimPostResult | { error: string; final: boolean }) => void;
}

const MAX_RESPONSE_BYTES = 64 * 1024;

/** A final refusal: the status and code the control plane answered with. */
export class ClaimRejectedError extends UnrecoverableError {
  readonly httpStatus: number;
  readonly code: string;
  constructor(httpStatus: number, code: string) {
    super(`claim submit rejected: HTTP ${httpStatus} ${code}`);
    this.httpStatus = httpStatus;
    this.code = code;
  }
}

/** One POST /v1/claims (spec/gateway.md §4.4 step 2). Throws to retry; ClaimRejectedError for a final 4xx. */
export async function postClaim(
  claim: ClaimSubmission,
  options: Pick<ClaimWorkerOptions, "registryUrl" | "identity" | "apiKeyFor" | "timeoutMs">,
): Promise<ClaimPostResult> {
  const apiKey = options.apiKeyFor(claim.service);
  if (!apiKey) throw new ClaimRejectedError(0, "SERVICE_API_KEY_MISSING");
  const body = JSON.stringify({
    namespace: claim.namespace,
    public_key: claim.publicKey,
    service: claim.service,
    agent_ip: claim.agentIp || "127.0.0.1",
    nonce: randomUUID(),
    ...(claim.subject ? { subject: claim.subject } : {}),
    ...(claim.agentId ? { agent_id: claim.agentId } : {}),
  });
  const signed = signRequest(options.identity, {
    url: `${options.registryUrl.replace(/\/+$/, "")}/v1/claims`,
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
    subject: claim.subject || options.identity.namespace,
  });
  const response = await fetch(signed.url, {
    method: "POST",
    headers: {
      ...signed.headers,
      authorization: `Bearer ${apiKey}`,
      "x-sigilum-claim-binding": "namespace-only",
    },
    body: signed.body as Uint8Array,
    signal: AbortSignal.timeout(options.timeoutMs),
  });
  const text = (await response.text()).slice(0, MAX_RESPONSE_BYTES);
  let parsed: z.infer<typeof claimResponseSchema> = {};
  try {
    parsed = claimResponseSchema.parse(JSON.parse(text));
  } catch {
    parsed = {};
  }
  const result: ClaimPostResult = {
    httpStatus: response.status,
    ...(parsed.claim_id ? { claimId: parsed.claim_id } : {}),
    ...(parsed.status ? { status: parsed.status } : {}),
    ...(parsed.code ? { code: parsed.code } : {}),
  };
  if (retryableAnswer(response.status, parsed.code))
    throw new Error(`claim submit failed: HTTP ${response.status}${parsed.code ? ` ${parsed.code}` : ""}`);
  if (response.status < 200 || response.status > 299) {
    throw new ClaimRejectedError(response.status, parsed.code ?? `HTTP_${response.status}`);
  }
  return result;
}

export function startClaimWorker(options: ClaimWorkerOptions): Worker {
  const worker = new Worker(
    CLAIM_QUEUE,
    async (job: Job<ClaimSubmission>) => {
      const result = await postClaim(job.data, options);
      options.onResult?.(job.data, result);
      return result;
    },
    {
      connection: options.connection,
      prefix: options.keys.bullmqPrefix(),
      concurrency: options.concurrency ?? 4,
      settings: { backoffStrategy: deliveryRetryDelayMs },
    },
  );
  const settle = (claim: ClaimSubmission, settlement: Settlement) =>
    publishSettlement(options.store, options.keys, submissionId(claim), settlement);
  worker.on("completed", (job) => void settle(job.data as ClaimSubmission, { outcome: "recorded" }));
  worker.on("failed", (job, error) => {
    if (!job) return;
    const claim = job.data as ClaimSubmission;
    const final = error instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
    if (final) {
      const failure =
        error instanceof ClaimRejectedError
          ? { httpStatus: error.httpStatus, code: error.code }
          : { httpStatus: 0, code: "CONTROL_PLANE_UNREACHABLE" };
      // Recorded first: a replica woken by the message, or the agent's next request, reads the same refusal.
      void recordClaimFailure(
        options.store,
        options.keys,
        claim.service,
        submissionId(claim),
        failure,
        options.failureTtlSeconds,
      ).then(() => settle(claim, { outcome: "failed", ...failure }));
    } else {
      void settle(claim, { outcome: "retrying" });
    }
    options.onResult?.(claim, { error: error.message, final });
  });
  worker.on("error", () => undefined);
  return worker;
}
