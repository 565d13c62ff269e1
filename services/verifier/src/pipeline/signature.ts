import type { Ed25519Backend } from "@sigilum-gw/shared/ed25519";
import type { ErrorCode } from "@sigilum-gw/shared/errors";
import { rebuildTargetUri } from "@sigilum-gw/shared/gateway-route";
import { createSigilumVerifier, type SigilumVerifier } from "@sigilum-gw/shared/http-signatures";
import { deny, ok } from "@sigilum-gw/shared/stage";
import type { CheckStage, Routed, Signed } from "./check.ts";

/**
 * Stage 3, signature: the signed authority must be one of the gateway's names, then signature, certificate,
 * content digest and freshness, all delegated to the shared profile verifier (one Ed25519 verify per request;
 * certificate proofs are cached by header value).
 */

const STAGE_OF_CODE: Partial<Record<ErrorCode, string>> = {
  AUTH_HEADERS_INVALID: "header_validation",
  AUTH_SIGNATURE_INVALID: "signature_verification",
  AUTH_SIGNED_COMPONENTS_INVALID: "component_validation",
  AUTH_IDENTITY_INVALID: "identity_extraction",
  AUTH_NONCE_INVALID: "nonce_validation",
};

export const signature: CheckStage<Routed, Signed> = (routed, ctx) => {
  const { request, service } = routed;
  if (ctx.signedHosts && !ctx.signedHosts.allows(request.host)) {
    return deny("route", "AUTH_HOST_NOT_ALLOWED", { detail: { service } });
  }
  const targetUri = rebuildTargetUri(
    {
      target: request.target,
      host: request.host,
      forwardedProto: request.forwardedProto,
      peerTrusted: request.peerTrusted,
    },
    ctx.publicOrigin,
  );
  const verified = ctx.verifier.verify({
    method: request.method,
    targetUri,
    headers: request.headers,
    body: routed.body,
  });
  if (!verified.ok) {
    return deny(STAGE_OF_CODE[verified.code] ?? "signature_verification", verified.code, {
      detail: { service },
    });
  }
  return ok({ service, clientIp: request.clientIp, identity: verified });
};

export function createSignatureVerifier(options: {
  maxAgeSeconds: number;
  now?: (() => number) | undefined;
  backend?: Ed25519Backend | undefined;
}): SigilumVerifier {
  return createSigilumVerifier({
    maxAgeSeconds: options.maxAgeSeconds,
    ...(options.now ? { now: options.now } : {}),
    ...(options.backend ? { backend: options.backend } : {}),
    // The gateway accepts the Go SDK / OpenClaw variant that also signs sigilum-agent-id (spec/gateway.md §2.3).
    allowAgentIdComponent: true,
  });
}
