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

/** The MCP action of the decoded segments below `/mcp/{id}/`; undefined when they name none. */
export function mcpRoute(
  connectionId: string,
  segments: readonly string[],
  rawQuery: string,
): McpRoute | undefined {
  const refresh = new URLSearchParams(rawQuery).get("refresh");
  if (segments.length === 0) return { kind: "mcp", action: "passthrough", connectionId, tool: "", refresh };
  if (segments[0] !== "tools") return undefined;
  if (segments.length === 1) return { kind: "mcp", action: "list", connectionId, tool: "", refresh };
  const action = segments[2];
  if (segments.length === 3 && (action === "call" || action === "explain")) {
    const tool = (segments[1] as string).trim();
    return tool === "" ? undefined : { kind: "mcp", action, connectionId, tool, refresh };
  }
  return undefined;
}
