import { createHash } from "node:crypto";
import { isIP } from "node:net";

/**
 * Log field sanitizer (spec/gateway.md §9). The key decides, first rule wins: IP keys are masked, secret keys
 * redacted, identity keys fingerprinted, other strings truncated. Applied recursively; list items use the parent
 * key. Deviations from Sigilum, all toward leaking less: an IP key is a key with an `ip` *word* (remote_ip,
 * clientIp), not any key containing "ip" ("description"); a secret key hides objects and lists whole, not only
 * their strings; credentials in URLs (`//user:pass@`) are masked in every string.
 */

export const REDACTED = "[redacted]";
export const TRUNCATED = "[truncated]";
export const MAX_DEPTH = 4;
export const MAX_STRING = 256;
const MAX_ITEMS = 50;
const MAX_STACK_LINES = 8;

const SECRET_MARKERS = [
  "token",
  "secret",
  "authorization",
  "authz",
  "cookie",
  "password",
  "passwd",
  "passphrase",
  "private",
  "signature",
  "cert",
  "api_key",
  "apikey",
  "credential",
  "master_key",
];
const FINGERPRINT_MARKERS = ["namespace", "public_key", "agent_key", "key_id", "claim_id"];

/** "remoteIP" → "remote_ip", "x-api-key" → "x_api_key". */
function normalizeKey(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1_$2")
    .toLowerCase()
    .replace(/-/g, "_");
}

type KeyRule = "ip" | "secret" | "fingerprint" | "plain";

const ruleCache = new Map<string, KeyRule>();

export function ruleForKey(key: string): KeyRule {
  const cached = ruleCache.get(key);
  if (cached) return cached;
  const norm = normalizeKey(key);
  let rule: KeyRule = "plain";
  if (norm.split("_").some((word) => /^ip(v?[46])?$/.test(word))) rule = "ip";
  else if (SECRET_MARKERS.some((m) => norm.includes(m))) rule = "secret";
  else if (FINGERPRINT_MARKERS.some((m) => norm.includes(m))) rule = "fingerprint";
  if (ruleCache.size < 10_000) ruleCache.set(key, rule);
  return rule;
}

/**
 * A bounded memo for pure string → string functions on the logging hot path (every decision line fingerprints a
 * namespace and masks an IP, and the same few values repeat). Only short inputs are kept and the map is emptied
 * when full, so hostile input can neither grow memory nor evict anything costly to rebuild.
 */
function memoize(fn: (value: string) => string, maxInputLength: number, maxEntries = 4096) {
  const memo = new Map<string, string>();
  return (value: string): string => {
    if (value.length > maxInputLength) return fn(value);
    let result = memo.get(value);
    if (result === undefined) {
      result = fn(value);
      if (memo.size >= maxEntries) memo.clear();
      memo.set(value, result);
    }
    return result;
  };
}

function computeFingerprint(value: string): string {
  const trimmed = value.trim();
  if (trimmed === "") return "";
  return `sha256:${createHash("sha256").update(trimmed).digest("hex").slice(0, 12)}`;
}

/** `sha256:` + the first 12 hex chars of SHA-256 of the trimmed value; "" stays "". */
export const fingerprint: (value: string) => string = memoize(computeFingerprint, MAX_STRING);

function stripPort(value: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(value);
  if (bracketed) return bracketed[1]!;
  // "a.b.c.d:port": exactly one colon. More colons is an IPv6 address without port.
  const parts = value.split(":");
  return parts.length === 2 ? parts[0]! : value;
}

function expandIpv6(address: string): number[] | undefined {
  let text = address.split("%")[0]!;
  const v4Tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4Tail) {
    const octets = v4Tail[1]!.split(".").map(Number);
    const hi = (octets[0]! << 8) | octets[1]!;
    const lo = (octets[2]! << 8) | octets[3]!;
    text = `${text.slice(0, -v4Tail[1]!.length)}${hi.toString(16)}:${lo.toString(16)}`;
  }
  const [head, tail] = text.split("::");
  const headParts = head ? head.split(":") : [];
  const tailParts = tail ? tail.split(":") : [];
  const missing = 8 - headParts.length - tailParts.length;
  if (text.includes("::") ? missing < 0 : missing !== 0) return undefined;
  const groups = [...headParts, ...Array(text.includes("::") ? missing : 0).fill("0"), ...tailParts];
  return groups.map((g) => Number.parseInt(g, 16));
}

