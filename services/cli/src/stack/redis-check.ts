import { Redis } from "ioredis";

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "****";
    return parsed.toString();
  } catch {
    return "(invalid URL)";
  }
}

/** One PING with a short timeout and no retries: is Redis there right now? */
export async function checkRedis(
  url: string,
  timeoutMs = 2000,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  redis.on("error", () => undefined);
  try {
    await redis.connect();
    const pong = await redis.ping();
    return pong === "PONG"
      ? { ok: true }
      : { ok: false, reason: `unexpected PING answer ${JSON.stringify(pong)}` };
  } catch (error) {
    const err = error as NodeJS.ErrnoException;
    return { ok: false, reason: err.code ?? err.message };
  } finally {
    redis.disconnect();
  }
}
