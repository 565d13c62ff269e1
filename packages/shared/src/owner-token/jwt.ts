import { errors, jwtVerify, SignJWT } from "jose";
import { z } from "zod";

export const JWT_ISSUER = "sigilum-api";
export const JWT_AUDIENCE = "sigilum-dashboard";
export const DEFAULT_OWNER_TOKEN_TTL_SECONDS = 604800;

export interface OwnerClaims {
  sub: string;
  email: string;
  namespace: string;
}

export function localUserId(namespace: string): string {
  return `user_local_${namespace}`;
}

export function localEmail(namespace: string): string {
  return `${namespace}@local.sigilum`;
}

const keyOf = (secret: string) => new TextEncoder().encode(secret);

/**
 * Mints a namespace-owner JWT exactly like the reference CLI in oss-local mode:
 * header {alg:HS256, typ:JWT}, payload {sub, email, namespace, iss, aud, iat, exp} in that order.
 * `secret` is the control plane's JWT secret (JWT_SECRET or `<CONTROL_PLANE_DATA_DIR>/jwt-secret`).
 */
export async function mintOwnerToken(opts: {
  namespace: string;
  secret: string;
  ttlSeconds?: number;
  email?: string;
  userId?: string;
  now?: number;
}): Promise<string> {
  const iat = Math.floor((opts.now ?? Date.now()) / 1000);
  const ttl = opts.ttlSeconds ?? DEFAULT_OWNER_TOKEN_TTL_SECONDS;
  if (!Number.isInteger(ttl) || ttl <= 0) throw new Error("ttlSeconds must be a positive integer");
  if (opts.secret.length === 0) throw new Error("secret must not be empty");
  return new SignJWT({
    sub: opts.userId ?? localUserId(opts.namespace),
    email: opts.email ?? localEmail(opts.namespace),
    namespace: opts.namespace,
    iss: JWT_ISSUER,
    aud: JWT_AUDIENCE,
    iat,
    exp: iat + ttl,
  })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .sign(keyOf(opts.secret));
}

const ownerClaimsSchema = z.object({
  sub: z.string().min(1).max(256),
  email: z.string().min(1).max(320),
  namespace: z.string().min(1).max(64),
});

export type OwnerTokenResult = { ok: true; claims: OwnerClaims } | { ok: false; expired: boolean };

/** Verifies signature (HS256 only), iss, aud and exp, then requires non-empty sub, email and namespace. */
export async function verifyOwnerToken(token: string, secret: string): Promise<OwnerTokenResult> {
  try {
    const { payload } = await jwtVerify(token, keyOf(secret), {
      algorithms: ["HS256"],
      issuer: JWT_ISSUER,
      audience: JWT_AUDIENCE,
      requiredClaims: ["exp"],
    });
    const claims = ownerClaimsSchema.safeParse(payload);
    if (!claims.success) return { ok: false, expired: false };
    return { ok: true, claims: claims.data };
  } catch (err) {
    return { ok: false, expired: err instanceof errors.JWTExpired };
  }
}
