import { rebuildTargetUri } from "@sigilum-gw/shared/gateway-route";
import type { SigilumVerifier, VerifiedIdentity, VerifyResult } from "@sigilum-gw/shared/http-signatures";
import type { NonceStore } from "@sigilum-gw/shared/replay";
import { checkReplayEpoch, type ReplayEpoch } from "@sigilum-gw/shared/replay-epoch";
import type { Request } from "express";
import { ApiError } from "../http/errors.ts";
import { rawBody } from "../http/validate.ts";

/** Headers the reference API requires before it looks at anything else (401 SIGNATURE_MISSING). */
const REQUIRED_HEADERS = [
  "signature-input",
  "signature",
  "sigilum-agent-cert",
  "sigilum-agent-key",
  "sigilum-namespace",
  "sigilum-subject",
] as const;

export interface SignedAuthDeps {
  verifier: SigilumVerifier;
  nonces: NonceStore;
  nonceTtlSeconds: number;
  /**
   * When the Redis nonce window's data set began (the verifier's marker, shared/replay-epoch.ts): a signature
   * created earlier could be a replay a restarted or rolled-back Redis forgot. Undefined with nonces in PostgreSQL.
   */
  epoch?: ReplayEpoch;
  /** Origin (plus optional path prefix) clients sign, e.g. from CONTROL_PLANE_PUBLIC_URL. */
  publicUrl?: string;
  trustProxy: boolean;
}

/** What the signer must be, when the route binds it to the request (reference §A.4). */
export interface SignerBinding {
  namespace?: string;
  publicKey?: string;
}

/**
 * The `@target-uri` the client signed: the public URL (or `http://` + raw Host) followed by the raw
 * request-target, never WHATWG-normalised, so Go and TS signers both match (docs/protocol.md).
 */
export function targetUriOf(req: Request, deps: Pick<SignedAuthDeps, "publicUrl" | "trustProxy">): string {
  const proto = req.headers["x-forwarded-proto"];
  return rebuildTargetUri(
    {
      target: req.originalUrl,
      host: req.headers.host,
      forwardedProto: Array.isArray(proto) ? proto[0] : proto,
      peerTrusted: deps.trustProxy,
    },
    deps.publicUrl,
  );
}

function failure(result: Extract<VerifyResult, { ok: false }>): ApiError {
  switch (result.code) {
    case "AUTH_SIGNED_COMPONENTS_INVALID":
      return new ApiError("SIGNATURE_COMPONENTS_INVALID", "Invalid signed component set");
    case "AUTH_SIGNATURE_INVALID":
      if (/expired|future/.test(result.reason)) {
        return new ApiError("SIGNATURE_EXPIRED", "Signature expired or not yet valid");
      }
      if (/content-digest/.test(result.reason)) {
        return new ApiError("SIGNATURE_DIGEST_MISMATCH", "Content digest mismatch");
      }
      return new ApiError("SIGNATURE_INVALID", `Invalid signature: ${result.reason}`);
    default:
      return new ApiError("SIGNATURE_INVALID", `Invalid signature: ${result.reason}`);
  }
}

/**
 * Verifies the Sigilum signature of the request and the route's binding, without touching the nonce
 * window. Order as the reference: headers (401) → signature (401) → binding (403).
 */
export function verifySignature(
  req: Request,
  deps: SignedAuthDeps,
  binding: SignerBinding = {},
): VerifiedIdentity {
  for (const name of REQUIRED_HEADERS) {
    const value = req.headers[name];
    if (value === undefined || (typeof value === "string" && value.trim() === "")) {
      throw new ApiError("SIGNATURE_MISSING", "Missing required signed-auth headers");
    }
  }
  const body = rawBody(req);
  const result = deps.verifier.verify({
    method: req.method,
    targetUri: targetUriOf(req, deps),
    headers: req.headersDistinct,
    body: body.length > 0 ? body : null,
  });
  if (!result.ok) throw failure(result);
  if (binding.namespace !== undefined && binding.namespace !== result.namespace) {
    throw new ApiError("SIGNATURE_NAMESPACE_MISMATCH", "Namespace does not match request");
  }
  if (binding.publicKey !== undefined && binding.publicKey !== result.publicKey) {
    throw new ApiError("SIGNATURE_KEY_MISMATCH", "Public key does not match request");
  }
  return result;
}

/**
 * Records the signature nonce in the signer's namespace window: a second use is 409, a store outage 503, a
 * signature older than the window's data set 403 (the same rule and code as the verifier's).
 */
export async function consumeNonce(deps: SignedAuthDeps, signer: VerifiedIdentity): Promise<void> {
  const epoch = deps.epoch ? await checkReplayEpoch(deps.epoch, signer.created) : "current";
  if (epoch === "unknown") throw new ApiError("NONCE_STORE_UNAVAILABLE", "Nonce store unavailable");
  if (epoch === "predates") throw new ApiError("AUTH_REPLAY_WINDOW_RESET");
  let fresh: boolean;
  try {
    fresh = await deps.nonces.checkAndRecord(`sig:${signer.namespace}`, signer.nonce, deps.nonceTtlSeconds);
  } catch {
    throw new ApiError("NONCE_STORE_UNAVAILABLE", "Nonce store unavailable");
  }
  if (!fresh) throw new ApiError("SIGNATURE_NONCE_REPLAY", "Signature nonce has already been used");
}

/**
 * Signature, binding and nonce in one step, for routes with no other credential. Routes that also take
 * a service key check it between the two, so callers without a valid key never write to the nonce store.
 */
export async function requireSignature(
  req: Request,
  deps: SignedAuthDeps,
  binding: SignerBinding = {},
): Promise<VerifiedIdentity> {
  const signer = verifySignature(req, deps, binding);
  await consumeNonce(deps, signer);
  return signer;
}
