import type { RelayMethod } from "@sigilum-gw/shared/pairing-frames";

/**
 * What a relayed command may reach on the proxy: the reference bridge's allowlist (spec §B.6) of admin paths and
 * methods, query strings and fragments refused, the path normalised before matching. Headers: only `accept`,
 * `content-type` and `x-request-id` pass. The owner's side never sends admin credentials (`authorization`,
 * `x-sigilum-admin-token` are dropped): the bridge adds its own admin token.
 */

const ID = "[A-Za-z0-9._-]+";
const RULES: ReadonlyArray<{ methods: readonly RelayMethod[]; path: RegExp }> = [
  { methods: ["GET"], path: /^\/health$/ },
  { methods: ["GET", "POST"], path: /^\/api\/admin\/connections$/ },
  { methods: ["GET", "PATCH", "DELETE"], path: new RegExp(`^/api/admin/connections/${ID}$`) },
  { methods: ["POST"], path: new RegExp(`^/api/admin/connections/${ID}/(rotate|test|discover)$`) },
  { methods: ["GET", "POST"], path: /^\/api\/admin\/credential-variables$/ },
  { methods: ["DELETE"], path: new RegExp(`^/api/admin/credential-variables/${ID}$`) },
  { methods: ["GET", "PUT"], path: /^\/api\/admin\/service-catalog$/ },
];

const RELAYED_HEADERS = new Set(["accept", "content-type", "x-request-id"]);

/** The normalised path when (method, path) may be relayed, else null. */
export function allowedPath(method: RelayMethod, rawPath: string): string | null {
  if (!rawPath.startsWith("/") || rawPath.startsWith("//") || /[?#\\]/.test(rawPath)) return null;
  let path: string;
  try {
    path = new URL(rawPath, "http://gateway.invalid").pathname;
  } catch {
    return null;
  }
  // `..` segments resolved by URL must not change where the command goes: compare with the raw text.
  if (path !== rawPath) return null;
  return RULES.some((rule) => rule.methods.includes(method) && rule.path.test(path)) ? path : null;
}

export function relayedHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (RELAYED_HEADERS.has(lower)) out[lower] = value.trim();
  }
  return out;
}
