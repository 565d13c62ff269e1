import { GatewayError } from "@sigilum-gw/shared/errors";

/** Errors ioredis raises when Redis cannot be reached or answered too slowly (not Redis-side command errors). */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === "MaxRetriesPerRequestError") return true;
  return /Connection is closed|Command timed out|ECONNREFUSED|ECONNRESET|Stream isn't writeable|enableOfflineQueue/i.test(
    err.message,
  );
}

/** Maps a Redis outage to REDIS_UNAVAILABLE (503); anything else is rethrown unchanged. */
export function asStoreError(err: unknown): unknown {
  return isRedisUnavailable(err) ? new GatewayError("REDIS_UNAVAILABLE", undefined, { cause: err }) : err;
}
