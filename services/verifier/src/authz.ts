import { type AuthzTokenCodec, createAuthzTokenCodec } from "@sigilum-gw/shared/authz-token";
import type { VerifiedIdentity } from "@sigilum-gw/shared/http-signatures";

/**
 * Mints the x-sigilum-authz token of an allow answer: binds method, path with query, identity and request id,
 * HMAC'd with GATEWAY_INTERNAL_SECRET, so the proxy refuses any request that did not pass this verifier. A
 * bypassed request (development flag) carries an empty identity.
 */
export type AuthzMinter = (input: {
  method: string;
  path: string;
  requestId: string;
  identity: VerifiedIdentity | null;
}) => string;

export function createAuthzMinter(secret: string, now?: () => number): AuthzMinter {
  const codec: AuthzTokenCodec = createAuthzTokenCodec(secret, now ? { now } : {});
  return (input) =>
    codec.sign({
      method: input.method,
      path: input.path,
      requestId: input.requestId,
      namespace: input.identity?.namespace ?? "",
      subject: input.identity?.subject ?? "",
      keyId: input.identity?.keyId ?? "",
      publicKey: input.identity?.publicKey ?? "",
      ...(input.identity?.agentId ? { agentId: input.identity.agentId } : {}),
    });
}
