import { badRequest } from "../errors.ts";
import { DAY_MS } from "../time.ts";
import {
  buildSubjectPolicies,
  normalizeMcpEndpoint,
  normalizePathPrefix,
  normalizeToolList,
  parseAuthMode,
  parseProtocolVersion,
  parseTransport,
  validateAuthHeaderName,
  validateAuthPrefix,
} from "./rules.ts";
import type { UpdateConnectionInput } from "./schemas.ts";
import type { ConnectionRecord } from "./types.ts";

/** Update (§5.3): partial, "empty means unchanged". */
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
