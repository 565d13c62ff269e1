import { z } from "zod";
import { badRequest } from "./errors.ts";
import { DAY_MS, formatTime } from "./time.ts";

/**
 * Connection model: what is stored (metadata, never a secret), the admin JSON shape of spec §5.1,
 * and the create / update / rotate rules of §5.2, §5.3, §5.11 in the reference's order and wording.
 * Where the reference marks a hazard we take the safer path (ids validated as safe slugs, base URLs
 * must be absolute http(s) without credentials, header names and values must be valid on the wire).
 */

export type Protocol = "http" | "mcp";
export type AuthMode = "bearer" | "header_key" | "query_param";
export type ConnectionStatus = "active" | "disabled";

export interface ToolPolicy {
  allowlist?: string[];
  denylist?: string[];
  max_tools_exposed?: number;
}

export interface McpDiscovery {
  server: { name?: string; version?: string; protocol_version?: string };
  tools?: { name: string; description?: string; input_schema?: string }[];
  last_discovered_at: number | null;
  last_discovery_error?: string;
}

/** Stored metadata. Times are epoch milliseconds, null when never set. */
export interface ConnectionRecord {
  id: string;
  name: string;
  protocol: Protocol;
  base_url: string;
  path_prefix: string;
  /** Encoded `/` and `\` (%2F, %5C) may appear inside a path segment (e.g. GitLab project ids); default false. */
  allow_encoded_slashes: boolean;
  auth_mode: AuthMode;
  auth_header_name: string;
  auth_prefix: string;
  auth_secret_key: string;
  credential_keys: string[];
  mcp_transport: string;
  mcp_endpoint: string;
  /** MCP protocol era towards the server: "" = detected, or a pinned revision (mcp/protocol.ts). */
  mcp_protocol_version?: string;
  mcp_tool_policy: ToolPolicy;
  mcp_subject_tool_policies: Record<string, ToolPolicy>;
  mcp_discovery: McpDiscovery;
  status: ConnectionStatus;
  created_at: number;
  updated_at: number;
  last_tested_at: number | null;
  last_test_status: "" | "pass" | "fail";
  last_test_http_status: number;
  last_test_error: string;
  last_rotated_at: number | null;
  rotation_interval_days: number;
  next_rotation_due_at: number | null;
  secret_version: number;
}

export type SecretMap = Record<string, string>;

// ---------------------------------------------------------------------------------------------
// Input shapes (types only; the rules below produce the reference's messages)

const optStr = z.string().nullish();
const optInt = z.number().int().nullish();
const strList = z.array(z.string()).nullish();
const policyInput = z.object({ allowlist: strList, denylist: strList, max_tools_exposed: optInt });

export const createConnectionInput = z.object({
  id: optStr,
  name: optStr,
  protocol: optStr,
  base_url: optStr,
  path_prefix: optStr,
  allow_encoded_slashes: z.boolean().nullish(),
  auth_mode: optStr,
  auth_header_name: optStr,
  auth_prefix: optStr,
  auth_secret_key: optStr,
  secrets: z.record(z.string(), z.string()).nullish(),
  rotation_interval_days: optInt,
  mcp_transport: optStr,
  mcp_endpoint: optStr,
  mcp_protocol_version: optStr,
  mcp_tool_allowlist: strList,
  mcp_tool_denylist: strList,
  mcp_max_tools_exposed: optInt,
  mcp_subject_tool_policies: z.record(z.string(), policyInput).nullish(),
});
export type CreateConnectionInput = z.infer<typeof createConnectionInput>;

export const updateConnectionInput = z.object({
  name: optStr,
  path_prefix: optStr,
  allow_encoded_slashes: z.boolean().nullish(),
  auth_mode: optStr,
  auth_header_name: optStr,
  auth_prefix: optStr,
  auth_secret_key: optStr,
  rotation_interval_days: optInt,
  status: optStr,
  mcp_endpoint: optStr,
  mcp_transport: optStr,
  mcp_protocol_version: optStr,
  mcp_tool_allowlist: strList,
  mcp_tool_denylist: strList,
  mcp_max_tools_exposed: optInt,
  mcp_subject_tool_policies: z.record(z.string(), policyInput).nullish(),
});
export type UpdateConnectionInput = z.infer<typeof updateConnectionInput>;

