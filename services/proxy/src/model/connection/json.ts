import { formatTime } from "../time.ts";
import type { ConnectionRecord } from "./types.ts";

/** Admin JSON (§5.1): never a secret; omissions as the reference emits them. */
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
