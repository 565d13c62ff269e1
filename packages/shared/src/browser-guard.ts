import type { IncomingHttpHeaders } from "node:http";
import type { ErrorCode } from "./errors.ts";
import type { HostAllowlist } from "./host-allowlist.ts";

/**
 * Keeps web pages in the operator's browser away from an API that trusts its callers (the proxy's admin API
 * trusts loopback; the control plane trusts its session cookie). A page can make the browser send a request
 * cross-site without a CORS preflight (`text/plain` or no body, any method a form can use) and can rebind a DNS
 * name to 127.0.0.1; the preflight refusal does not stop such a request from taking effect. So, in order:
 * 1. `Host` must be a loopback name or a configured public name (DNS rebinding sends the attacker's name);
 * 2. `Sec-Fetch-Site: cross-site` is refused (every current browser sends it);
 * 3. an `Origin` must be in the allowlist or be the service's own origin (same-origin pages);
 * 4. a body, or a declared content type, must be `application/json` (a browser cannot send that cross-site
 *    without a preflight, which CORS refuses for unknown origins); `jsonBodies: false` skips this for requests
 *    a browser cannot authenticate anyway (the control plane's signed and Bearer calls, from SDKs we do not own).
 * Clients that are not browsers (CLI, SDK, pairing bridge) send no Origin and no Sec-Fetch-Site and pass.
 * `browserless: true` is for a route no page has any business opening, such as the pairing WebSocket: any Origin
 * is refused, allowlisted or same-origin (a browser sends one with every WebSocket handshake, which CORS does not
 * guard; the bridge sends none).
 */

export interface BrowserGuardPolicy {
  hosts: HostAllowlist;
  allowedOrigins: ReadonlySet<string>;
}

export type BrowserGuardCode =
  | "ADMIN_HOST_NOT_ALLOWED"
  | "ADMIN_CROSS_SITE_REFUSED"
  | "ADMIN_ORIGIN_NOT_ALLOWED"
  | "ADMIN_CONTENT_TYPE_UNSUPPORTED";

function single(value: string | string[] | undefined): string | undefined {
  if (Array.isArray(value)) return value.length === 1 ? value[0] : undefined;
  return value;
}

function isJson(contentType: string): boolean {
  const essence = contentType.split(";")[0]?.trim().toLowerCase();
  return essence === "application/json";
}

function carriesBody(headers: IncomingHttpHeaders): boolean {
  if (headers["transfer-encoding"] !== undefined) return true;
  const length = headers["content-length"];
  return length !== undefined && length !== "0";
}

/** Same-origin: the page was served under the very host the request is addressed to (already allowlisted). */
function isOwnOrigin(origin: string, host: string): boolean {
  try {
    const url = new URL(origin);
    return (url.protocol === "http:" || url.protocol === "https:") && url.host === host.toLowerCase();
  } catch {
    return false;
  }
}

/** undefined when the request may proceed, else the refusal's code (each documented in docs/errors.md). */
export function checkBrowserGuard(
  policy: BrowserGuardPolicy,
  headers: IncomingHttpHeaders,
  opts: { jsonBodies?: boolean; browserless?: boolean } = {},
): (ErrorCode & BrowserGuardCode) | undefined {
  // headers.host is one value even when the line repeats; rawHeaders repeats are refused by Node itself.
  const host = single(headers.host);
  if (host === undefined || !policy.hosts.allows(host)) return "ADMIN_HOST_NOT_ALLOWED";
  const site = single(headers["sec-fetch-site"])?.trim().toLowerCase();
  if (site === "cross-site") return "ADMIN_CROSS_SITE_REFUSED";
  const origin = headers.origin;
  if (origin !== undefined) {
    const value = single(origin);
    const allowed = value !== undefined && (policy.allowedOrigins.has(value) || isOwnOrigin(value, host));
    if (opts.browserless || !allowed) {
      return "ADMIN_ORIGIN_NOT_ALLOWED";
    }
  }
  if (opts.jsonBodies === false) return undefined;
  const contentType = single(headers["content-type"]);
  if (contentType !== undefined ? !isJson(contentType) : carriesBody(headers)) {
    return "ADMIN_CONTENT_TYPE_UNSUPPORTED";
  }
  return undefined;
}
