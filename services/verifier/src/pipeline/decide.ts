import { clientIpFrom, type TrustedProxies } from "@sigilum-gw/shared/client-ip";
import type { ErrorCode } from "@sigilum-gw/shared/errors";
import type { HostAllowlist } from "@sigilum-gw/shared/host-allowlist";
import type { HeaderInput, VerifiedIdentity } from "@sigilum-gw/shared/http-signatures";
import type { NonceStore } from "@sigilum-gw/shared/replay";
import { checkReplayEpoch, type ReplayEpoch } from "@sigilum-gw/shared/replay-epoch";
import type { ClaimsCache } from "../claims/cache.ts";
import type { ClaimSubmitter } from "../claims/submissions.ts";
import type { ClaimRequiredContext } from "./answer.ts";
import { checkClaim } from "./claims.ts";
import { parseRoute, rebuildTargetUri } from "./parse.ts";
import { checkReplay } from "./replay.ts";
import type { VerifyStage } from "./verify.ts";

/**
 * The decision pipeline, in spec order (spec/gateway.md §2.1): route → (dev bypass) → signature, certificate,
 * digest, freshness → nonce replay → claims. Pure of HTTP: input is the check request as data, output a decision
 * the handler writes, logs and counts.
 */

export interface CheckInput {
  method: string;
  /** Request target with the `/check` prefix removed (path + optional query, still encoded). */
  target: string;
  host: string | undefined;
  forwardedProto: string | undefined;
  forwardedFor: string | undefined;
  headers: HeaderInput;
  peer: string | undefined;
  body: Uint8Array | null;
}

export type DenyStage =
  | "route"
  | "header_validation"
  | "signature_verification"
  | "component_validation"
  | "identity_extraction"
  | "nonce_validation"
  | "replay_detection"
  | "connection_lookup"
  | "claims_cache"
  | "claims_lookup"
  | "claims_authorization";

export type Decision =
  | { kind: "allow"; service: string; clientIp: string; identity: VerifiedIdentity | null }
  | {
      kind: "deny";
      code: ErrorCode;
      stage: DenyStage;
      clientIp: string;
      service?: string;
      message?: string;
      identity?: VerifiedIdentity;
      headers?: Record<string, string>;
    }
  | {
      kind: "claim_required";
      service: string;
      clientIp: string;
      identity: VerifiedIdentity;
      ctx: ClaimRequiredContext;
    };

export interface PipelineDeps {
  verify: VerifyStage;
  nonces: NonceStore;
  /** When the replay window's data set began: older signatures could be replays it forgot. */
  epoch: ReplayEpoch;
  claims: ClaimsCache;
  submitter: ClaimSubmitter;
  trusted: TrustedProxies;
  publicOrigin: string | undefined;
  /** The Host names agents may sign for (`@target-uri` authority); undefined when publicOrigin fixes it. */
  signedHosts: HostAllowlist | undefined;
  nonceTtlSeconds: number;
  bypass: { enabled: boolean; connections: readonly string[] };
  /**
   * Whether this gateway serves the connection (a service API key for it, or the connection in the shared store).
   * Asked only off the hot path, before any claims lookup, so an unknown id is a plain 404 and never starts feed
   * refreshes (or warnings) for a service that does not exist.
   */
  connectionKnown(service: string): Promise<boolean>;
}

const STAGE_OF_CODE: Partial<Record<ErrorCode, DenyStage>> = {
  AUTH_HEADERS_INVALID: "header_validation",
  AUTH_SIGNATURE_INVALID: "signature_verification",
  AUTH_SIGNED_COMPONENTS_INVALID: "component_validation",
  AUTH_IDENTITY_INVALID: "identity_extraction",
  AUTH_NONCE_INVALID: "nonce_validation",
};

const INVALID_ROUTE_MESSAGE =
  "invalid gateway path, expected /proxy/{connection_id}/..., /mcp/{connection_id}/... or /slack/...";

