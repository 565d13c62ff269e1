import type { RedisKeys } from "@sigilum-gw/shared/redis-keys";
import type { Redis } from "ioredis";
import { z } from "zod";

/**
 * Final refusals of claim submissions (`<prefix>claims:{service}:failed:<submission id>`): written by the worker
 * when the control plane refused for good, read on the agent's next request so its 403 says why. Never throws.
 */

export interface ClaimFailure {
  kind: "failed";
  httpStatus: number;
  code: string;
}

const failureSchema = z.object({ http_status: z.number().int(), code: z.string().max(128) });

export async function readClaimFailure(
  redis: Redis,
  keys: RedisKeys,
  service: string,
  submission: string,
): Promise<ClaimFailure | undefined> {
  try {
    const text = await redis.get(keys.claimSubmitFailure(service, submission));
    const parsed = text ? failureSchema.safeParse(JSON.parse(text)) : undefined;
    return parsed?.success
      ? { kind: "failed", httpStatus: parsed.data.http_status, code: parsed.data.code }
      : undefined;
  } catch {
    return undefined;
  }
}

export async function recordClaimFailure(
  redis: Redis,
  keys: RedisKeys,
  service: string,
  submission: string,
  failure: { httpStatus: number; code: string },
  ttlSeconds: number,
): Promise<void> {
  const record = JSON.stringify({ http_status: failure.httpStatus, code: failure.code });
  await redis
    .set(keys.claimSubmitFailure(service, submission), record, "EX", ttlSeconds)
    .catch(() => undefined);
}
