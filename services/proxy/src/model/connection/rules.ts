import type { z } from "zod";
import { badRequest } from "../errors.ts";
import { hasUnsafeHeaderChars } from "../wire.ts";
import type { policyInput } from "./schemas.ts";
import type { AuthMode, Protocol, SecretMap, ToolPolicy } from "./types.ts";

/** The small rules create, update and rotate share: ids, names, URLs, header names and values, tool policies. */

/** Safe connection id (spec §1.5): 3–64 chars of [a-z0-9-], first and last alphanumeric. */
export const SAFE_ID_RE = /^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$/;
export const isSafeConnectionId = (id: string) => SAFE_ID_RE.test(id);

export function slugify(value: string): string {
  return value
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
}

const HEADER_TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers a connection may never inject: framing, routing and hop-by-hop headers. */
const FORBIDDEN_AUTH_HEADERS = new Set([
  "host",
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "upgrade",
  "expect",
]);

export function validateAuthHeaderName(mode: AuthMode, name: string): void {
  if (mode === "query_param") {
    if (hasUnsafeHeaderChars(name)) throw badRequest("invalid auth_header_name: contains control characters");
    return;
  }
  if (!HEADER_TOKEN_RE.test(name)) throw badRequest(`invalid auth_header_name: ${JSON.stringify(name)}`);
  if (FORBIDDEN_AUTH_HEADERS.has(name.toLowerCase()) || name.toLowerCase().startsWith("x-sigilum-")) {
    throw badRequest(`invalid auth_header_name: ${JSON.stringify(name)} cannot carry a credential`);
  }
}

export function validateAuthPrefix(prefix: string): void {
  if (hasUnsafeHeaderChars(prefix)) throw badRequest("invalid auth_prefix: contains control characters");
}

export function parseProtocol(raw: string | null | undefined): Protocol {
  const v = (raw ?? "").trim().toLowerCase();
  if (v === "") return "http";
  if (v === "http" || v === "mcp") return v;
  throw badRequest(`invalid protocol: ${raw}`);
}

export function parseAuthMode(raw: string | null | undefined): AuthMode | "" {
  const v = (raw ?? "").trim();
  if (v === "") return "";
  if (v === "bearer" || v === "header_key" || v === "query_param") return v;
  throw badRequest(`invalid auth_mode: ${raw}`);
}

/**
 * base_url must be an absolute http(s) URL with a host. The reference accepts any request URI (even `/x`);
 * we refuse what cannot be a provider endpoint, and userinfo (it would sit in clear in the metadata).
 */
export function normalizeBaseUrl(raw: string | null | undefined): string {
  const value = (raw ?? "").trim();
  if (value === "") throw badRequest("base_url is required");
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw badRequest(`invalid base_url: ${value}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw badRequest(`invalid base_url: scheme must be http or https`);
  }
  if (url.hostname === "") throw badRequest("invalid base_url: host is required");
  if (url.username !== "" || url.password !== "") {
    throw badRequest("invalid base_url: credentials in the URL are not allowed; use secrets");
  }
  if (url.search !== "" || url.hash !== "" || value.includes("?") || value.includes("#")) {
    throw badRequest("invalid base_url: query and fragment are not allowed");
  }
  return value.replace(/\/+$/, "");
}

export function normalizePathPrefix(raw: string | null | undefined): string {
  const value = (raw ?? "").trim();
  if (value === "") return "";
  const withSlash = value.startsWith("/") ? value : `/${value}`;
  const stripped = withSlash.replace(/\/+$/, "");
  for (const segment of stripped.split("/")) {
    if (segment === "." || segment === "..")
      throw badRequest("invalid path_prefix: dot segments are not allowed");
  }
  if (hasUnsafeHeaderChars(stripped) || stripped.includes("?") || stripped.includes("#")) {
    throw badRequest("invalid path_prefix");
  }
  return stripped;
}

export function normalizeMcpEndpoint(raw: string): string {
  const v = raw.trim();
  if (v === "" || v === "/") return "/";
  if (v.startsWith("http://") || v.startsWith("https://")) return v.replace(/\/+$/, "");
  return `/${v.replace(/^\/+|\/+$/g, "")}`;
}

export function normalizeToolList(list: string[] | null | undefined): string[] | undefined {
  if (!list) return undefined;
  const out = [...new Set(list.map((s) => s.trim()).filter((s) => s !== ""))].sort();
  return out.length > 0 ? out : undefined;
}

export function buildPolicy(
  allow: string[] | null | undefined,
  deny: string[] | null | undefined,
  max: number | null | undefined,
): ToolPolicy {
  if ((max ?? 0) < 0) throw badRequest("mcp_max_tools_exposed must be >= 0");
  const policy: ToolPolicy = {};
  const allowlist = normalizeToolList(allow);
  const denylist = normalizeToolList(deny);
  if (allowlist) policy.allowlist = allowlist;
  if (denylist) policy.denylist = denylist;
  if (max && max > 0) policy.max_tools_exposed = max;
  return policy;
}

export function buildSubjectPolicies(
  input: Record<string, z.infer<typeof policyInput>> | null | undefined,
): Record<string, ToolPolicy> {
  const out: Record<string, ToolPolicy> = {};
  for (const [rawSubject, p] of Object.entries(input ?? {})) {
    const subject = rawSubject.trim();
    if (subject === "") throw badRequest("mcp_subject_tool_policies contains an empty subject key");
    out[subject] = buildPolicy(p.allowlist, p.denylist, p.max_tools_exposed);
  }
  return out;
}

const PINNED_PROTOCOL_VERSIONS = new Set(["2025-06-18", "2025-11-25", "2026-07-28"]);

/** "" or "auto" → "" (detected); else one of the revisions the gateway speaks. */
export function parseProtocolVersion(raw: string | null | undefined): string {
  const v = (raw ?? "").trim().toLowerCase();
  if (v === "" || v === "auto") return "";
  if (PINNED_PROTOCOL_VERSIONS.has(v)) return v;
  throw badRequest(
    `invalid mcp_protocol_version: ${raw} (expected auto, 2025-06-18, 2025-11-25 or 2026-07-28)`,
  );
}

export function parseTransport(raw: string | null | undefined): string {
  const v = (raw ?? "").trim();
  if (v === "" || v.toLowerCase() === "streamable_http") return "streamable_http";
  throw badRequest(`invalid mcp_transport: ${raw}`);
}

/** Secret map rules: keys trimmed and non-empty, values trimmed, empty values dropped, no control characters. */
export function normalizeSecrets(input: Record<string, string> | null | undefined): SecretMap {
  const out: SecretMap = {};
  for (const [rawKey, rawValue] of Object.entries(input ?? {})) {
    const key = rawKey.trim();
    if (key === "") throw badRequest("secret key cannot be empty");
    const value = rawValue.trim();
    if (value === "") continue;
    if (hasUnsafeHeaderChars(value)) throw badRequest(`secret "${key}" contains control characters`);
    out[key] = value;
  }
  return out;
}

export function defaultHeaderName(mode: AuthMode): string {
  return mode === "query_param" ? "api_key" : "Authorization";
}
