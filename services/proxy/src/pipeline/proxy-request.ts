import type { IncomingMessage, ServerResponse } from "node:http";
import { clientIp, forwardedScheme, peerIp, type TrustedProxies } from "@sigilum-gw/shared/client-ip";
import { type ErrorCode, GatewayError, sendError } from "@sigilum-gw/shared/errors";
import { type DecisionEvent, type DecisionFields, decisionLog, type Logger } from "@sigilum-gw/shared/logger";
import { recordAuthReject, recordUpstream } from "@sigilum-gw/shared/metrics";
import { finishBodyless, readBody } from "../http/body.ts";
import type { ProxyMetrics } from "../metrics.ts";
import { asStoreError } from "../store/redis-errors.ts";
import { usageEvent as buildUsageEvent } from "../usage/event.ts";
import type { UsageEvent, UsageSink } from "../usage/queue.ts";
import type { AuthorizedIdentity, Authorizer } from "./authorize.ts";
import type { Forwarder } from "./forward.ts";
import { buildUpstreamHeaders, buildUpstreamTarget } from "./inject.ts";
import type { ConnectionResolver, ResolvedConnection } from "./resolve.ts";
import type { RuntimeRoute } from "./route.ts";

/**
 * One runtime request through the stages: body (bounded) → authorize → resolve → inject → forward, then
 * metrics, the usage event and the decision log. Every failure answers with an envelope; nothing is forwarded
 * without a valid authorization.
 */

export interface RuntimeDeps {
  authorizer: Authorizer;
  resolver: ConnectionResolver;
  forwarder: Forwarder;
  metrics: ProxyMetrics;
  usage: UsageSink | undefined;
  /** GATEWAY_USAGE_DURABILITY=durable: a forwarded response ends only once its usage event is in Redis. */
  usageDurable: boolean;
  logger: Logger;
  logDecisions: boolean;
  trustedProxies: TrustedProxies;
  maxBodyBytes: number;
}

