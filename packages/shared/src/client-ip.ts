import type { IncomingMessage } from "node:http";
import { BlockList, isIP } from "node:net";

/**
 * Client address (spec §7.3): X-Forwarded-For is honoured only when the direct peer is inside
 * GATEWAY_TRUSTED_PROXY_CIDRS; otherwise the socket peer is the client. We take the RIGHT-most entry, the one the
 * trusted proxy appended itself (Envoy with use_remote_address): the reference takes the left-most, which is
 * whatever the client claimed, so `X-Forwarded-For: 127.0.0.1` would pass a loopback-only admin check.
 */

export interface TrustedProxies {
  contains(ip: string | undefined): boolean;
}

export function createTrustedProxies(cidrs: readonly string[]): TrustedProxies {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address, prefix] = cidr.split("/");
    const family = isIP(address ?? "");
    if (family === 0) throw new Error(`invalid trusted proxy CIDR ${JSON.stringify(cidr)}`);
    list.addSubnet(address!, Number(prefix ?? (family === 4 ? 32 : 128)), family === 4 ? "ipv4" : "ipv6");
  }
  const empty = cidrs.length === 0;
  return {
    contains(ip) {
      if (empty || !ip) return false;
      const bare = unmapIPv4(ip);
      const family = isIP(bare);
      if (family === 0) return false;
      return list.check(bare, family === 4 ? "ipv4" : "ipv6");
    },
  };
}

/** `::ffff:127.0.0.1` → `127.0.0.1`. */
export function unmapIPv4(ip: string): string {
  return ip.startsWith("::ffff:") && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

export function peerIp(req: IncomingMessage): string {
  const address = req.socket.remoteAddress;
  return address ? unmapIPv4(address) : "127.0.0.1";
}

function firstHeader(value: string | string[] | undefined): string {
  if (value === undefined) return "";
  return Array.isArray(value) ? (value[0] ?? "") : value;
}

/** The client's address from a socket peer, whether that peer is a trusted proxy, and its x-forwarded-for value. */
export function clientIpFrom(
  peer: string | undefined,
  forwardedFor: string | undefined,
  peerTrusted: boolean,
): string {
  const direct = peer ? unmapIPv4(peer) : "127.0.0.1";
  if (!forwardedFor || !peerTrusted) return direct;
  const entries = forwardedFor.split(",");
  const last = unmapIPv4(entries[entries.length - 1]?.trim() ?? "");
  return isIP(last) ? last : direct;
}

export function clientIp(req: IncomingMessage, trusted: TrustedProxies): string {
  const peer = req.socket.remoteAddress;
  return clientIpFrom(peer, firstHeader(req.headers["x-forwarded-for"]), trusted.contains(peer));
}

export function isLoopback(ip: string): boolean {
  const value = unmapIPv4(ip.trim());
  if (value.toLowerCase() === "localhost") return true;
  if (isIP(value) === 4) return value.startsWith("127.");
  return value === "::1";
}

/** Scheme the agent used: `x-forwarded-proto` (http|https) from a trusted proxy, else plain http (spec §2.2). */
export function forwardedScheme(req: IncomingMessage, trusted: TrustedProxies): "http" | "https" {
  if (!trusted.contains(peerIp(req))) return "http";
  const proto = firstHeader(req.headers["x-forwarded-proto"]).split(",")[0]?.trim().toLowerCase();
  return proto === "https" ? "https" : "http";
}
