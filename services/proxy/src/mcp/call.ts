import { recordUpstream } from "@sigilum-gw/shared/metrics";
import { isForbiddenAddressError } from "../http/upstream-address.ts";
import type { DiscoverySource } from "./discovery.ts";
import { describeUpstreamError } from "./errors.ts";
import { type EffectivePolicy, exposedTools } from "./policy.ts";
import type { McpExchange } from "./request.ts";
import { CircuitOpenError, type DiscoveredTool } from "./upstream.ts";

/**
 * `POST /mcp/{id}/tools/{tool}/call` after discovery (spec §6.9), in this order: the tool must be exposed to the
 * subject (else 403 MCP_TOOL_FORBIDDEN, nothing sent upstream) → the shared rate limit (429) → the arguments →
 * `tools/call`. The MCP result is returned verbatim (a result with `isError: true` is still a 200).
 * Returns the usage outcome.
 */

const BODY_HINT =
  'request body must be JSON; use {"arguments": {...}} or provide the arguments object directly';

type ArgsResult = { ok: true; args: Record<string, unknown> } | { ok: false; message: string };

export function toolArguments(body: Buffer | null): ArgsResult {
  const text = body?.toString("utf8").trim() ?? "";
  if (text === "") return { ok: true, args: {} };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, message: BODY_HINT };
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
    return { ok: false, message: BODY_HINT };
  const object = parsed as Record<string, unknown>;
  if (!Object.hasOwn(object, "arguments")) return { ok: true, args: object };
  const args = object["arguments"];
  if (args === null || args === undefined) return { ok: true, args: {} };
  if (typeof args !== "object" || Array.isArray(args))
    return { ok: false, message: "arguments must be a JSON object" };
  return { ok: true, args: args as Record<string, unknown> };
}

export async function callTool(
  ex: McpExchange,
  tools: readonly DiscoveredTool[],
  policy: EffectivePolicy,
  source: DiscoverySource,
): Promise<string> {
  const { deps, route, identity, resolved } = ex;
  const counter = deps.metrics.mcp.mcpToolCallTotal;
  const denied = (
    result: "forbidden" | "rate_limited",
    reasonCode: "MCP_TOOL_FORBIDDEN" | "MCP_TOOL_RATE_LIMITED",
  ) => {
    counter.inc({ result });
    ex.log("mcp_tool_call_denied", {
      connection: route.connectionId,
      subject: identity?.subject ?? "",
      tool: route.tool,
      decision: "deny",
      reason_code: reasonCode,
    });
  };
  if (!exposedTools(tools, policy).some((t) => t.name === route.tool)) {
    denied("forbidden", "MCP_TOOL_FORBIDDEN");
    ex.fail("MCP_TOOL_FORBIDDEN", `tool ${JSON.stringify(route.tool)} is not allowed for subject`);
    return "forbidden";
  }

  let rate: Awaited<ReturnType<typeof deps.limiter.consume>>;
  try {
    rate = await deps.limiter.consume(route.connectionId, identity?.namespace ?? "");
  } catch {
    ex.fail("REDIS_UNAVAILABLE");
    return "error";
  }
  if (!rate.allowed) {
    denied("rate_limited", "MCP_TOOL_RATE_LIMITED");
    ex.fail("MCP_TOOL_RATE_LIMITED", undefined, { "retry-after": String(rate.retryAfterSeconds) });
    return "rate_limited";
  }

  const args = toolArguments(ex.body);
  if (!args.ok) {
    ex.fail("INVALID_REQUEST", args.message);
    return "error";
  }

  const started = performance.now();
  const target = { record: resolved.record, credential: resolved.credential };
  try {
    const result = await deps.upstreams.callTool(target, route.tool, args.args);
    counter.inc({ result: "success" });
    recordUpstream(deps.metrics.upstream, "mcp", "success", (performance.now() - started) / 1000);
    await ex.json(200, {
      connection_id: route.connectionId,
      tool: route.tool,
      discovery_cache_status: source,
      result,
    });
    return "success";
  } catch (err) {
    if (err instanceof CircuitOpenError) {
      counter.inc({ result: "circuit_open" });
      deps.metrics.upstream.upstreamErrorTotal.inc({ class: "mcp_circuit_open" });
      ex.fail("MCP_CIRCUIT_OPEN");
      return "error";
    }
    counter.inc({ result: "error" });
    if (isForbiddenAddressError(err)) {
      ex.log("proxy_upstream_error", {
        connection: route.connectionId,
        subject: identity?.subject ?? "",
        decision: "deny",
        reason_code: "UPSTREAM_ADDRESS_FORBIDDEN",
      });
      ex.fail("UPSTREAM_ADDRESS_FORBIDDEN");
      return "forbidden";
    }
    recordUpstream(
      deps.metrics.upstream,
      "mcp",
      "error",
      (performance.now() - started) / 1000,
      "mcp_tool_call_failed",
    );
    const message = describeUpstreamError(err, resolved.credential ? [resolved.credential] : []);
    ex.log("proxy_upstream_error", {
      connection: route.connectionId,
      subject: identity?.subject ?? "",
      decision: "error",
      reason_code: "MCP_TOOL_CALL_FAILED",
      error: message,
    });
    ex.fail("MCP_TOOL_CALL_FAILED", `mcp tool call failed: ${message}`);
    return "error";
  }
}
