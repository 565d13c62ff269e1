import type { IncomingMessage } from "node:http";
import { AUTHZ_TOKEN_HEADER, type AuthzTokenCodec } from "@sigilum-gw/shared/authz-token";
import { type ErrorCode, isErrorCode } from "@sigilum-gw/shared/errors";
import {
  AGENT_HEADERS_TO_VERIFIER,
  CHECK_PATH_PREFIX,
  SIGILUM_HEADER_PREFIX,
} from "@sigilum-gw/shared/ext-authz";
import { deny, ok, type Result } from "@sigilum-gw/shared/stage";
import { type Answer, AnswerClient } from "../http/answer-client.ts";
import type { Admitted, Authorized, ProxyDetail, ProxyStage } from "./exchange.ts";

/**
 * Authorization stage. The proxy serves a runtime request only with a valid `x-sigilum-authz` token minted by
 * the verifier for this method and path. Two ways to get one:
 * - envoy: Envoy already called the verifier; the token arrives as a request header.
 * - inline: no Envoy; the proxy makes the ext_authz HTTP call itself, exactly as Envoy would (DESIGN.md §1-§2):
 *   `/check` + original path and query, same method, the allowed headers, the buffered body. 200 → take the
 *   token from the answer; any other answer is relayed to the agent as is; a verifier that cannot answer
 *   (unreachable, timeout, 5xx other than its own 503 envelope) → refused, fail closed, with envoy.yaml's
 *   `failure_mode_allow: false` + `status_on_error: 503`.
 * Either way the token is then verified locally; there is no other way in. Denials are logged under the stage
 * `authz_token` (the token failed) or `verifier` (the verifier refused or could not answer).
 */

export interface AuthorizedIdentity {
  namespace: string;
  subject: string;
  keyId: string;
  publicKey: string;
  agentId: string | undefined;
  /** Request id the verifier bound into the token. */
  requestId: string | undefined;
}

export interface AuthorizeInput {
  req: IncomingMessage;
  method: string;
  /** The scheme the agent used, as the edge sees it (Envoy sets x-forwarded-proto itself). */
  scheme: "http" | "https";
  /** Raw request-target (path + query) as received. */
  target: string;
  body: Buffer | null;
  requestId: string;
  clientIp: string;
}

/** identity null: the verifier allowed an unsigned request (development bypass). */
export type AuthorizeOutcome = Result<AuthorizedIdentity | null, ProxyDetail>;

export interface Authorizer {
  /** Envoy mode answers synchronously (no promise on the hot path); inline mode waits for the verifier. */
  authorize(input: AuthorizeInput): AuthorizeOutcome | Promise<AuthorizeOutcome>;
  close(): Promise<void>;
}

/** The authorize stage: the authorizer's answer for this request (synchronous in envoy mode). */
export const authorize: ProxyStage<Admitted, Authorized> = (admitted, ctx) => {
  const { request, body } = admitted;
  const outcome = ctx.authorizer.authorize({
    req: request.req,
    method: request.method,
    scheme: request.scheme,
    target: request.target,
    body,
    requestId: request.requestId,
    clientIp: request.clientIp,
  });
  if (outcome instanceof Promise) return outcome.then((settled) => authorized(admitted, settled));
  return authorized(admitted, outcome);
};

function authorized(admitted: Admitted, outcome: AuthorizeOutcome): Result<Authorized, ProxyDetail> {
  return outcome.ok
    ? ok({ request: admitted.request, body: admitted.body, identity: outcome.value })
    : outcome;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value;
}

function refuse(stage: "authz_token" | "verifier", code: ErrorCode, detail: ProxyDetail, message?: string) {
  return deny(stage, code, { message, headers: { "x-sigilum-code": code }, detail });
}

/**
 * Checks the token against this request (method, path with query as received) and returns the identity it
 * binds; shared by both modes. A token without a namespace is the verifier's unsigned-bypass allow.
 */
