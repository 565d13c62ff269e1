import type { IncomingMessage, ServerResponse } from "node:http";
import { clientIp, forwardedScheme, type TrustedProxies } from "@sigilum-gw/shared/client-ip";
import { type ErrorCode, GatewayError, sendError } from "@sigilum-gw/shared/errors";
import { type DecisionEvent, type DecisionFields, decisionLog, type Logger } from "@sigilum-gw/shared/logger";
import { recordAuthReject } from "@sigilum-gw/shared/metrics";
import { sendJson } from "../admin/json.ts";
import { finishBodyless, readBody } from "../http/body.ts";
import type { ProxyMetrics } from "../metrics.ts";
import type { AuthorizedIdentity, Authorizer } from "../pipeline/authorize.ts";
import type { ConnectionResolver, ResolvedConnection } from "../pipeline/resolve.ts";
import { asStoreError } from "../store/redis-errors.ts";
import type { UsageSink } from "../usage/queue.ts";
import { callTool } from "./call.ts";
import { type DiscoveryService, parseRefreshMode } from "./discovery.ts";
import { type PassthroughDeps, passthrough } from "./passthrough.ts";
import { effectivePolicy, explainTool, exposedTools } from "./policy.ts";
import type { ToolCallRateLimiter } from "./rate-limit.ts";
import type { McpRoute } from "./route.ts";
import type { McpUpstreams } from "./upstream.ts";

/**
 * One `/mcp/...` request: body (bounded) → authorize (same verifier token as `/proxy`) → resolve (MCP connection,
 * credential) → method → discovery (cache) → list | explain | call, or the JSON-RPC pass-through. Then metrics,
 * the decision log and a usage event (`mcp_list`, `mcp_explain:<tool>`, `mcp_call:<tool>`, `mcp_passthrough`).
 */

export interface McpDeps {
  authorizer: Authorizer;
  resolver: ConnectionResolver;
  discovery: DiscoveryService;
  upstreams: McpUpstreams;
  limiter: ToolCallRateLimiter;
  passthrough: PassthroughDeps;
  metrics: ProxyMetrics;
  usage: UsageSink | undefined;
  logger: Logger;
  logDecisions: boolean;
  trustedProxies: TrustedProxies;
  maxBodyBytes: number;
}

const METHOD_OF: Record<Exclude<McpRoute["action"], "passthrough">, string> = {
  list: "GET",
  explain: "GET",
  call: "POST",
};

export interface McpExchange {
  deps: McpDeps;
  req: IncomingMessage;
  res: ServerResponse;
  route: McpRoute;
  requestId: string;
  identity: AuthorizedIdentity | null;
  resolved: ResolvedConnection;
  body: Buffer | null;
  /** Headers every answer carries (request id, rotation warning, discovery source). */
  headers: Record<string, string>;
  fail(code: ErrorCode, message?: string, headers?: Record<string, string>): void;
  json(status: number, body: unknown): void;
  log(event: DecisionEvent, fields: DecisionFields): void;
}