export const rotateConnectionInput = z.object({
  secrets: z.record(z.string(), z.string()).nullish(),
  rotated_by: optStr,
  rotation_reason: optStr,
});
export type RotateConnectionInput = z.infer<typeof rotateConnectionInput>;

// ---------------------------------------------------------------------------------------------
// Small rules

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
// Characters that would split or corrupt a header line, or a query parameter.
const UNSAFE_VALUE_RE = /[\u0000-\u0008\u000a-\u001f\u007f]/;

export function hasUnsafeHeaderChars(value: string): boolean {
  return UNSAFE_VALUE_RE.test(value);
}

function validateAuthHeaderName(mode: AuthMode, name: string): void {
  if (mode === "query_param") {
    if (hasUnsafeHeaderChars(name)) throw badRequest("invalid auth_header_name: contains control characters");
    return;
  }
  if (!HEADER_TOKEN_RE.test(name)) throw badRequest(`invalid auth_header_name: ${JSON.stringify(name)}`);
  if (FORBIDDEN_AUTH_HEADERS.has(name.toLowerCase()) || name.toLowerCase().startsWith("x-sigilum-")) {
    throw badRequest(`invalid auth_header_name: ${JSON.stringify(name)} cannot carry a credential`);
  }
}

function validateAuthPrefix(prefix: string): void {
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

function normalizeToolList(list: string[] | null | undefined): string[] | undefined {
  if (!list) return undefined;
  const out = [...new Set(list.map((s) => s.trim()).filter((s) => s !== ""))].sort();
  return out.length > 0 ? out : undefined;
}

function buildPolicy(
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

function buildSubjectPolicies(
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
function parseProtocolVersion(raw: string | null | undefined): string {
  const v = (raw ?? "").trim().toLowerCase();
  if (v === "" || v === "auto") return "";
  if (PINNED_PROTOCOL_VERSIONS.has(v)) return v;
  throw badRequest(
    `invalid mcp_protocol_version: ${raw} (expected auto, 2025-06-18, 2025-11-25 or 2026-07-28)`,
  );
}

function parseTransport(raw: string | null | undefined): string {
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

function defaultHeaderName(mode: AuthMode): string {
  return mode === "query_param" ? "api_key" : "Authorization";
}

// ---------------------------------------------------------------------------------------------
// Create (§5.2)

export function buildNewConnection(
  input: CreateConnectionInput,
  now: number,
): { record: ConnectionRecord; secrets: SecretMap } {
  let id = (input.id ?? "").trim();
  const rawName = (input.name ?? "").trim();
  if (id === "") id = slugify(rawName);
  if (id === "") throw badRequest("id or name is required");
  if (!isSafeConnectionId(id)) {
    throw badRequest(
      "invalid id: use 3-64 characters of a-z, 0-9 and -, starting and ending with a letter or digit",
    );
  }
  const name = rawName === "" ? id : rawName;
  const base_url = normalizeBaseUrl(input.base_url);
  const protocol = parseProtocol(input.protocol);
  const auth_mode = parseAuthMode(input.auth_mode) || "bearer";
  const auth_header_name = (input.auth_header_name ?? "").trim() || defaultHeaderName(auth_mode);
  validateAuthHeaderName(auth_mode, auth_header_name);
  let auth_prefix = input.auth_prefix ?? "";
  if (auth_prefix === "" && auth_mode === "bearer") auth_prefix = "Bearer ";
  validateAuthPrefix(auth_prefix);
  const secrets = normalizeSecrets(input.secrets);
  const auth_secret_key = (input.auth_secret_key ?? "").trim();
  if (auth_secret_key !== "" && !(auth_secret_key in secrets)) {
    throw badRequest(`auth_secret_key "${auth_secret_key}" is not present in secrets`);
  }
  if (protocol === "http") {
    if (auth_secret_key === "") throw badRequest("auth_secret_key is required");
    if (Object.keys(secrets).length === 0) throw badRequest("secrets are required");
  }

  const hasMcpFields =
    (input.mcp_transport ?? "").trim() !== "" ||
    (input.mcp_endpoint ?? "").trim() !== "" ||
    (input.mcp_protocol_version ?? "").trim() !== "" ||
    (input.mcp_tool_allowlist?.length ?? 0) > 0 ||
    (input.mcp_tool_denylist?.length ?? 0) > 0 ||
    (input.mcp_max_tools_exposed ?? 0) > 0 ||
    Object.keys(input.mcp_subject_tool_policies ?? {}).length > 0;
  if (protocol !== "mcp" && hasMcpFields) throw badRequest('mcp fields require protocol="mcp"');

  let mcp_transport = "";
  let mcp_endpoint = "";
  let mcp_protocol_version = "";
  let mcp_tool_policy: ToolPolicy = {};
  let mcp_subject_tool_policies: Record<string, ToolPolicy> = {};
  if (protocol === "mcp") {
    mcp_transport = parseTransport(input.mcp_transport);
    mcp_subject_tool_policies = buildSubjectPolicies(input.mcp_subject_tool_policies);
    mcp_tool_policy = buildPolicy(
      input.mcp_tool_allowlist,
      input.mcp_tool_denylist,
      input.mcp_max_tools_exposed,
    );
    mcp_endpoint = normalizeMcpEndpoint(input.mcp_endpoint ?? "");
    mcp_protocol_version = parseProtocolVersion(input.mcp_protocol_version);
  }

  const interval = input.rotation_interval_days ?? 0;
  const record: ConnectionRecord = {
    id,
    name,
    protocol,
    base_url,
    path_prefix: normalizePathPrefix(input.path_prefix),
    allow_encoded_slashes: input.allow_encoded_slashes ?? false,
    auth_mode,
    auth_header_name,
    auth_prefix,
    auth_secret_key,
    credential_keys: Object.keys(secrets).sort(),
    mcp_transport,
    mcp_endpoint,
    ...(mcp_protocol_version ? { mcp_protocol_version } : {}),
    mcp_tool_policy,
    mcp_subject_tool_policies,
    mcp_discovery: { server: {}, last_discovered_at: null },
    status: "active",
    created_at: now,
    updated_at: now,
    last_tested_at: null,
    last_test_status: "",
    last_test_http_status: 0,
    last_test_error: "",
    last_rotated_at: now,
    rotation_interval_days: interval,
    next_rotation_due_at: interval > 0 ? now + interval * DAY_MS : null,
    secret_version: 1,
  };
  return { record, secrets };
}

// ---------------------------------------------------------------------------------------------
// Update (§5.3): partial, "empty means unchanged"

export function applyConnectionUpdate(
  current: ConnectionRecord,
  input: UpdateConnectionInput,
  now: number,
): ConnectionRecord {
  const next: ConnectionRecord = structuredClone(current);
  const name = (input.name ?? "").trim();
  if (name !== "") next.name = name;
  if ((input.path_prefix ?? "").trim() !== "") next.path_prefix = normalizePathPrefix(input.path_prefix);
  if (input.allow_encoded_slashes !== undefined && input.allow_encoded_slashes !== null) {
    next.allow_encoded_slashes = input.allow_encoded_slashes;
  }

  const mode = parseAuthMode(input.auth_mode);
  const modeChanged = mode !== "" && mode !== current.auth_mode;
  if (mode !== "") next.auth_mode = mode;

  const headerName = (input.auth_header_name ?? "").trim();
  if (headerName !== "") next.auth_header_name = headerName;
  else if (modeChanged) {
    if (next.auth_mode === "query_param") next.auth_header_name = "api_key";
    else if (next.auth_header_name === "") next.auth_header_name = "Authorization";
  }
  const prefix = input.auth_prefix ?? "";
  if (prefix !== "") next.auth_prefix = prefix;
  else if (modeChanged) next.auth_prefix = next.auth_mode === "bearer" ? "Bearer " : "";
  if (next.auth_mode === "query_param" && next.auth_header_name === "") next.auth_header_name = "api_key";
  validateAuthHeaderName(next.auth_mode, next.auth_header_name);
  validateAuthPrefix(next.auth_prefix);

  const secretKey = (input.auth_secret_key ?? "").trim();
  if (secretKey !== "") {
    if (next.credential_keys.length > 0 && !next.credential_keys.includes(secretKey)) {
      throw badRequest(`auth_secret_key "${secretKey}" is not configured for connection`);
    }
    next.auth_secret_key = secretKey;
  }

  const interval = input.rotation_interval_days ?? 0;
  if (interval > 0) {
    next.rotation_interval_days = interval;
    if (next.last_rotated_at !== null) next.next_rotation_due_at = next.last_rotated_at + interval * DAY_MS;
  }

  const status = (input.status ?? "").trim();
  if (status !== "") {
    if (status !== "active" && status !== "disabled") throw badRequest(`invalid status: ${status}`);
    next.status = status;
  }

  const touchesMcp =
    (input.mcp_endpoint ?? "").trim() !== "" ||
    (input.mcp_transport ?? "").trim() !== "" ||
    (input.mcp_protocol_version ?? "").trim() !== "" ||
    input.mcp_tool_allowlist != null ||
    input.mcp_tool_denylist != null ||
    input.mcp_max_tools_exposed != null ||
    input.mcp_subject_tool_policies != null;
  if (touchesMcp && next.protocol !== "mcp") {
    throw badRequest("mcp fields can only be updated when protocol is mcp");
  }
  if (next.protocol === "mcp") {
    if ((input.mcp_endpoint ?? "").trim() !== "")
      next.mcp_endpoint = normalizeMcpEndpoint(input.mcp_endpoint ?? "");
    if ((input.mcp_transport ?? "").trim() !== "") next.mcp_transport = parseTransport(input.mcp_transport);
    if ((input.mcp_protocol_version ?? "").trim() !== "") {
      const version = parseProtocolVersion(input.mcp_protocol_version);
      if (version === "") delete next.mcp_protocol_version;
      else next.mcp_protocol_version = version;
    }
    const policy = { ...next.mcp_tool_policy };
    if (input.mcp_tool_allowlist != null) {
      const list = normalizeToolList(input.mcp_tool_allowlist);
      if (list) policy.allowlist = list;
      else delete policy.allowlist;
    }
    if (input.mcp_tool_denylist != null) {
      const list = normalizeToolList(input.mcp_tool_denylist);
      if (list) policy.denylist = list;
      else delete policy.denylist;
    }
    if (input.mcp_max_tools_exposed != null) {
      if (input.mcp_max_tools_exposed < 0) throw badRequest("mcp_max_tools_exposed must be >= 0");
      if (input.mcp_max_tools_exposed > 0) policy.max_tools_exposed = input.mcp_max_tools_exposed;
      else delete policy.max_tools_exposed;
    }
    next.mcp_tool_policy = policy;
    if (input.mcp_subject_tool_policies != null) {
      next.mcp_subject_tool_policies = buildSubjectPolicies(input.mcp_subject_tool_policies);
    }
  }
  next.updated_at = now;
  return next;
}

// ---------------------------------------------------------------------------------------------
// Rotate (§5.11)

export function applyRotation(
  current: ConnectionRecord,
  currentSecrets: SecretMap,
  input: RotateConnectionInput,
  now: number,
): { record: ConnectionRecord; secrets: SecretMap } {
  const incoming = normalizeSecrets(input.secrets);
  const merged: SecretMap = { ...currentSecrets };
  let changed = false;
  for (const [key, value] of Object.entries(incoming)) {
    if (merged[key] !== value) {
      merged[key] = value;
      changed = true;
    }
  }
  if (!changed) throw badRequest("secrets are required");
  if (current.auth_secret_key !== "" && !(current.auth_secret_key in merged)) {
    throw badRequest(`auth_secret_key "${current.auth_secret_key}" is missing from provided secrets`);
  }
  const record: ConnectionRecord = {
    ...structuredClone(current),
    secret_version: current.secret_version + 1,
    last_rotated_at: now,
    updated_at: now,
    credential_keys: Object.keys(merged).sort(),
    next_rotation_due_at:
      current.rotation_interval_days > 0
        ? now + current.rotation_interval_days * DAY_MS
        : current.next_rotation_due_at,
  };
  return { record, secrets: merged };
}

// ---------------------------------------------------------------------------------------------
// Admin JSON (§5.1): never a secret; omissions as the reference emits them

export function toConnectionJson(c: ConnectionRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: c.id,
    name: c.name,
    protocol: c.protocol,
    base_url: c.base_url,
  };
  if (c.path_prefix) out["path_prefix"] = c.path_prefix;
  if (c.allow_encoded_slashes) out["allow_encoded_slashes"] = true;
  out["auth_mode"] = c.auth_mode;
  out["auth_header_name"] = c.auth_header_name;
  out["auth_prefix"] = c.auth_prefix;
  if (c.auth_secret_key) out["auth_secret_key"] = c.auth_secret_key;
  if (c.credential_keys.length > 0) out["credential_keys"] = [...c.credential_keys];
  if (c.mcp_transport) out["mcp_transport"] = c.mcp_transport;
  if (c.mcp_endpoint) out["mcp_endpoint"] = c.mcp_endpoint;
  if (c.mcp_protocol_version) out["mcp_protocol_version"] = c.mcp_protocol_version;
  out["mcp_tool_policy"] = c.mcp_tool_policy;
  if (Object.keys(c.mcp_subject_tool_policies).length > 0) {
    out["mcp_subject_tool_policies"] = c.mcp_subject_tool_policies;
  }
  const discovery: Record<string, unknown> = { server: c.mcp_discovery.server };
  if (c.mcp_discovery.tools && c.mcp_discovery.tools.length > 0) discovery["tools"] = c.mcp_discovery.tools;
  discovery["last_discovered_at"] = formatTime(c.mcp_discovery.last_discovered_at);
  if (c.mcp_discovery.last_discovery_error)
    discovery["last_discovery_error"] = c.mcp_discovery.last_discovery_error;
  out["mcp_discovery"] = discovery;
  out["status"] = c.status;
  out["created_at"] = formatTime(c.created_at);
  out["updated_at"] = formatTime(c.updated_at);
  out["last_tested_at"] = formatTime(c.last_tested_at);
  if (c.last_test_status) out["last_test_status"] = c.last_test_status;
  if (c.last_test_http_status) out["last_test_http_status"] = c.last_test_http_status;
  if (c.last_test_error) out["last_test_error"] = c.last_test_error;
  out["last_rotated_at"] = formatTime(c.last_rotated_at);
  if (c.rotation_interval_days) out["rotation_interval_days"] = c.rotation_interval_days;
  out["next_rotation_due_at"] = formatTime(c.next_rotation_due_at);
  out["secret_version"] = c.secret_version;
  return out;
}

/** Stored metadata schema: parsed on every read so a corrupt record fails loudly instead of forwarding wrongly. */
const policySchema = z.object({
  allowlist: z.array(z.string()).optional(),
  denylist: z.array(z.string()).optional(),
  max_tools_exposed: z.number().int().optional(),
});
export const connectionRecordSchema = z.object({
  id: z.string(),
  name: z.string(),
  protocol: z.enum(["http", "mcp"]),
  base_url: z.string(),
  path_prefix: z.string(),
  // Records written before the option existed read as false.
  allow_encoded_slashes: z.boolean().default(false),
  auth_mode: z.enum(["bearer", "header_key", "query_param"]),
  auth_header_name: z.string(),
  auth_prefix: z.string(),
  auth_secret_key: z.string(),
  credential_keys: z.array(z.string()),
  mcp_transport: z.string(),
  mcp_endpoint: z.string(),
  mcp_protocol_version: z.string().optional(),
  mcp_tool_policy: policySchema,
  mcp_subject_tool_policies: z.record(z.string(), policySchema),
  mcp_discovery: z.object({
    server: z.object({
      name: z.string().optional(),
      version: z.string().optional(),
      protocol_version: z.string().optional(),
    }),
    tools: z
      .array(
        z.object({
          name: z.string(),
          description: z.string().optional(),
          input_schema: z.string().optional(),
        }),
      )
      .optional(),
    last_discovered_at: z.number().nullable(),
    last_discovery_error: z.string().optional(),
  }),
  status: z.enum(["active", "disabled"]),
  created_at: z.number(),
  updated_at: z.number(),
  last_tested_at: z.number().nullable(),
  last_test_status: z.enum(["", "pass", "fail"]),
  last_test_http_status: z.number().int(),
  last_test_error: z.string(),
  last_rotated_at: z.number().nullable(),
  rotation_interval_days: z.number().int(),
  next_rotation_due_at: z.number().nullable(),
  secret_version: z.number().int().positive(),
}) satisfies z.ZodType<ConnectionRecord>;