export async function handleProxyRequest(
  deps: RuntimeDeps,
  req: IncomingMessage,
  res: ServerResponse,
  route: RuntimeRoute,
  requestId: string,
): Promise<void> {
  const started = performance.now();
  const method = req.method ?? "GET";
  const target = req.url ?? "/";
  const ip = clientIp(req, deps.trustedProxies);
  const log = (event: DecisionEvent, fields: DecisionFields) => {
    if (deps.logDecisions) decisionLog(deps.logger, event, { request_id: requestId, ...fields });
  };
  // One info line per request (proxy_request_end, which carries the start fields too): decision lines are the
  // largest CPU cost after the forward itself, so the start line is debug-level (spec §9 logs both at info).
  if (deps.logDecisions && deps.logger.isLevelEnabled("debug")) {
    deps.logger.debug(
      {
        request_id: requestId,
        method,
        connection: route.connectionId,
        path: upstreamPathForLogs(route),
        query_present: route.rawQuery !== "",
        remote_ip: ip,
        kind: "decision",
        component: "gateway",
        event: "proxy_request_start",
      },
      "proxy_request_start",
    );
  }

  const fail = (code: ErrorCode, message?: string, headers?: Record<string, string>) =>
    sendError(res, code, { requestId, ...(message ? { message } : {}), ...(headers ? { headers } : {}) });

  // The common bodyless, envoy-mode, cached-connection request goes through without a promise until the forward.
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
    target,
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
      stage: authz.tokenFailure ? "authz_token" : "verifier",
      decision: "deny",
      reason_code: authz.code,
      ...(authz.tokenFailure ? { token_failure: authz.tokenFailure } : {}),
    });
    authz.respond(res);
    return;
  }
  const identity = authz.identity;

  const finish = (status: number, responseBytes: number, recorded = false) => {
    const durationMs = Math.round(performance.now() - started);
    log("proxy_request_end", {
      method,
      connection: route.connectionId,
      path: upstreamPathForLogs(route),
      query_present: route.rawQuery !== "",
      remote_ip: ip,
      subject: identity?.subject ?? "",
      status,
      duration_ms: durationMs,
      response_bytes: responseBytes,
    });
    if (identity && deps.usage && !recorded) {
      deps.usage.record(
        usageEvent(identity, route, method, ip, requestId, status, durationMs, responseBytes),
      );
    }
  };

  let resolved: ResolvedConnection;
  try {
    const resolving = deps.resolver.resolve(route.connectionId, "http");
    resolved = resolving instanceof Promise ? await resolving : resolving;
  } catch (raw) {
    const err = asStoreError(raw);
    if (err instanceof GatewayError) {
      fail(err.code, err.message);
      finish(err.status, 0);
      return;
    }
    throw err;
  }
  if (route.encodedSeparator && !resolved.record.allow_encoded_slashes) {
    fail("PATH_TRAVERSAL", "invalid proxy path: encoded slashes are not allowed for this connection");
    finish(400, 0);
    return;
  }
  if (resolved.rotationWarning) {
    log("rotation_warning", {
      connection: route.connectionId,
      subject: identity?.subject ?? "",
      reason_code: "ROTATION_WARNING",
    });
  }

  const upstreamTarget = buildUpstreamTarget(resolved.record, route, resolved.credential);
  const headers = buildUpstreamHeaders(req.rawHeaders, {
    record: resolved.record,
    credential: resolved.credential,
    requestId,
    peerIp: peerIp(req),
    host: upstreamTarget.host,
    bodyLength: body === null ? undefined : body.length,
  });
  const responseHeaders: [string, string][] = [["x-request-id", requestId]];
  if (resolved.rotationWarning)
    responseHeaders.push(["x-sigilum-rotation-warning", resolved.rotationWarning]);

  // Durable usage: the event is stored before the agent sees the end of the answer; if it cannot be, the answer
  // is cut (the agent sees a broken response, never a complete one whose usage was lost).
  const usage = deps.usage;
  let durable: Promise<void> | undefined;
  const beforeEnd =
    deps.usageDurable && identity && usage
      ? (status: number, responseBytes: number, durationMs: number) => {
          const event = usageEvent(
            identity,
            route,
            method,
            ip,
            requestId,
            status,
            Math.round(durationMs),
            responseBytes,
          );
          durable = usage.recordDurable(event);
          return durable;
        }
      : undefined;
  const outcome = await deps.forwarder.forward({
    target: upstreamTarget,
    method,
    headers,
    body,
    res,
    responseHeaders,
    ...(beforeEnd ? { beforeEnd } : {}),
  });
  const seconds = outcome.durationMs / 1000;

  if (outcome.kind === "response") {
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
    finish(outcome.status, outcome.responseBytes, durable !== undefined);
    return;
  }

  if (outcome.failure === "client_closed") {
    recordUpstream(deps.metrics.upstream, "http", "error", seconds, "client_closed");
    finish(499, 0);
    return;
  }
  if (outcome.failure === "forbidden_address") {
    recordUpstream(deps.metrics.upstream, "http", "error", seconds, "upstream_error");
    log("proxy_upstream_error", {
      connection: route.connectionId,
      subject: identity?.subject ?? "",
      decision: "deny",
      reason_code: "UPSTREAM_ADDRESS_FORBIDDEN",
      error: outcome.error.message,
    });
    fail("UPSTREAM_ADDRESS_FORBIDDEN");
    finish(403, 0);
    return;
  }
  const code: ErrorCode = outcome.failure === "timeout" ? "UPSTREAM_TIMEOUT" : "UPSTREAM_ERROR";
  recordUpstream(deps.metrics.upstream, "http", "error", seconds, "upstream_error");
  deps.metrics.upstream.upstreamErrorTotal.inc({
    class: code === "UPSTREAM_TIMEOUT" ? "http_504" : "http_502",
  });
  log("proxy_upstream_error", {
    connection: route.connectionId,
    subject: identity?.subject ?? "",
    decision: "error",
    reason_code: code,
    // The transport error text names the upstream host and the failure, never a header or credential.
    error: outcome.error.message,
  });
  fail(code);
  finish(code === "UPSTREAM_TIMEOUT" ? 504 : 502, 0);
}

function upstreamPathForLogs(route: RuntimeRoute): string {
  return `/${route.segments.join("/")}`;
}

function usageEvent(
  identity: AuthorizedIdentity,
  route: RuntimeRoute,
  method: string,
  ip: string,
  requestId: string,
  status: number,
  durationMs: number,
  responseBytes: number,
): UsageEvent {
  return buildUsageEvent(identity, {
    requestId,
    service: route.connectionId,
    protocol: "http",
    action: "proxy",
    method,
    path: upstreamPathForLogs(route),
    remoteIp: ip,
    status,
    durationMs,
    responseBytes,
  });
}