const NOT_AN_IP = "";
const maskIpMemo = memoize((value) => computeMaskIp(value) ?? NOT_AN_IP, 64);

/** IPv4 → a.b.c.0/24, IPv6 → first 64 bits + /64 (IPv4-mapped → the IPv4 /24); undefined if not an IP. */
export function maskIp(value: string): string | undefined {
  const masked = maskIpMemo(value);
  return masked === NOT_AN_IP ? undefined : masked;
}

function computeMaskIp(value: string): string | undefined {
  const host = stripPort(value.trim());
  const family = isIP(host);
  if (family === 4) return `${host.split(".").slice(0, 3).join(".")}.0/24`;
  if (family !== 6) return undefined;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
  if (mapped) return computeMaskIp(mapped[1]!);
  const groups = expandIpv6(host);
  if (!groups) return undefined;
  const prefix = groups.slice(0, 4).map((g) => g.toString(16));
  // Compress trailing zero groups of the prefix ("2001:db8:0:0" → "2001:db8::").
  while (prefix.length > 0 && prefix[prefix.length - 1] === "0") prefix.pop();
  return `${prefix.join(":")}::/64`;
}

function maskUrlCredentials(value: string): string {
  return value.includes("@") ? value.replace(/\/\/[^/@\s]+@/g, "//***@") : value;
}

export function truncateString(value: string, max = MAX_STRING): string {
  return value.length > max ? `${value.slice(0, max)}...(truncated)` : value;
}

function sanitizeString(rule: KeyRule, value: string): string {
  if (value === "") return "";
  switch (rule) {
    case "secret":
      return REDACTED;
    case "ip":
      return maskIp(value) ?? fingerprint(value);
    case "fingerprint":
      return fingerprint(value);
    default:
      return truncateString(maskUrlCredentials(value));
  }
}

function sanitizeError(err: Error, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {
    type: err.name,
    message: truncateString(maskUrlCredentials(err.message)),
  };
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" || typeof code === "number") out.code = code;
  if (err.stack) {
    const frames = err.stack.split("\n").filter((l) => l.trimStart().startsWith("at "));
    out.stack = frames.slice(0, MAX_STACK_LINES).map((l) => truncateString(l.trim()));
  }
  if (err.cause !== undefined) out.cause = sanitizeValue("cause", err.cause, depth + 1);
  return out;
}

/** Sanitizes one value found under `key` at nesting `depth` (top-level fields are depth 1). */
export function sanitizeValue(key: string, value: unknown, depth: number): unknown {
  if (value === null || value === undefined) return value;
  if (typeof value === "number" || typeof value === "boolean") return value;
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "function" || typeof value === "symbol") return undefined;
  if (depth > MAX_DEPTH) return TRUNCATED;
  const rule = ruleForKey(key);
  if (typeof value === "string") return sanitizeString(rule, value);
  // A secret key hides whatever it holds: its nested keys could be anything.
  if (rule === "secret") return REDACTED;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? "invalid date" : value.toISOString();
  if (value instanceof URL) return sanitizeString(rule, value.href);
  if (value instanceof Uint8Array) return `[binary ${value.byteLength} bytes]`;
  if (value instanceof Error) return sanitizeError(value, depth);
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_ITEMS).map((item) => sanitizeValue(key, item, depth + 1));
    if (value.length > MAX_ITEMS) items.push(`[+${value.length - MAX_ITEMS} more]`);
    return items;
  }
  if (value instanceof Map) return sanitizeObject(Object.fromEntries(value), depth + 1);
  if (value instanceof Set) return sanitizeValue(key, [...value], depth);
  const proto = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null)
    return sanitizeObject(value as Record<string, unknown>, depth + 1);
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === "function") return sanitizeValue(key, toJSON.call(value), depth);
  // Class instances (sockets, requests, clients) would dump internals: name them instead.
  return `[${(value as object).constructor?.name ?? "object"}]`;
}

/** Sanitizes every field of a log object; `depth` is the depth of its fields (1 for a log line's own fields). */
export function sanitizeObject(obj: Readonly<Record<string, unknown>>, depth = 1): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const keys = Object.keys(obj);
  for (const key of keys.slice(0, MAX_ITEMS)) {
    const value = sanitizeValue(key, obj[key], depth);
    if (value !== undefined) out[key] = value;
  }
  if (keys.length > MAX_ITEMS) out["[more]"] = `[+${keys.length - MAX_ITEMS} keys]`;
  return out;
}
