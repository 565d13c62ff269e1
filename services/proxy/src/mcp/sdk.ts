/**
 * The MCP SDK client is loaded on first use: it is a large module (schemas, JSON Schema validator) that a gateway
 * without MCP connections never needs, and loading it at start-up slowed every proxy start.
 */

export type McpSdk = typeof import("@modelcontextprotocol/client");

let loading: Promise<McpSdk> | undefined;
let loaded: McpSdk | undefined;

export function loadMcpSdk(): Promise<McpSdk> {
  loading ??= import("@modelcontextprotocol/client").then((sdk) => {
    loaded = sdk;
    return sdk;
  });
  return loading;
}

/** The SDK if something already loaded it (an SDK error can only exist then). */
export function loadedMcpSdk(): McpSdk | undefined {
  return loaded;
}