export async function decide(input: CheckInput, deps: PipelineDeps): Promise<Decision> {
  const peerTrusted = deps.trusted.contains(input.peer);
  const ip = clientIpFrom(input.peer, input.forwardedFor, peerTrusted);
  const method = input.method.toUpperCase();
  if (method === "CONNECT" || method === "TRACE") {
    return { kind: "deny", code: "METHOD_NOT_ALLOWED", stage: "route", clientIp: ip };
  }
  const query = input.target.indexOf("?");
  const route = parseRoute(query === -1 ? input.target : input.target.slice(0, query));
  if (!route.ok) {
    if (route.reason === "not_signed_route")
      return { kind: "deny", code: "NOT_FOUND", stage: "route", clientIp: ip };
    if (route.reason === "unsafe_path")
      return { kind: "deny", code: "PATH_TRAVERSAL", stage: "route", clientIp: ip };
    return {
      kind: "deny",
      code: "INVALID_REQUEST",
      stage: "route",
      clientIp: ip,
      message: INVALID_ROUTE_MESSAGE,
    };
  }
  const service = route.route.service;

  if (
    deps.bypass.enabled &&
    (deps.bypass.connections.length === 0 || deps.bypass.connections.includes(service))
  ) {
    return { kind: "allow", service, clientIp: ip, identity: null };
  }

  if (deps.signedHosts && !deps.signedHosts.allows(input.host)) {
    return { kind: "deny", code: "AUTH_HOST_NOT_ALLOWED", stage: "route", clientIp: ip, service };
  }
  const targetUri = rebuildTargetUri(
    { target: input.target, host: input.host, forwardedProto: input.forwardedProto, peerTrusted },
    deps.publicOrigin,
  );
  const verified = deps.verify.verify({ method, targetUri, headers: input.headers, body: input.body });
  if (!verified.ok) {
    return {
      kind: "deny",
      code: verified.code,
      stage: STAGE_OF_CODE[verified.code] ?? "signature_verification",
      clientIp: ip,
      service,
    };
  }

  const epoch = await checkReplayEpoch(deps.epoch, verified.created);
  if (epoch === "unknown") {
    return {
      kind: "deny",
      code: "REDIS_UNAVAILABLE",
      stage: "replay_detection",
      clientIp: ip,
      service,
      identity: verified,
    };
  }
  if (epoch === "predates") {
    return {
      kind: "deny",
      code: "AUTH_REPLAY_WINDOW_RESET",
      stage: "replay_detection",
      clientIp: ip,
      service,
      identity: verified,
    };
  }
  const replay = await checkReplay(deps.nonces, verified.namespace, verified.nonce, deps.nonceTtlSeconds);
  if (replay === "replay") {
    return {
      kind: "deny",
      code: "AUTH_REPLAY_DETECTED",
      stage: "replay_detection",
      clientIp: ip,
      service,
      identity: verified,
    };
  }
  if (replay === "unavailable") {
    return {
      kind: "deny",
      code: "REDIS_UNAVAILABLE",
      stage: "replay_detection",
      clientIp: ip,
      service,
      identity: verified,
    };
  }

  // The common case (an approved agent, fresh snapshot) answers without another await.
  if (deps.claims.approvedFromMemory(service, verified.namespace, verified.publicKey)) {
    return { kind: "allow", service, clientIp: ip, identity: verified };
  }
  if (!(await deps.connectionKnown(service))) {
    return {
      kind: "deny",
      code: "CONNECTION_NOT_FOUND",
      stage: "connection_lookup",
      clientIp: ip,
      service,
      identity: verified,
      message: `connection "${service}" not found on this gateway`,
    };
  }
  const claim = await checkClaim(deps.claims, deps.submitter, {
    service,
    namespace: verified.namespace,
    publicKey: verified.publicKey,
    subject: verified.subject,
    ...(verified.agentId ? { agentId: verified.agentId } : {}),
    agentIp: ip,
  });
  switch (claim.kind) {
    case "approved":
      return { kind: "allow", service, clientIp: ip, identity: verified };
    case "claims_unavailable":
      return {
        kind: "deny",
        code: "AUTH_CLAIMS_UNAVAILABLE",
        stage: "claims_cache",
        clientIp: ip,
        service,
        identity: verified,
      };
    case "lookup_failed":
      return {
        kind: "deny",
        code: "AUTH_CLAIMS_LOOKUP_FAILED",
        stage: "claims_lookup",
        clientIp: ip,
        service,
        identity: verified,
      };
    case "store_unavailable":
      return {
        kind: "deny",
        code: "REDIS_UNAVAILABLE",
        stage: "claims_authorization",
        clientIp: ip,
        service,
        identity: verified,
      };
    case "rate_limited":
      return {
        kind: "deny",
        code: "AUTH_CLAIM_SUBMIT_RATE_LIMITED",
        stage: "claims_authorization",
        clientIp: ip,
        service,
        identity: verified,
        headers: { "retry-after": String(claim.retryAfterSeconds) },
      };
    case "claim_required":
      return {
        kind: "claim_required",
        service,
        clientIp: ip,
        identity: verified,
        ctx: {
          namespace: verified.namespace,
          subject: verified.subject,
          service,
          publicKey: verified.publicKey,
          remoteIp: ip,
          submission: claim.submission,
        },
      };
  }
}
