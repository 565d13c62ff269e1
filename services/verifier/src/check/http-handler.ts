import type { IncomingMessage, ServerResponse } from "node:http";
import type { ErrorCode } from "@sigilum-gw/shared/errors";
import { CHECK_PATH_PREFIX } from "@sigilum-gw/shared/ext-authz";
import { checkRequestLimits } from "@sigilum-gw/shared/limits";
import { requestIdFrom } from "@sigilum-gw/shared/request-id";
import type { AuthzMinter } from "../authz.ts";
import type { VerifierMetrics } from "../metrics.ts";
import { metricLabel } from "../metrics.ts";
import { writeAllow, writeClaimRequired, writeDeny } from "../pipeline/answer.ts";
import { type CheckInput, decide, type PipelineDeps } from "../pipeline/decide.ts";
import { checkHeaders } from "./headers.ts";

/**
 * The ext_authz hot path on plain node:http (Envoy HTTP service contract, spec/references.md §1): Envoy sends the
 * client's method, `/check` + original path, Host, the allowed headers and the buffered body. This handler reads
 * the body (bounded), runs the pipeline, writes the answer, and counts and logs the decision. It never allows on
 * an error.
 */

export type DecisionLog = (event: string, fields: Record<string, unknown>) => void;

export interface CheckHandlerDeps {
  pipeline: PipelineDeps;
  metrics: VerifierMetrics;
  maxBodyBytes: number;
  mintAuthz: AuthzMinter;
  log: DecisionLog | undefined;
  onError: (error: unknown, requestId: string) => void;
  /** Set while shutting down: new checks are refused (503) so Envoy retries another replica. */
  isClosing: () => boolean;
}

type BodyResult = { ok: true; body: Buffer | null } | { ok: false; code: ErrorCode };

const EMPTY = Buffer.alloc(0);

function readBody(req: IncomingMessage, limit: number): Promise<BodyResult> | BodyResult {
  const length = req.headers["content-length"];
  const chunked = req.headers["transfer-encoding"] !== undefined;
  if (!chunked && (length === undefined || length === "0")) return { ok: true, body: null };
  if (length !== undefined && Number(length) > limit) return { ok: false, code: "REQUEST_BODY_TOO_LARGE" };
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (result: BodyResult) => {
      if (done) return;
      done = true;
      resolve(result);
    };
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        finish({ ok: false, code: "REQUEST_BODY_TOO_LARGE" });
        req.pause();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => finish({ ok: true, body: size === 0 ? EMPTY : Buffer.concat(chunks, size) }));
    req.on("error", () => finish({ ok: false, code: "INVALID_REQUEST" }));
    req.on("aborted", () => finish({ ok: false, code: "INVALID_REQUEST" }));
  });
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Any line other than "false" wins: a truncated body can never prove its digest. */
function partialBody(value: string | readonly string[] | undefined): boolean {
  if (value === undefined) return false;
  const notFalse = (line: string) => line.trim().toLowerCase() !== "false";
  return typeof value === "string" ? notFalse(value) : value.some(notFalse);
}

export function createCheckHandler(
  deps: CheckHandlerDeps,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { metrics } = deps;

  function finish(started: bigint, label: "allow" | "deny" | "claim_required", code: string | undefined) {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    metrics.decisions.inc({ decision: label });
    metrics.decisionSeconds.observe({ decision: label }, seconds);
    if (code?.startsWith("AUTH_")) metrics.authReject.inc({ reason: metricLabel(code) });
    if (code === "AUTH_REPLAY_DETECTED") metrics.replayDetected.inc();
  }

  async function handle(req: IncomingMessage, res: ServerResponse, requestId: string, started: bigint) {
    const rawUrl = req.url ?? "";
    const target = rawUrl.slice(CHECK_PATH_PREFIX.length);
    const deny = (code: ErrorCode, stage: string, message?: string) => {
      writeDeny(res, code, requestId, message ? { message } : undefined);
      finish(started, "deny", code);
      deps.log?.("proxy_auth_denied", { request_id: requestId, stage, decision: "deny", reason_code: code });
    };
    if (deps.isClosing()) return deny("SERVICE_UNAVAILABLE", "shutdown");
    // Limits first: a request over them is refused before its signature is read or its nonce spent.
    const overLimit = checkRequestLimits(target, req.rawHeaders);
    if (overLimit) return deny(overLimit.code, "limits", overLimit.message);
    const headers = checkHeaders(req);
    if (partialBody(headers["x-envoy-auth-partial-body"])) return deny("AUTH_PARTIAL_BODY", "body");
    const pending = readBody(req, deps.maxBodyBytes);
    // Most checks carry no body: no extra await (a microtask per request) when the answer is already known.
    const bodyResult = pending instanceof Promise ? await pending : pending;
    if (!bodyResult.ok) {
      res.setHeader("connection", "close");
      return deny(bodyResult.code, "body");
    }
    const input: CheckInput = {
      method: req.method ?? "GET",
      target,
      host: single(req.headers.host),
      forwardedProto: single(req.headers["x-forwarded-proto"]),
      forwardedFor: single(req.headers["x-forwarded-for"]),
      headers,
      peer: req.socket.remoteAddress,
      body: bodyResult.body,
    };
    const decision = await decide(input, deps.pipeline);
    const namespace = decision.identity?.namespace;
    const subject = decision.identity?.subject;
    if (decision.kind === "allow") {
      const token = deps.mintAuthz({
        method: input.method.toUpperCase(),
        path: target,
        requestId,
        identity: decision.identity,
      });
      writeAllow(res, decision.identity, requestId, token);
      finish(started, "allow", undefined);
      deps.log?.(decision.identity ? "proxy_identity_resolved" : "proxy_auth_bypass", {
        request_id: requestId,
        connection: decision.service,
        remote_ip: decision.clientIp,
        namespace,
        subject,
        decision: "allow",
        ...(decision.identity ? {} : { reason_code: "ALLOW_UNSIGNED_CONNECTION" }),
      });
      return;
    }
    if (decision.kind === "claim_required") {
      writeClaimRequired(res, requestId, decision.ctx);
      finish(started, "claim_required", "AUTH_CLAIM_REQUIRED");
      deps.log?.("proxy_auth_denied", {
        request_id: requestId,
        connection: decision.service,
        remote_ip: decision.clientIp,
        namespace,
        subject,
        public_key: decision.identity.publicKey,
        stage: "claims_authorization",
        decision: "deny",
        reason_code: "AUTH_CLAIM_REQUIRED",
        claim_submit: decision.ctx.submission.kind,
      });
      return;
    }
    writeDeny(res, decision.code, requestId, {
      ...(decision.message ? { message: decision.message } : {}),
      ...(decision.headers ? { headers: decision.headers } : {}),
    });
    finish(started, "deny", decision.code);
    deps.log?.("proxy_auth_denied", {
      request_id: requestId,
      connection: decision.service,
      remote_ip: decision.clientIp,
      namespace,
      subject,
      stage: decision.stage,
      decision: "deny",
      reason_code: decision.code,
    });
  }

  return (req, res) => {
    const started = process.hrtime.bigint();
    metrics.inFlight.inc();
    res.once("close", () => metrics.inFlight.dec());
    const requestId = requestIdFrom(req.headers);
    handle(req, res, requestId, started).catch((error: unknown) => {
      deps.onError(error, requestId);
      if (!res.headersSent) {
        writeDeny(res, "INTERNAL_ERROR", requestId);
        finish(started, "deny", "INTERNAL_ERROR");
      } else {
        res.destroy();
      }
    });
  };
}
