import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { MAX_REQUEST_TARGET_BYTES, SIGNING_HEADER_LIMITS } from "./limits.ts";
import { MAX_REQUEST_ID_LENGTH } from "./request-id.ts";

/**
 * The `x-sigilum-authz` token (DESIGN.md §2): the verifier's proof to the proxy that this exact request (method,
 * path with query) was authorized for this identity, valid at most 30 s. Compact form
 * `v1.<base64url(JSON payload)>.<base64url(HMAC-SHA256("v1.<payload>"))>`, keyed with a key derived from
 * GATEWAY_INTERNAL_SECRET (domain-separated, so the secret can safely serve other purposes too).
 */

export const AUTHZ_TOKEN_HEADER = "x-sigilum-authz";
export const AUTHZ_TOKEN_MAX_TTL_SECONDS = 30;
/** Clock difference tolerated between verifier and proxy hosts. */
export const AUTHZ_TOKEN_CLOCK_SKEW_SECONDS = 5;
export const MIN_SECRET_BYTES = 32;
const VERSION = "v1";
const VERSION_PREFIX_LENGTH = VERSION.length + 1;
const FIELD_MAX = {
  m: 32,
  p: MAX_REQUEST_TARGET_BYTES,
  ns: SIGNING_HEADER_LIMITS["sigilum-namespace"],
  sub: SIGNING_HEADER_LIMITS["sigilum-subject"],
  // The key id is a parameter of signature-input (and must equal the certificate's).
  kid: SIGNING_HEADER_LIMITS["signature-input"],
  pk: SIGNING_HEADER_LIMITS["sigilum-agent-key"],
  rid: MAX_REQUEST_ID_LENGTH,
  aid: SIGNING_HEADER_LIMITS["sigilum-agent-id"],
};
/**
 * Derived from the request limits, so that every request the verifier accepts gets a token the proxy accepts:
 * each field at its limit, every character JSON-escaped or UTF-8 encoded to at most 2 bytes (header and URL
 * text is latin1 without control characters but tab), 128 bytes of names and punctuation, then base64url.
 */
const MAX_PAYLOAD_BYTES = 2 * Object.values(FIELD_MAX).reduce((a, b) => a + b, 0) + 128;
const MAX_TOKEN_LENGTH = VERSION_PREFIX_LENGTH + Math.ceil((MAX_PAYLOAD_BYTES * 4) / 3) + 1 + 43;
const KEY_LABEL = "sigilum-gateway/authz-token/v1";
const B64URL = /^[A-Za-z0-9_-]+$/;

export interface AuthzClaims {
  method: string;
  /** Path with query, exactly as the agent sent it. */
  path: string;
  namespace: string;
  subject: string;
  keyId: string;
  publicKey: string;
  requestId: string;
  agentId?: string;
}

const payloadSchema = z.strictObject({
  m: z.string().min(1).max(FIELD_MAX.m),
  p: z.string().min(1).max(FIELD_MAX.p),
  ns: z.string().max(FIELD_MAX.ns),
  sub: z.string().max(FIELD_MAX.sub),
  kid: z.string().max(FIELD_MAX.kid),
  pk: z.string().max(FIELD_MAX.pk),
  rid: z.string().max(FIELD_MAX.rid),
  aid: z.string().max(FIELD_MAX.aid).optional(),
  exp: z.number().int().nonnegative(),
});

type Payload = z.infer<typeof payloadSchema>;

export type AuthzTokenFailure =
  | "missing"
  | "malformed"
  | "bad_signature"
  | "expired"
  | "lifetime_too_long"
  | "method_mismatch"
  | "path_mismatch";

export type AuthzVerifyResult =
  | { ok: true; claims: AuthzClaims; expiresAt: number }
  | { ok: false; reason: AuthzTokenFailure };

export interface AuthzTokenCodecOptions {
  /** Unix seconds (may be fractional). */
  now?: () => number;
  /** Token lifetime, clamped to 1..30 s. Default 30. */
  ttlSeconds?: number;
}

export interface AuthzTokenCodec {
  sign(claims: AuthzClaims): string;
  /** Never throws: any bad input is a typed failure. */
  verify(token: string | string[] | undefined, expected: { method: string; path: string }): AuthzVerifyResult;
}

const systemNow = () => Date.now() / 1000;

function deriveKey(secret: string | Uint8Array): KeyObject {
  const bytes = typeof secret === "string" ? Buffer.from(secret, "utf8") : secret;
  if (bytes.byteLength < MIN_SECRET_BYTES) {
    throw new Error(`the authz token secret must be at least ${MIN_SECRET_BYTES} bytes`);
  }
  return createSecretKey(createHmac("sha256", bytes).update(KEY_LABEL).digest());
}

