import { GatewayError } from "@sigilum-gw/shared/errors";
import { isSafeConnectionId } from "../model/connection/rules.ts";

/**
 * `/mcp/...` routes (spec §1.9): `/mcp/{id}/tools`, `/mcp/{id}/tools/{tool}/explain`, `/mcp/{id}/tools/{tool}/call`,
 * and `/mcp/{id}` itself, the pass-through for agents that speak MCP. The tool segment is percent-decoded once
 * (the reference decodes twice, so `%252F` would become `/`).
 */

export const INVALID_MCP_PATH =
  "invalid mcp path, expected /mcp/{connection_id}/tools, /mcp/{connection_id}/tools/{tool}/call, or /mcp/{connection_id}/tools/{tool}/explain";

export type McpAction = "list" | "explain" | "call" | "passthrough";

export interface McpRoute {
  kind: "mcp";
  action: McpAction;
  connectionId: string;
  /** Decoded tool name ("" for list and pass-through). */
  tool: string;
  /** The `refresh` query parameter, null when absent. */
  refresh: string | null;
}

function invalid(): never {
  throw new GatewayError("INVALID_REQUEST", INVALID_MCP_PATH);
}

function decode(raw: string): string {
  let value: string;
  try {
    value = decodeURIComponent(raw);
  } catch {
    invalid();
  }
  if (/[\u0000-\u001f\u007f]/.test(value)) invalid();
  return value;
}

export function parseMcpRoute(target: string): McpRoute {
  const q = target.indexOf("?");
  const path = q === -1 ? target : target.slice(0, q);
  const query = new URLSearchParams(q === -1 ? "" : target.slice(q + 1));
  const parts = path
    .slice("/mcp/".length)
    .replace(/^\/+|\/+$/g, "")
    .split("/");
  const connectionId = decode(parts[0] ?? "");
  if (!isSafeConnectionId(connectionId)) invalid();
  const refresh = query.get("refresh");
  if (parts.length === 1) return { kind: "mcp", action: "passthrough", connectionId, tool: "", refresh };
  if (parts[1] !== "tools") invalid();
  if (parts.length === 2) return { kind: "mcp", action: "list", connectionId, tool: "", refresh };
  if (parts.length === 4 && (parts[3] === "call" || parts[3] === "explain")) {
    const tool = decode(parts[2] ?? "").trim();
    if (tool === "") invalid();
    return { kind: "mcp", action: parts[3], connectionId, tool, refresh };
  }
  invalid();
}
