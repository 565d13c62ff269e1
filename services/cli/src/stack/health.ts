import { setTimeout as sleep } from "node:timers/promises";
import { signRequest } from "@sigilum-gw/shared/http-signatures";
import type { SigilumIdentity } from "@sigilum-gw/shared/identity";
import { checkPostgres } from "./embedded-postgres.ts";
import { checkRedis } from "./redis-check.ts";

/**
 * One health check with a short timeout: a `redis://` URL answers PING, a `postgres://` one a query, an `http://`
 * one 2xx.
 */
export async function probeHealth(healthUrl: string, timeoutMs = 1000): Promise<boolean> {
  if (/^rediss?:/.test(healthUrl)) return (await checkRedis(healthUrl, timeoutMs)).ok;
  if (/^postgres(ql)?:/.test(healthUrl)) return checkPostgres(healthUrl, timeoutMs);
  try {
    const response = await fetch(healthUrl, { signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

/**
 * Polls the health URL until it answers, the deadline passes, or `stillRunning()` says the process died.
 */
export async function waitForHealth(
  healthUrl: string,
  options: { timeoutMs: number; stillRunning: () => boolean; intervalMs?: number },
): Promise<"healthy" | "timeout" | "exited"> {
  const deadline = Date.now() + options.timeoutMs;
  while (Date.now() < deadline) {
    if (await probeHealth(healthUrl)) return "healthy";
    if (!options.stillRunning()) return "exited";
    await sleep(options.intervalMs ?? 200);
  }
  return "timeout";
}

/**
 * The stack can decide a signed request: one request signed with the gateway's own identity for a connection that
 * does not exist goes through the proxy, the verifier's signature and replay checks (Redis) and comes back as a
 * decision (404 CONNECTION_NOT_FOUND), not as a 5xx. Retried until the deadline.
 */
export async function waitForSignedDecision(
  gatewayUrl: string,
  identity: SigilumIdentity,
  timeoutMs: number,
): Promise<{ ok: true } | { ok: false; last: string }> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    const signed = signRequest(identity, { url: `${gatewayUrl}/proxy/sigilum-up-probe/`, method: "GET" });
    try {
      const response = await fetch(signed.url, {
        headers: signed.headers,
        signal: AbortSignal.timeout(2000),
      });
      await response.body?.cancel();
      if (response.status === 404) return { ok: true };
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(200);
  }
  return { ok: false, last };
}
