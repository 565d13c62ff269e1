import type { IncomingMessage, ServerResponse } from "node:http";
import { clientIpFrom } from "@sigilum-gw/shared/client-ip";
import { CHECK_PATH_PREFIX } from "@sigilum-gw/shared/ext-authz";
import { recordAuthReject } from "@sigilum-gw/shared/metrics";
import { requestIdFrom } from "@sigilum-gw/shared/request-id";
import { type Denial, deny } from "@sigilum-gw/shared/stage";
import type { AuthzMinter } from "../authz.ts";
import type { VerifierMetrics } from "../metrics.ts";
import { writeAllow } from "../pipeline/answer.ts";
import type { Allowed, CheckContext, CheckDetail, CheckRequest } from "../pipeline/check.ts";
import { writeDenial } from "../pipeline/errors.ts";
import { runCheck } from "../pipeline/run.ts";
import { checkHeaders } from "./headers.ts";

/**
 * The ext_authz hot path on plain node:http (Envoy HTTP service contract, spec/references.md §1): Envoy sends the
 * client's method, `/check` + original path, Host, the allowed headers and the buffered body. This handler turns
 * the request into data, runs the check pipeline, writes its answer, and counts and logs the decision. It never
 * allows on an error.
 */

export type DecisionLog = (event: string, fields: Record<string, unknown>) => void;

export interface CheckHandlerDeps {
  pipeline: CheckContext;
  metrics: VerifierMetrics;
  mintAuthz: AuthzMinter;
  log: DecisionLog | undefined;
  onError: (error: unknown, requestId: string) => void;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export function createCheckHandler(
  deps: CheckHandlerDeps,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { metrics } = deps;

  function count(started: bigint, label: "allow" | "deny" | "claim_required", code: string | undefined) {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    metrics.decisions.inc({ decision: label });
    metrics.decisionSeconds.observe({ decision: label }, seconds);
    if (code?.startsWith("AUTH_")) recordAuthReject(metrics.auth, code);
  }

  function allow(
    res: ServerResponse,
    request: CheckRequest,
    allowed: Allowed,
    requestId: string,
    started: bigint,
  ) {
    const { identity } = allowed;
    const token = deps.mintAuthz({ method: request.method, path: request.target, requestId, identity });
    writeAllow(res, identity, requestId, token);
    count(started, "allow", undefined);
    deps.log?.(identity ? "proxy_identity_resolved" : "proxy_auth_bypass", {
      request_id: requestId,
      connection: allowed.service,
      remote_ip: allowed.clientIp,
      namespace: identity?.namespace,
      subject: identity?.subject,
      decision: "allow",
      ...(identity ? {} : { reason_code: "ALLOW_UNSIGNED_CONNECTION" }),
    });
  }

  function refuse(
    res: ServerResponse,
    request: CheckRequest,
    denial: Denial<CheckDetail>,
    requestId: string,
    started: bigint,
  ) {
    writeDenial(res, denial, requestId);
    const claim = denial.detail?.claim;
    count(started, claim ? "claim_required" : "deny", denial.code);
    if (!deps.log) return;
    const identity = denial.detail?.identity;
    // Refused before the route was read (shutdown, limits, body): nothing is known about the caller yet.
    const early = denial.stage === "shutdown" || denial.stage === "limits" || denial.stage === "body";
    deps.log("proxy_auth_denied", {
      request_id: requestId,
      ...(early
        ? {}
        : {
            connection: denial.detail?.service,
            remote_ip: request.clientIp,
            namespace: identity?.namespace,
            subject: identity?.subject,
          }),
      ...(claim ? { public_key: claim.publicKey } : {}),
      stage: denial.stage,
      decision: "deny",
      reason_code: denial.code,
      ...(claim ? { claim_submit: claim.submission.kind } : {}),
    });
  }

  return (req, res) => {
    const started = process.hrtime.bigint();
    metrics.inFlight.inc();
    res.once("close", () => metrics.inFlight.dec());
    const requestId = requestIdFrom(req.headers);
    const peer = req.socket.remoteAddress;
    const peerTrusted = deps.pipeline.trusted.contains(peer);
    const request: CheckRequest = {
      stream: req,
      method: (req.method ?? "GET").toUpperCase(),
      target: (req.url ?? "").slice(CHECK_PATH_PREFIX.length),
      host: single(req.headers.host),
      forwardedProto: single(req.headers["x-forwarded-proto"]),
      headers: checkHeaders(req),
      peerTrusted,
      clientIp: clientIpFrom(peer, single(req.headers["x-forwarded-for"]), peerTrusted),
    };
    runCheck(request, deps.pipeline, {
      done(result) {
        if (result.ok) allow(res, request, result.value, requestId, started);
        else refuse(res, request, result.denial, requestId, started);
      },
      fail(error) {
        deps.onError(error, requestId);
        if (!res.headersSent) {
          writeDenial(res, deny("internal", "INTERNAL_ERROR").denial, requestId);
          count(started, "deny", "INTERNAL_ERROR");
        } else {
          res.destroy();
        }
      },
    });
  };
}
