import type { ClientOptions, ConnectOptions } from "@modelcontextprotocol/client";
import type { ConnectionRecord } from "../model/connection/types.ts";

/**
 * Which MCP protocol era the gateway speaks to a connection's server, per connection (`mcp_protocol_version`):
 * - "" (auto, the default): detected — the SDK probes with `server/discover` (2026-07-28, stateless) and falls
 *   back to the 2025 `initialize` handshake when the server does not speak it;
 * - "2026-07-28": that revision only (no initialize, no session; a 2025-only server is an error);
 * - "2025-11-25" / "2025-06-18": the 2025 handshake offering exactly that version, no probe.
 */

export const MODERN_PROTOCOL_VERSION = "2026-07-28";

export interface EraOptions {
  /** Distinguishes clients built with different settings. */
  label: string;
  client: ClientOptions;
  connect: ConnectOptions;
}

export function clientOptionsFor(record: ConnectionRecord): EraOptions {
  const version = record.mcp_protocol_version ?? "";
  if (version === MODERN_PROTOCOL_VERSION) {
    return { label: version, client: { versionNegotiation: { mode: { pin: version } } }, connect: {} };
  }
  if (version !== "") {
    return {
      label: version,
      client: { supportedProtocolVersions: [version] },
      connect: { prior: { kind: "legacy" } },
    };
  }
  return { label: "auto", client: { versionNegotiation: { mode: "auto" } }, connect: {} };
}