function toPayload(claims: AuthzClaims, exp: number): Payload {
  const payload: Payload = {
    m: claims.method.toUpperCase(),
    p: claims.path,
    ns: claims.namespace,
    sub: claims.subject,
    kid: claims.keyId,
    pk: claims.publicKey,
    rid: claims.requestId,
    exp,
  };
  if (claims.agentId !== undefined && claims.agentId !== "") payload.aid = claims.agentId;
  return payload;
}

function fromPayload(p: Payload): AuthzClaims {
  const claims: AuthzClaims = {
    method: p.m,
    path: p.p,
    namespace: p.ns,
    subject: p.sub,
    keyId: p.kid,
    publicKey: p.pk,
    requestId: p.rid,
  };
  if (p.aid !== undefined) claims.agentId = p.aid;
  return claims;
}

/** Derives the key once; use one codec per process on the hot path. Throws only for a too-short secret. */
export function createAuthzTokenCodec(
  secret: string | Uint8Array,
  opts: AuthzTokenCodecOptions = {},
): AuthzTokenCodec {
  const key = deriveKey(secret);
  const now = opts.now ?? systemNow;
  const ttl = Math.min(AUTHZ_TOKEN_MAX_TTL_SECONDS, Math.max(1, Math.floor(opts.ttlSeconds ?? 30)));
  const mac = (signingInput: string) => createHmac("sha256", key).update(signingInput).digest();

  function sign(claims: AuthzClaims): string {
    const body = Buffer.from(JSON.stringify(toPayload(claims, Math.floor(now()) + ttl))).toString(
      "base64url",
    );
    const signingInput = `${VERSION}.${body}`;
    // Straight to base64url: no intermediate Buffer on the verifier's per-request path.
    return `${signingInput}.${createHmac("sha256", key).update(signingInput).digest("base64url")}`;
  }

  function verify(
    token: string | string[] | undefined,
    expected: { method: string; path: string },
  ): AuthzVerifyResult {
    if (token === undefined || token === "") return { ok: false, reason: "missing" };
    // Several header lines: a smuggling attempt or a broken hop, never legitimate.
    if (typeof token !== "string" || token.length > MAX_TOKEN_LENGTH)
      return { ok: false, reason: "malformed" };
    // v1.<body>.<sig>: the signing input is the token up to the last dot, so it is not rebuilt.
    const bodyStart = VERSION.length + 1;
    const sigDot = token.lastIndexOf(".");
    if (!token.startsWith(`${VERSION}.`) || sigDot <= bodyStart || token.indexOf(".", bodyStart) !== sigDot)
      return { ok: false, reason: "malformed" };
    const body = token.slice(bodyStart, sigDot);
    const sig = token.slice(sigDot + 1);
    // The body is checked by the MAC before it is decoded; the signature must be canonical base64url.
    if (!B64URL.test(sig)) return { ok: false, reason: "malformed" };
    const given = Buffer.from(sig, "base64url");
    const wanted = mac(token.slice(0, sigDot));
    if (given.length !== wanted.length || !timingSafeEqual(given, wanted))
      return { ok: false, reason: "bad_signature" };

    let payload: Payload;
    try {
      const parsed = payloadSchema.safeParse(JSON.parse(Buffer.from(body, "base64url").toString("utf8")));
      if (!parsed.success) return { ok: false, reason: "malformed" };
      payload = parsed.data;
    } catch {
      return { ok: false, reason: "malformed" };
    }
    const t = now();
    if (t >= payload.exp) return { ok: false, reason: "expired" };
    if (payload.exp > t + AUTHZ_TOKEN_MAX_TTL_SECONDS + AUTHZ_TOKEN_CLOCK_SKEW_SECONDS) {
      return { ok: false, reason: "lifetime_too_long" };
    }
    if (payload.m !== expected.method.toUpperCase()) return { ok: false, reason: "method_mismatch" };
    if (payload.p !== expected.path) return { ok: false, reason: "path_mismatch" };
    return { ok: true, claims: fromPayload(payload), expiresAt: payload.exp };
  }

  return { sign, verify };
}

/** One-off signing (derives the key each call; prefer createAuthzTokenCodec on the hot path). */
export function signAuthzToken(
  secret: string | Uint8Array,
  claims: AuthzClaims,
  opts?: AuthzTokenCodecOptions,
) {
  return createAuthzTokenCodec(secret, opts).sign(claims);
}

/** One-off verification; never throws (a too-short secret is reported as bad_signature). */
export function verifyAuthzToken(
  secret: string | Uint8Array,
  token: string | string[] | undefined,
  expected: { method: string; path: string; now?: () => number },
): AuthzVerifyResult {
  let codec: AuthzTokenCodec;
  try {
    codec = createAuthzTokenCodec(secret, { now: expected.now });
  } catch {
    return { ok: false, reason: "bad_signature" };
  }
  return codec.verify(token, expected);
}
