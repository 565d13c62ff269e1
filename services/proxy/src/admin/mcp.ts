import { ERROR_CATALOGUE, GatewayError } from "@sigilum-gw/shared/errors";
import { sendJson } from "../http/json.ts";
import { isForbiddenAddressError } from "../http/upstream-address.ts";
import { type DiscoveryService, discoveryJson, parseRefreshMode } from "../mcp/discovery.ts";
import { describeUpstreamError } from "../mcp/errors.ts";
import type { McpUpstreams } from "../mcp/upstream.ts";
import type { ConnectionRecord, SecretMap } from "../model/connection/types.ts";
import { formatTime } from "../model/time.ts";
import { credentialOf, loadConnection } from "../pipeline/resolve.ts";
import type { AdminCall, AdminDeps } from "./handlers.ts";
import type { TestResult } from "./test-connection.ts";

/**
 * MCP admin actions: `POST /api/admin/connections/{id}/discover[?refresh=auto|force]` (default force; the
 * discovery is cached and mirrored on the connection like a runtime one) and the MCP side of `test` (a full
 * discovery — era negotiation or initialize, then tools/list — whose result is not saved).
 */

export interface AdminMcp {
  discovery: DiscoveryService;
  upstreams: McpUpstreams;
}

function mcpOf(deps: AdminDeps): AdminMcp {
  if (!deps.mcp) throw new GatewayError("NOT_FOUND", "admin action not found");
  return deps.mcp;
}

export async function discoverConnection(deps: AdminDeps, call: AdminCall, id: string): Promise<void> {
  const mcp = mcpOf(deps);
  const url = new URL(call.req.url ?? "/", "http://admin.invalid");
  const mode = parseRefreshMode(url.searchParams.get("refresh"), "force");
  const { record, secrets } = await loadConnection(deps.cache, id);
  if (record.protocol !== "mcp") throw new GatewayError("INVALID_REQUEST", "connection protocol is not mcp");
  const { snapshot, source } = await mcp.discovery.get(
    { record, credential: credentialOf(record, secrets) },
    mode,
  );
  call.res.setHeader("x-sigilum-mcp-discovery", source);
  sendJson(call.res, 200, discoveryJson(snapshot, formatTime), call.requestId);
}

/**
 * After a create or update of an MCP connection that was never discovered: discovery starts in the background
 * (spec §1.3 "prewarm"), so the first agent request finds the tools cached. The answer is not delayed; a failure
 * is recorded on the discovery like any other.
 */
export function prewarmDiscovery(deps: AdminDeps, record: ConnectionRecord): void {
  if (!deps.mcp || record.protocol !== "mcp") return;
  const { tools, last_discovered_at } = record.mcp_discovery;
  if ((tools?.length ?? 0) > 0 || last_discovered_at !== null) return;
  const { discovery } = deps.mcp;
  loadConnection(deps.cache, record.id)
    .then(({ record: loaded, secrets }) =>
      discovery.get({ record: loaded, credential: credentialOf(loaded, secrets) }, "force"),
    )
    .catch(() => {});
}

export async function testMcpConnection(
  deps: AdminDeps,
  record: ConnectionRecord,
  secrets: SecretMap,
): Promise<TestResult> {
  const mcp = mcpOf(deps);
  const credential = credentialOf(record, secrets);
  try {
    await mcp.upstreams.discover({ record, credential });
    return { status: "pass", http_status: 200 };
  } catch (err) {
    const error = isForbiddenAddressError(err)
      ? `UPSTREAM_ADDRESS_FORBIDDEN: ${ERROR_CATALOGUE.UPSTREAM_ADDRESS_FORBIDDEN.message}`
      : describeUpstreamError(err, Object.values(secrets));
    return { status: "fail", http_status: 0, error };
  }
}