function checkToken(
  codec: AuthzTokenCodec,
  token: string | string[] | undefined,
  method: string,
  target: string,
): AuthorizeOutcome {
  const result = codec.verify(token, { method: method.toUpperCase(), path: target });
  if (!result.ok) return refuse("authz_token", "AUTH_AUTHZ_TOKEN_INVALID", { tokenFailure: result.reason });
  const c = result.claims;
  if (c.namespace === "") return BYPASS;
  return ok({
    namespace: c.namespace,
    subject: c.subject,
    keyId: c.keyId,
    publicKey: c.publicKey,
    agentId: c.agentId,
    requestId: c.requestId || undefined,
  });
}

const BYPASS = ok(null);

export function createEnvoyAuthorizer(codec: AuthzTokenCodec): Authorizer {
  return {
    authorize({ req, method, target }) {
      return checkToken(codec, req.headers[AUTHZ_TOKEN_HEADER], method, target);
    },
    async close() {},
  };
}

/**
 * The agent's headers the verifier sees, as Envoy's `allowed_headers` lets them through, besides Host.
 * x-forwarded-proto, x-forwarded-for and x-request-id are set by the edge (here: this proxy), never copied
 * from the agent: the verifier may trust its peer's forwarded headers, so they must be ours.
 */
const FORWARDED_TO_VERIFIER = new Set<string>(["host", ...AGENT_HEADERS_TO_VERIFIER]);
const MAX_DENY_BODY_BYTES = 64 * 1024;

export interface InlineAuthorizerOptions {
  verifierUrl: string;
  codec: AuthzTokenCodec;
  timeoutMs: number;
  connections?: number;
}

export function createInlineAuthorizer(opts: InlineAuthorizerOptions): Authorizer {
  const url = new URL(opts.verifierUrl);
  const basePath = url.pathname.replace(/\/+$/, "");
  const verifier = new AnswerClient(url.origin, {
    timeoutMs: opts.timeoutMs,
    maxBodyBytes: MAX_DENY_BODY_BYTES,
    ...(opts.connections ? { connections: opts.connections } : {}),
  });

  // As Envoy when the authorization service errors: failure_mode_allow false, status_on_error 503.
  const failClosed = () => refuse("verifier", "SERVICE_UNAVAILABLE", {}, "authorization service unavailable");

  return {
    async authorize({ req, method, scheme, target, body, requestId, clientIp }) {
      const headers: string[] = [];
      const raw = req.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) {
        const lower = raw[i]!.toLowerCase();
        if (FORWARDED_TO_VERIFIER.has(lower) || lower.startsWith(SIGILUM_HEADER_PREFIX))
          headers.push(lower, raw[i + 1]!);
      }
      headers.push("x-forwarded-proto", scheme, "x-forwarded-for", clientIp, "x-request-id", requestId);
      headers.push("x-envoy-auth-partial-body", "false", "content-length", String(body?.length ?? 0));

      let answer: Answer;
      try {
        answer = await verifier.send({
          path: `${basePath}${CHECK_PATH_PREFIX}${target}`,
          method,
          headers,
          body,
        });
      } catch {
        return failClosed();
      }
      const { status } = answer;
      if (status === 200) {
        return checkToken(opts.codec, answer.headers[AUTHZ_TOKEN_HEADER], method, target);
      }
      // Any other answer is a denial relayed as is, except a 5xx that is not the verifier's own 503 envelope.
      const isEnvelope503 =
        status === 503 &&
        single(answer.headers["x-sigilum-code"]) !== undefined &&
        (single(answer.headers["content-type"]) ?? "").startsWith("application/json");
      if (status >= 500 && !isEnvelope503) return failClosed();
      // Relayed as is by errors.ts; the code names it in the log and metrics.
      const code = single(answer.headers["x-sigilum-code"]) ?? "";
      return deny("verifier", isErrorCode(code) ? code : "AUTH_FORBIDDEN", { detail: { relayed: answer } });
    },
    async close() {
      await verifier.close();
    },
  };
}