export async function handleMcpRequest(
  deps: McpDeps,
  req: IncomingMessage,
  res: ServerResponse,
  route: McpRoute,
  requestId: string,
): Promise<void> {
  const started = performance.now();
  const method = (req.method ?? "GET").toUpperCase();
  const ip = clientIp(req, deps.trustedProxies);
  const log = (event: DecisionEvent, fields: DecisionFields) => {
    if (deps.logDecisions) decisionLog(deps.logger, event, { request_id: requestId, ...fields });
  };
  const headers: Record<string, string> = {};
  const fail = (code: ErrorCode, message?: string, extra?: Record<string, string>) =>
    sendError(res, code, { requestId, ...(message ? { message } : {}), headers: { ...headers, ...extra } });

  let body: Buffer | null = null;
  if (!finishBodyless(req)) {
    try {
      body = await readBody(req, deps.maxBodyBytes);
    } catch (err) {
      if (err instanceof GatewayError) fail(err.code, err.message, err.headers as Record<string, string>);
      else fail("INVALID_REQUEST", "failed to read request body");
      return;
    }
  }

  const authorizing = deps.authorizer.authorize({
    req,
    method,
    scheme: forwardedScheme(req, deps.trustedProxies),
    target: req.url ?? "/",
    body,
    requestId,
    clientIp: ip,
  });
  const authz = authorizing instanceof Promise ? await authorizing : authorizing;
  if (!authz.ok) {
    if (authz.code.startsWith("AUTH_")) recordAuthReject(deps.metrics.auth, authz.code);
    log("proxy_auth_denied", {
      connection: route.connectionId,
      remote_ip: ip,
      decision: "deny",
      reason_code: authz.code,
    });
    authz.respond(res);
    return;
  }
  const identity = authz.identity;
  const subject = identity?.subject ?? "";

  const action = route.action === "passthrough" ? "mcp_passthrough" : `mcp_${route.action}`;
  const usageAction = route.tool === "" ? action : `${action}:${route.tool}`;
  let outcome = "success";
  res.once("close", () => {
    const status = res.statusCode;
    const durationMs = Math.round(performance.now() - started);
    log("mcp_request_end", {
      method,
      connection: route.connectionId,
      subject,
      action: route.action,
      ...(route.tool ? { tool: route.tool } : {}),
      status,
      duration_ms: durationMs,
    });
    if (identity && deps.usage) {
      deps.usage.record({
        event_id: requestId,
        namespace: identity.namespace,
        service: route.connectionId,
        public_key: identity.publicKey,
        subject: identity.subject,
        protocol: "mcp",
        action: usageAction,
        outcome: outcome === "success" && status >= 400 ? "error" : outcome,
        response_bytes: 0,
        request_method: method,
        request_path: (req.url ?? "").split("?")[0]!.slice(0, 512),
        remote_ip: ip,
        ...(identity.agentId ? { agent_id: identity.agentId } : {}),
        status_code: status,
        ...(durationMs > 0 ? { duration_ms: durationMs } : {}),
      });
    }
  });

  let resolved: ResolvedConnection;
  try {
    const resolving = deps.resolver.resolve(route.connectionId, "mcp");
    resolved = resolving instanceof Promise ? await resolving : resolving;
  } catch (raw) {
    const err = asStoreError(raw);
    if (err instanceof GatewayError) return void fail(err.code, err.message);
    throw err;
  }
  headers["x-request-id"] = requestId;
  if (resolved.rotationWarning) headers["x-sigilum-rotation-warning"] = resolved.rotationWarning;

  const exchange: McpExchange = {
    deps,
    req,
    res,
    route,
    requestId,
    identity,
    resolved,
    body,
    headers,
    fail,
    json(status, payload) {
      for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
      sendJson(res, status, payload, requestId);
    },
    log,
  };
  if (route.action === "passthrough") return passthrough(exchange);

  if (method !== METHOD_OF[route.action] && !(method === "HEAD" && METHOD_OF[route.action] === "GET")) {
    return void fail("METHOD_NOT_ALLOWED");
  }
  const mode = parseRefreshMode(route.refresh, "auto");
  const target = { record: resolved.record, credential: resolved.credential };
  let discovered: Awaited<ReturnType<DiscoveryService["get"]>>;
  try {
    discovered = await deps.discovery.get(target, mode);
  } catch (raw) {
    outcome = "error";
    const err = asStoreError(raw);
    if (err instanceof GatewayError) return void fail(err.code, err.message);
    throw err;
  }
  headers["x-sigilum-mcp-discovery"] = discovered.source;
  const policy = effectivePolicy(resolved.record, subject);
  const tools = discovered.snapshot.tools;

  if (route.action === "list") {
    return exchange.json(200, {
      connection_id: route.connectionId,
      subject,
      discovery_cache_status: discovered.source,
      tools: exposedTools(tools, policy),
    });
  }
  if (route.action === "explain") {
    const { exposed_tools, ...decision } = explainTool(route.tool, tools, policy);
    return exchange.json(200, {
      connection_id: route.connectionId,
      subject,
      tool: route.tool,
      ...decision,
      effective_policy: policy,
      exposed_tools,
      discovery_cache_status: discovered.source,
    });
  }
  outcome = await callTool(exchange, tools, policy, discovered.source);
}
