import type { IncomingMessage, ServerResponse } from "node:http";
import { clientIp, forwardedScheme, peerIp, type TrustedProxies } from "@sigilum-gw/shared/client-ip";
import { type DecisionEvent, type DecisionFields, decisionLog, type Logger } from "@sigilum-gw/shared/logger";
import { recordAuthReject, recordUpstream } from "@sigilum-gw/shared/metrics";
import type { Denial } from "@sigilum-gw/shared/stage";
import type { ProxyMetrics } from "../metrics.ts";
import { usageEvent as buildUsageEvent } from "../usage/event.ts";
import type { UsageEvent, UsageSink } from "../usage/queue.ts";
import type { AuthorizedIdentity } from "./authorize.ts";
import { writeDenial, writeFailure } from "./errors.ts";
import type { GatewayRequest, ProxyContext, ProxyDetail, Resolved } from "./exchange.ts";
import type { Forwarder } from "./forward.ts";
import { buildUpstreamHeaders, buildUpstreamTarget } from "./inject.ts";
import type { RuntimeRoute } from "./route.ts";
import { proxyStages } from "./run.ts";

/**
 * One `/proxy` request: the stages of run.ts (body → authorize → resolve), then inject → forward, then metrics,
 * the usage event and the decision log. Every refusal is answered by errors.ts; nothing is forwarded without a
 * valid authorization.
 */

export interface RuntimeDeps {
  stages: ProxyContext;
  forwarder: Forwarder;
  metrics: ProxyMetrics;
  usage: UsageSink | undefined;
  /** GATEWAY_USAGE_DURABILITY=durable: a forwarded response ends only once its usage event is in Redis. */
  usageDurable: boolean;
  logger: Logger;
  logDecisions: boolean;
  trustedProxies: TrustedProxies;
}

/** One request's facts, shared by its log lines and usage event. */
interface Exchange {
  deps: RuntimeDeps;
  res: ServerResponse;
  route: RuntimeRoute;
  request: GatewayRequest;
  started: number;
}

export function handleProxyRequest(
  deps: RuntimeDeps,
  req: IncomingMessage,
  res: ServerResponse,
  route: RuntimeRoute,
  requestId: string,
): void {
  const request: GatewayRequest = {
    req,
    requestId,
    method: req.method ?? "GET",
    target: req.url ?? "/",
    scheme: forwardedScheme(req, deps.trustedProxies),
    clientIp: clientIp(req, deps.trustedProxies),
    connectionId: route.connectionId,
    protocol: "http",
    encodedSeparator: route.encodedSeparator,
  };
  const exchange: Exchange = { deps, res, route, request, started: performance.now() };
  // One info line per request (proxy_request_end, which carries the start fields too): decision lines are the
  // largest CPU cost after the forward itself, so the start line is debug-level (spec §9 logs both at info).
  if (deps.logDecisions && deps.logger.isLevelEnabled("debug")) {
    deps.logger.debug(
      {
        request_id: requestId,
        method: request.method,
        connection: route.connectionId,
        path: upstreamPathForLogs(route),
        query_present: route.rawQuery !== "",
        remote_ip: request.clientIp,
        kind: "decision",
        component: "gateway",
        event: "proxy_request_start",
      },
      "proxy_request_start",
    );
  }
  // The common bodyless, envoy-mode, cached-connection request reaches the forward without a promise.
  proxyStages.run(request, deps.stages, {
    done(result) {
      if (!result.ok) return refuse(exchange, result.denial);
      forward(exchange, result.value).catch((err: unknown) => writeFailure(res, err, requestId, deps.logger));
    },
    fail: (err) => writeFailure(res, err, requestId, deps.logger),
  });
}

function log(exchange: Exchange, event: DecisionEvent, fields: DecisionFields): void {
  const { deps } = exchange;
  if (deps.logDecisions)
    decisionLog(deps.logger, event, { request_id: exchange.request.requestId, ...fields });
}

function refuse(exchange: Exchange, denial: Denial<ProxyDetail>): void {
  const { deps, request, route } = exchange;
  writeDenial(exchange.res, denial, request.requestId);
  if (denial.stage === "authz_token" || denial.stage === "verifier") {
    if (denial.code.startsWith("AUTH_")) recordAuthReject(deps.metrics.auth, denial.code);
    const tokenFailure = denial.detail?.tokenFailure;
    log(exchange, "proxy_auth_denied", {
      connection: route.connectionId,
      remote_ip: request.clientIp,
      stage: denial.stage,
      decision: "deny",
      reason_code: denial.code,
      ...(tokenFailure ? { token_failure: tokenFailure } : {}),
    });
    return;
  }
  // Refused once authorized (the connection): the agent is known, the request counts as used.
  if (denial.stage === "resolve") finish(exchange, denial.detail?.identity ?? null, denial.status, 0);
}

