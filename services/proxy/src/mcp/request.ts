import type { IncomingMessage, ServerResponse } from "node:http";
import { clientIp, forwardedScheme, type TrustedProxies } from "@sigilum-gw/shared/client-ip";
import { type ErrorCode, GatewayError } from "@sigilum-gw/shared/errors";
import { type DecisionEvent, type DecisionFields, decisionLog, type Logger } from "@sigilum-gw/shared/logger";
import { recordAuthReject } from "@sigilum-gw/shared/metrics";
import { jsonText, sendJsonText } from "../http/json.ts";
import type { ProxyMetrics } from "../metrics.ts";
import type { AuthorizedIdentity } from "../pipeline/authorize.ts";
import { writeDenial, writeError } from "../pipeline/errors.ts";
import type { GatewayRequest, ProxyContext } from "../pipeline/exchange.ts";
import type { McpRoute } from "../pipeline/mcp-route.ts";
import type { ResolvedConnection } from "../pipeline/resolve.ts";
import { admission, resolutionStages } from "../pipeline/run.ts";
import { asStoreError } from "../store/redis-errors.ts";
import { recordUsage, type UsageRecording, usageEvent } from "../usage/event.ts";
import { callTool } from "./call.ts";
import { type DiscoveryService, parseRefreshMode } from "./discovery.ts";
import { type PassthroughDeps, passthrough } from "./passthrough.ts";
import { effectivePolicy, explainTool, exposedTools } from "./policy.ts";
import type { ToolCallRateLimiter } from "./rate-limit.ts";
import type { McpUpstreams } from "./upstream.ts";

/**
 * One `/mcp/...` request: body (bounded) → authorize (same verifier token as `/proxy`) → resolve (MCP connection,
 * credential) → method → discovery (cache) → list | explain | call, or the JSON-RPC pass-through. Then metrics,
 * the decision log and a usage event (`mcp_list`, `mcp_explain:<tool>`, `mcp_call:<tool>`, `mcp_passthrough`) on
 * the same path as HTTP requests: in durable mode an answer ends only once its event is stored (else it is cut).
 */

export interface McpDeps {
  /** The runtime stages' context (body → authorize → resolve, as for `/proxy`). */
  stages: ProxyContext;
  discovery: DiscoveryService;
  upstreams: McpUpstreams;
  limiter: ToolCallRateLimiter;
  passthrough: PassthroughDeps;
  metrics: ProxyMetrics;
  usage: UsageRecording;
  logger: Logger;
  logDecisions: boolean;
  trustedProxies: TrustedProxies;
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
  /** Answers JSON (after its usage event is stored, in durable mode). */
  json(status: number, body: unknown): Promise<void>;
  /**
   * Before the end of an answer relayed from the server: stores the usage event first in durable mode; false when
   * it could not be (the answer is then cut here). Always true in buffered mode (the event follows the answer).
   */
  beforeEnd(status: number, responseBytes: number): Promise<boolean>;
  /** Whether answers must wait for beforeEnd (durable usage for an identified agent). */
  durableUsage: boolean;
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
    writeError(res, code, requestId, { message, headers: { ...headers, ...extra } });

  const request: GatewayRequest = {
    req,
    requestId,
    method,
    target: req.url ?? "/",
    scheme: forwardedScheme(req, deps.trustedProxies),
    clientIp: ip,
    connectionId: route.connectionId,
    protocol: "mcp",
    encodedSeparator: false,
  };
  const admitted = await admission.result(request, deps.stages);
  if (!admitted.ok) {
    const { denial } = admitted;
    if (denial.stage === "body") return void writeDenial(res, denial, requestId, headers);
    if (denial.code.startsWith("AUTH_")) recordAuthReject(deps.metrics.auth, denial.code);
    log("proxy_auth_denied", {
      connection: route.connectionId,
      remote_ip: ip,
      decision: "deny",
      reason_code: denial.code,
    });
    writeDenial(res, denial, requestId);
    return;
  }
  const { body } = admitted.value;
  const identity = admitted.value.identity;
  const subject = identity?.subject ?? "";

  const action = route.action === "passthrough" ? "mcp_passthrough" : `mcp_${route.action}`;
  let outcome = "success";
  let recorded = false;
  let answerBytes: number | undefined;
  const eventFor = (agent: AuthorizedIdentity, status: number, responseBytes: number) =>
    usageEvent(agent, {
      requestId,
      service: route.connectionId,
      protocol: "mcp",
      action: route.tool === "" ? action : `${action}:${route.tool}`,
      ...(outcome === "success" ? {} : { outcome }),
      method,
      path: (req.url ?? "").split("?")[0]!,
      remoteIp: ip,
      status,
      durationMs: performance.now() - started,
      responseBytes,
    });
  const durableUsage = identity !== null && deps.usage.sink !== undefined && deps.usage.durable;
  const beforeEnd = async (status: number, responseBytes: number): Promise<boolean> => {
    answerBytes = responseBytes;
    if (!durableUsage || !identity) return true;
    recorded = true;
    if (await recordUsage(deps.usage, eventFor(identity, status, responseBytes))) return true;
    res.destroy();
    return false;
  };
  res.once("close", () => {
    const status = res.statusCode;
    log("mcp_request_end", {
      method,
      connection: route.connectionId,
      subject,
      action: route.action,
      ...(route.tool ? { tool: route.tool } : {}),
      status,
      duration_ms: Math.round(performance.now() - started),
    });
    // Failures answered by the gateway itself, and everything in buffered mode: recorded after the answer.
    if (identity && !recorded) {
      void recordUsage(
        { ...deps.usage, durable: false },
        eventFor(identity, status, answerBytes ?? (Number(res.getHeader("content-length")) || 0)),
      );
    }
  });

  const resolution = await resolutionStages.result(admitted.value, deps.stages);
  if (!resolution.ok) return void writeDenial(res, resolution.denial, requestId, headers);
  const resolved = resolution.value.connection;
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
    async json(status, payload) {
      const text = jsonText(payload);
      if (!(await beforeEnd(status, Buffer.byteLength(text)))) return;
      for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
      sendJsonText(res, status, text, requestId);
    },
    beforeEnd,
    durableUsage,
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
