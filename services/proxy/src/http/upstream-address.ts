import { type LookupAddress, type LookupOptions, lookup } from "node:dns";
import { lookup as lookupAll } from "node:dns/promises";
import { BlockList, isIP } from "node:net";
import { Agent } from "undici";

/**
 * Upstream addresses a connection may not reach unless GATEWAY_ALLOW_LINK_LOCAL_UPSTREAMS=true: link-local
 * ranges, where cloud metadata services answer (169.254.169.254 hands out the host's cloud credentials), and the
 * metadata addresses outside them. Checked on the address actually dialled: an IP in the base URL directly, a
 * name through the lookup the connector uses, so a DNS name pointing there is refused too. The admin API applies
 * the same rule when a connection is created or changed (`isForbiddenUpstreamUrl`), so the mistake shows at once.
 */

const FORBIDDEN = new BlockList();
FORBIDDEN.addSubnet("169.254.0.0", 16, "ipv4");
FORBIDDEN.addSubnet("fe80::", 10, "ipv6");
FORBIDDEN.addAddress("fd00:ec2::254", "ipv6");
FORBIDDEN.addAddress("100.100.100.200", "ipv4");

export const FORBIDDEN_ADDRESS_CODE = "ERR_UPSTREAM_ADDRESS_FORBIDDEN";

export function isForbiddenUpstreamAddress(address: string): boolean {
  const bare = address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address;
  const family = isIP(bare);
  if (family === 0) return false;
  return FORBIDDEN.check(bare, family === 4 ? "ipv4" : "ipv6");
}

const anyForbidden = (addresses: readonly LookupAddress[]) =>
  addresses.some((a) => isForbiddenUpstreamAddress(a.address));

function forbidden(hostname: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`upstream ${hostname} is a link-local or metadata address`), {
    code: FORBIDDEN_ADDRESS_CODE,
  });
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/** `dns.lookup` for the connector that fails when any resolved address is forbidden. */
export function guardedLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    if (anyForbidden(addresses)) return callback(forbidden(hostname), []);
    if (options.all) return callback(null, addresses);
    const first = addresses[0];
    if (!first)
      return callback(Object.assign(new Error(`no address for ${hostname}`), { code: "ENOTFOUND" }), []);
    callback(null, first.address, first.family);
  });
}

/** For an IP literal host (no lookup happens): the error to fail with, or undefined. */
export function forbiddenLiteral(hostname: string): NodeJS.ErrnoException | undefined {
  return isForbiddenUpstreamAddress(hostname) ? forbidden(hostname) : undefined;
}

/** Whether `err` (or an error it wraps, e.g. fetch's "fetch failed") is the forbidden-address refusal. */
export function isForbiddenAddressError(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; depth < 6 && current instanceof Error; depth++) {
    if ((current as NodeJS.ErrnoException).code === FORBIDDEN_ADDRESS_CODE) return true;
    current = current.cause;
  }
  return false;
}

/**
 * The guard for a client that dials upstreams itself (the MCP client and pass-through): `check` refuses an IP
 * literal before anything is sent (no lookup happens for those), `dispatcher` dials names through the guarded
 * lookup. With GATEWAY_ALLOW_LINK_LOCAL_UPSTREAMS=true both let everything through.
 */
export interface UpstreamAddressGuard {
  /** Throws the forbidden-address error when `url`'s host is a forbidden IP literal. */
  check(url: URL): void;
  dispatcher: Agent;
}

export function upstreamAddressGuard(allowLinkLocal: boolean): UpstreamAddressGuard {
  return {
    check(url) {
      const refused = allowLinkLocal ? undefined : forbiddenLiteral(url.hostname);
      if (refused) throw refused;
    },
    dispatcher: new Agent({ connect: allowLinkLocal ? {} : { lookup: guardedLookup } }),
  };
}

/**
 * Whether an upstream URL points at a forbidden address now: its IP literal, or any address its name resolves
 * to. A name that does not resolve (yet) is not refused here: forwarding checks every address it dials.
 */
export async function isForbiddenUpstreamUrl(url: string): Promise<boolean> {
  const hostname = URL.parse(url)?.hostname;
  if (!hostname) return false;
  const bare = hostname.startsWith("[") ? hostname.slice(1, -1) : hostname;
  if (isIP(bare) !== 0) return isForbiddenUpstreamAddress(bare);
  try {
    return anyForbidden(await lookupAll(hostname, { all: true }));
  } catch {
    return false;
  }
}