function finish(
  exchange: Exchange,
  identity: AuthorizedIdentity | null,
  status: number,
  responseBytes: number,
  recorded = false,
): void {
  const { deps, request, route } = exchange;
  const durationMs = Math.round(performance.now() - exchange.started);
  log(exchange, "proxy_request_end", {
    method: request.method,
    connection: route.connectionId,
    path: upstreamPathForLogs(route),
    query_present: route.rawQuery !== "",
    remote_ip: request.clientIp,
    subject: identity?.subject ?? "",
    status,
    duration_ms: durationMs,
    response_bytes: responseBytes,
  });
  if (identity && deps.usage && !recorded) {
    deps.usage.record(usageEvent(identity, exchange, status, durationMs, responseBytes));
  }
}

async function forward(exchange: Exchange, resolved: Resolved): Promise<void> {
  const { deps, request, route, res } = exchange;
  const { identity, connection, body } = resolved;
  const { requestId } = request;
  if (connection.rotationWarning) {
    log(exchange, "rotation_warning", {
      connection: route.connectionId,
      subject: identity?.subject ?? "",
      reason_code: "ROTATION_WARNING",
    });
  }

  const upstreamTarget = buildUpstreamTarget(connection.record, route, connection.credential);
  const headers = buildUpstreamHeaders(request.req.rawHeaders, {
    record: connection.record,
    credential: connection.credential,
    requestId,
    peerIp: peerIp(request.req),
    host: upstreamTarget.host,
    bodyLength: body === null ? undefined : body.length,
  });
  const responseHeaders: [string, string][] = [["x-request-id", requestId]];
  if (connection.rotationWarning)
    responseHeaders.push(["x-sigilum-rotation-warning", connection.rotationWarning]);

  // Durable usage: the event is stored before the agent sees the end of the answer; if it cannot be, the answer
  // is cut (the agent sees a broken response, never a complete one whose usage was lost).
  const usage = deps.usage;
  let durable: Promise<void> | undefined;
  const beforeEnd =
    deps.usageDurable && identity && usage
      ? (status: number, responseBytes: number, durationMs: number) => {
          durable = usage.recordDurable(
            usageEvent(identity, exchange, status, Math.round(durationMs), responseBytes),
          );
          return durable;
        }
      : undefined;
  const forwarded = await deps.forwarder.forward({
    target: upstreamTarget,
    method: request.method,
    headers,
    body,
    res,
    responseHeaders,
    ...(beforeEnd ? { beforeEnd } : {}),
  });

  if (forwarded.ok) {
    const outcome = forwarded.value;
    const seconds = outcome.durationMs / 1000;
    const failed = outcome.status >= 500 || !outcome.complete;
    recordUpstream(
      deps.metrics.upstream,
      "http",
      failed ? "error" : "success",
      seconds,
      outcome.status >= 500 ? `http_${outcome.status}` : outcome.complete ? undefined : "upstream_error",
    );
    if (durable) {
      // Stored, or the answer was cut and the event counted as not stored.
      await durable.catch(() => deps.metrics.usageEventsDropped.inc({ reason: "not_stored" }));
    }
    finish(exchange, identity, outcome.status, outcome.responseBytes, durable !== undefined);
    return;
  }

  const { denial } = forwarded;
  const failure = denial.detail?.forward;
  const seconds = (failure?.durationMs ?? 0) / 1000;
  if (failure?.failure === "client_closed") {
    // Nobody is left to answer.
    recordUpstream(deps.metrics.upstream, "http", "error", seconds, "client_closed");
    finish(exchange, identity, 499, 0);
    return;
  }
  recordUpstream(deps.metrics.upstream, "http", "error", seconds, "upstream_error");
  if (denial.code !== "UPSTREAM_ADDRESS_FORBIDDEN") {
    deps.metrics.upstream.upstreamErrorTotal.inc({
      class: denial.code === "UPSTREAM_TIMEOUT" ? "http_504" : "http_502",
    });
  }
  log(exchange, "proxy_upstream_error", {
    connection: route.connectionId,
    subject: identity?.subject ?? "",
    decision: denial.code === "UPSTREAM_ADDRESS_FORBIDDEN" ? "deny" : "error",
    reason_code: denial.code,
    // The transport error text names the upstream host and the failure, never a header or credential.
    error: failure?.error.message,
  });
  writeDenial(res, denial, requestId);
  finish(exchange, identity, denial.status, 0);
}

function upstreamPathForLogs(route: RuntimeRoute): string {
  return `/${route.segments.join("/")}`;
}

function usageEvent(
  identity: AuthorizedIdentity,
  exchange: Exchange,
  status: number,
  durationMs: number,
  responseBytes: number,
): UsageEvent {
  const { request, route } = exchange;
  return buildUsageEvent(identity, {
    requestId: request.requestId,
    service: route.connectionId,
    protocol: "http",
    action: "proxy",
    method: request.method,
    path: upstreamPathForLogs(route),
    remoteIp: request.clientIp,
    status,
    durationMs,
    responseBytes,
  });
}
