import type { PairingSettings } from "./config.ts";
import type { Reporter } from "./reporter.ts";

/**
 * The reference bridge's start-up checks (spec §B.6), so a wrong URL fails at once with a clear message instead of
 * retrying for ever: the API answers /health, it has the pairing route (not a dashboard's HTML), the proxy's
 * admin API answers /health.
 */

const looksHtml = (contentType: string | null, body: string) =>
  /text\/html/i.test(contentType ?? "") || /^\s*<(!doctype html|html)/i.test(body);

async function probe(
  url: string,
  timeoutMs: number,
): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
  const body = (await res.text()).slice(0, 180);
  return { status: res.status, type: res.headers.get("content-type"), body };
}

async function reach(what: string, url: string, timeoutMs: number) {
  try {
    return await probe(url, timeoutMs);
  } catch (err) {
    throw new Error(`${what} is unreachable at ${url}: ${(err as Error).message}`);
  }
}

/** Says what the bridge is about to do, runs the checks (throwing what failed), says they passed. */
export async function preflight(settings: PairingSettings, report: Reporter): Promise<void> {
  report.info("gateway pairing bridge starting");
  report.info(`api=${settings.apiUrl}`);
  report.info(`gateway_admin=${settings.adminUrl}`);
  report.info(`session=${settings.sessionId} namespace=${settings.namespace || "-"}`);
  report.info("preflight: validating api and gateway admin endpoints");
  await checkEndpoints(settings);
  report.info("preflight: ok");
}

async function checkEndpoints(settings: PairingSettings): Promise<void> {
  const timeout = settings.connectTimeoutMs;
  const health = await reach("Sigilum API", `${settings.apiUrl}/health`, timeout);
  if (health.status < 200 || health.status > 299) {
    const html = looksHtml(health.type, health.body)
      ? " This looks like an HTML dashboard app, not the Sigilum API."
      : "";
    throw new Error(
      `Sigilum API health check failed at ${settings.apiUrl}/health (HTTP ${health.status}).${html} Body: ${health.body}`,
    );
  }
  const connect = await reach("Sigilum API", `${settings.apiUrl}/v1/gateway/pairing/connect`, timeout);
  if (connect.status === 404 || looksHtml(connect.type, connect.body)) {
    throw new Error(
      `Pairing endpoint not found at ${settings.apiUrl}/v1/gateway/pairing/connect. Verify --api-url points to Sigilum API.`,
    );
  }
  const admin = await reach("Gateway admin", `${settings.adminUrl}/health`, timeout);
  if (admin.status < 200 || admin.status > 299) {
    throw new Error(
      `Gateway admin health check failed at ${settings.adminUrl}/health (HTTP ${admin.status}).`,
    );
  }
}
