import type { IncomingMessage, ServerResponse } from "node:http";
import {
  AUTHZ_TOKEN_HEADER,
  type AuthzTokenCodec,
  type AuthzTokenFailure,
} from "@sigilum-gw/shared/authz-token";
import { type ErrorCode, sendError } from "@sigilum-gw/shared/errors";
import {
  AGENT_HEADERS_TO_VERIFIER,
  CHECK_PATH_PREFIX,
  DENY_CLIENT_HEADERS,
  SIGILUM_HEADER_PREFIX,
} from "@sigilum-gw/shared/ext-authz";
import { type Answer, AnswerClient } from "../http/answer-client.ts";

/**
 * Authorization stage. The proxy serves a runtime request only with a valid `x-sigilum-authz` token minted by
 * the verifier for this method and path. Two ways to get one:
 * - envoy: Envoy already called the verifier; the token arrives as a request header.
 * - inline: no Envoy; the proxy makes the ext_authz HTTP call itself, exactly as Envoy would (DESIGN.md §1-§2):
 *   `/check` + original path and query, same method, the allowed headers, the buffered body. 200 → take the
 *   token from the answer; any other answer is relayed to the agent as is; a verifier that cannot answer
 *   (unreachable, timeout, 5xx other than its own 503 envelope) → refused, fail closed, with envoy.yaml's
 *   `failure_mode_allow: false` + `status_on_error: 503`.
 * Either way the token is then verified locally; there is no other way in.
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

export type AuthorizeOutcome =
  /** identity null: the verifier allowed an unsigned request (development bypass). */
  | { ok: true; identity: AuthorizedIdentity | null }
  /** The answer to the agent (already decided); `respond` writes it. */
  | { ok: false; code: string; tokenFailure?: AuthzTokenFailure; respond: (res: ServerResponse) => void };

export interface Authorizer {
  /** Envoy mode answers synchronously (no promise on the hot path); inline mode waits for the verifier. */
  authorize(input: AuthorizeInput): AuthorizeOutcome | Promise<AuthorizeOutcome>;
  close(): Promise<void>;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value;
}

function deny(
  code: ErrorCode,
  requestId: string,
  message?: string,
  tokenFailure?: AuthzTokenFailure,
): AuthorizeOutcome {
  return {
    ok: false,
    code,
    ...(tokenFailure ? { tokenFailure } : {}),
    respond: (res) =>
      sendError(res, code, {
        requestId,
        ...(message ? { message } : {}),
        headers: { "x-sigilum-code": code },
      }),
  };
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
  requestId: string,
): AuthorizeOutcome {
  const result = codec.verify(token, { method: method.toUpperCase(), path: target });
  if (!result.ok) return deny("AUTH_AUTHZ_TOKEN_INVALID", requestId, undefined, result.reason);
  const c = result.claims;
  if (c.namespace === "") return { ok: true, identity: null };
  return {
    ok: true,
    identity: {
      namespace: c.namespace,
      subject: c.subject,
      keyId: c.keyId,
      publicKey: c.publicKey,
      agentId: c.agentId,
      requestId: c.requestId || undefined,
    },
  };
}

export function createEnvoyAuthorizer(codec: AuthzTokenCodec): Authorizer {
  return {
    authorize({ req, method, target, requestId }) {
      return checkToken(codec, req.headers[AUTHZ_TOKEN_HEADER], method, target, requestId);
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

  function failClosed(requestId: string): AuthorizeOutcome {
    // As Envoy when the authorization service errors: failure_mode_allow false, status_on_error 503.
    return deny("SERVICE_UNAVAILABLE", requestId, "authorization service unavailable");
  }

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
        return failClosed(requestId);
      }
      const { status } = answer;
      if (status === 200) {
        return checkToken(opts.codec, answer.headers[AUTHZ_TOKEN_HEADER], method, target, requestId);
      }
      // Any other answer is a denial relayed as is, except a 5xx that is not the verifier's own 503 envelope.
      const isEnvelope503 =
        status === 503 &&
        single(answer.headers["x-sigilum-code"]) !== undefined &&
        (single(answer.headers["content-type"]) ?? "").startsWith("application/json");
      if (status >= 500 && !isEnvelope503) return failClosed(requestId);
      const code = single(answer.headers["x-sigilum-code"]) ?? "AUTH_FORBIDDEN";
      return {
        ok: false,
        code,
        respond: (res) => {
          for (const name of DENY_CLIENT_HEADERS) {
            const value = answer.headers[name];
            if (value !== undefined) res.setHeader(name, value);
          }
          if (!res.hasHeader("x-request-id")) res.setHeader("x-request-id", requestId);
          res.setHeader("content-length", answer.body.length);
          res.statusCode = status;
          res.end(answer.body);
        },
      };
    },
    async close() {
      await verifier.close();
    },
  };
}
