import { BlockList, isIP } from "node:net";

const MAPPED_V4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

function family(ip: string): "ipv4" | "ipv6" | undefined {
  const v = isIP(ip);
  return v === 4 ? "ipv4" : v === 6 ? "ipv6" : undefined;
}

/** An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) is treated as its IPv4 address. */
function normalise(ip: string): string {
  const m = MAPPED_V4.exec(ip.trim());
  return m ? m[1]! : ip.trim();
}

/** True when `range` is a valid exact IP or CIDR (v4 or v6). */
export function isIpRange(range: string): boolean {
  const [addr, bits, extra] = range.trim().split("/");
  if (extra !== undefined || !addr) return false;
  const fam = family(addr);
  if (!fam) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (fam === "ipv4" ? 32 : 128);
}

/** Does `ip` fall inside `range` (CIDR or exact address)? Families must match; invalid input is false. */
export function ipMatchesRange(ip: string, range: string): boolean {
  if (!isIpRange(range)) return false;
  const addr = normalise(ip);
  const addrFamily = family(addr);
  if (!addrFamily) return false;
  const [net, bits] = range.trim().split("/") as [string, string | undefined];
  const netFamily = family(net);
  if (netFamily !== addrFamily) return false;
  const list = new BlockList();
  if (bits === undefined) list.addAddress(net, netFamily);
  else list.addSubnet(net, Number(bits), netFamily);
  return list.check(addr, addrFamily);
}

export function ipMatchesAny(ip: string, ranges: readonly string[]): boolean {
  return ranges.some((r) => ipMatchesRange(ip, r));
}
