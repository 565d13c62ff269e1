import { badRequest } from "../errors.ts";
import { DAY_MS } from "../time.ts";
import {
  buildPolicy,
  buildSubjectPolicies,
  defaultHeaderName,
  isSafeConnectionId,
  normalizeBaseUrl,
  normalizeMcpEndpoint,
  normalizePathPrefix,
  normalizeSecrets,
  parseAuthMode,
  parseProtocol,
  parseProtocolVersion,
  parseTransport,
  slugify,
  validateAuthHeaderName,
  validateAuthPrefix,
} from "./rules.ts";
import type { CreateConnectionInput } from "./schemas.ts";
import type { ConnectionRecord, SecretMap, ToolPolicy } from "./types.ts";

/** Create (§5.2). */
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
