/**
 * Connection model: what is stored (metadata, never a secret). The admin JSON shape of spec §5.1 is in json.ts,
 * the create / update / rotate rules of §5.2, §5.3, §5.11 (in the reference's order and wording) in create.ts,
 * update.ts and rotate.ts, the small rules they share in rules.ts. Where the reference marks a hazard we take
 * the safer path (ids validated as safe slugs, base URLs must be absolute http(s) without credentials, header
 * names and values must be valid on the wire).
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
