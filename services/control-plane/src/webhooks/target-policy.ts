import { lookup } from "node:dns/promises";
import { isIP, type LookupFunction } from "node:net";
import { ipMatchesAny } from "../net/ip-ranges.ts";

/**
 * SSRF rules for webhook targets (spec §A.9): http(s) only, never the literal `localhost`, and no address in a
 * private, loopback, link-local, shared, documentation or multicast range unless WEBHOOK_ALLOW_PRIVATE_TARGETS.
 * Checked when a webhook is created and again on every delivery, on the address actually connected to (the
 * delivery's DNS lookup goes through `guardedLookup`), so a name that later resolves inward (DNS rebinding) is
 * refused too. A name that does not resolve fails closed.
 */

const BLOCKED = [
  "0.0.0.0/8",
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.0.0.0/24",
  "192.168.0.0/16",
  "198.18.0.0/15",
  "198.51.100.0/24",
  "203.0.113.0/24",
  "224.0.0.0/3",
  "::/128",
  "::1/128",
  "fc00::/7",
  "fe80::/10",
  "ff00::/8",
  "2001:db8::/32",
];

export class TargetRefused extends Error {
  override name = "TargetRefused";
}

export interface TargetPolicy {
  allowPrivate: boolean;
}

const MAPPED_HEX = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i;

/** `::ffff:7f00:1` (how URLs spell a mapped address) → `127.0.0.1`, so it meets the IPv4 rules. */
function unmapped(address: string): string {
  const m = MAPPED_HEX.exec(address);
  if (!m) return address;
  const [hi, lo] = [Number.parseInt(m[1]!, 16), Number.parseInt(m[2]!, 16)];
  return [hi >> 8, hi & 255, lo >> 8, lo & 255].join(".");
}

export function checkAddress(address: string, policy: TargetPolicy): void {
  if (!policy.allowPrivate && ipMatchesAny(unmapped(address), BLOCKED)) {
    throw new TargetRefused(`Hostname resolves to non-public IP address (${address})`);
  }
}

/** The URL when it is an acceptable webhook target; throws TargetRefused with the reason otherwise. */
export async function checkTarget(raw: string, policy: TargetPolicy): Promise<URL> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TargetRefused("Invalid URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new TargetRefused("Only http and https are allowed");
  if (url.username || url.password) throw new TargetRefused("Credentials in the URL are not allowed");
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (host === "localhost" || host.endsWith(".localhost"))
    throw new TargetRefused("localhost is not allowed");
  if (isIP(host)) {
    checkAddress(host, policy);
    return url;
  }
  let addresses: { address: string }[];
  try {
    addresses = await lookup(host, { all: true });
  } catch (err) {
    throw new TargetRefused(`Unable to resolve hostname safely: ${(err as Error).message}`);
  }
  if (addresses.length === 0) throw new TargetRefused("Hostname did not resolve to an IP address");
  for (const { address } of addresses) checkAddress(address, policy);
  return url;
}

/** A `lookup` for http(s).request that refuses blocked addresses at connect time. */
export function guardedLookup(policy: TargetPolicy): LookupFunction {
  return (hostname, options, callback) => {
    lookup(hostname, { ...options, all: true }).then(
      (addresses) => {
        try {
          for (const { address } of addresses) checkAddress(address, policy);
        } catch (err) {
          return callback(err as NodeJS.ErrnoException, "", 0);
        }
        if (options.all) return callback(null, addresses);
        const first = addresses[0];
        if (!first)
          return callback(new TargetRefused("Hostname did not resolve") as NodeJS.ErrnoException, "", 0);
        callback(null, first.address, first.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, "", 0),
    );
  };
}
