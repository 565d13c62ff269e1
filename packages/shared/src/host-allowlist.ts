import { isIP } from "node:net";

/**
 * Which `Host` names a service answers to: the loopback names, plus the public names an operator configures
 * (the host of a public URL and an explicit list). A page in the operator's browser can point any DNS name at
 * 127.0.0.1 (DNS rebinding), but the browser still sends that name as Host, so refusing unknown names closes the
 * admin API to it; the runtime routes use the same list to pin the authority agents sign (`@target-uri`).
 */

export interface HostAllowlist {
  /** The `Host` header value (`name[:port]`, `[v6]:port`) is one of ours; the port is not compared. */
  allows(hostHeader: string | undefined): boolean;
  /** Lower-case names, for messages and logs. */
  readonly names: readonly string[];
}

/** Names that always reach the local host without DNS: never a rebinding target. */
const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "::1"];

/** `Example.COM:8080` → `example.com`; `[::1]:80` → `::1`; undefined when it is not a host[:port]. */
export function hostNameOf(hostHeader: string): string | undefined {
  const value = hostHeader.trim().toLowerCase();
  if (value === "") return undefined;
  let name: string;
  let port: string | undefined;
  if (value.startsWith("[")) {
    const close = value.indexOf("]");
    if (close === -1) return undefined;
    name = value.slice(1, close);
    const rest = value.slice(close + 1);
    if (rest !== "" && !rest.startsWith(":")) return undefined;
    port = rest === "" ? undefined : rest.slice(1);
    if (isIP(name) !== 6) return undefined;
  } else {
    const colon = value.lastIndexOf(":");
    name = colon === -1 ? value : value.slice(0, colon);
    port = colon === -1 ? undefined : value.slice(colon + 1);
    if (!/^[a-z0-9.-]+$/.test(name)) return undefined;
  }
  if (port !== undefined && !/^\d{1,5}$/.test(port)) return undefined;
  return name.endsWith(".") ? name.slice(0, -1) : name;
}

function isLoopbackName(name: string): boolean {
  if (LOOPBACK_NAMES.includes(name) || name.endsWith(".localhost")) return true;
  return isIP(name) === 4 && name.startsWith("127.");
}

/**
 * `publicUrls`: URLs the service is reached under (their host names are allowed); `names`: extra host names
 * (`GATEWAY_ALLOWED_HOSTS`, `CONTROL_PLANE_ALLOWED_HOSTS`), with or without a port. `anyIpAddress`: an IP
 * literal is allowed too. Right for an API guarded against browsers (a rebinding page can only send a DNS name,
 * and probes or scrapers address pods by IP), not for pinning the authority agents sign.
 */
export function createHostAllowlist(
  publicUrls: readonly (string | undefined)[],
  names: readonly string[],
  opts: { anyIpAddress?: boolean } = {},
): HostAllowlist {
  const configured = new Set<string>();
  for (const url of publicUrls) {
    if (!url) continue;
    const name = hostNameOf(new URL(url).host);
    if (name) configured.add(name);
  }
  for (const entry of names) {
    const name = hostNameOf(entry);
    if (name) configured.add(name);
  }
  return {
    names: [...LOOPBACK_NAMES, ...configured],
    allows(hostHeader) {
      if (hostHeader === undefined) return false;
      const name = hostNameOf(hostHeader);
      if (name === undefined) return false;
      return isLoopbackName(name) || configured.has(name) || (opts.anyIpAddress === true && isIP(name) !== 0);
    },
  };
}

/** Config parsing: a bare host name or IP, optionally with a port; undefined when it is neither. */
export function normalizeAllowedHost(entry: string): string | undefined {
  return hostNameOf(entry) === undefined ? undefined : entry.trim().toLowerCase();
}
