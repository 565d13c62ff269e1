/** Reading stored owner tokens; minting is `mintOwnerToken` in @sigilum-gw/shared/owner-token. */
import { z } from "zod";

const claimsSchema = z
  .object({
    sub: z.string().optional(),
    email: z.string().optional(),
    namespace: z.string().optional(),
    exp: z.number().optional(),
    iat: z.number().optional(),
  })
  .loose();

export type OwnerTokenClaims = z.infer<typeof claimsSchema>;

const JWT_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** The token's claims WITHOUT verifying it (display and expiry hints only; the control plane verifies). */
export function readTokenClaims(token: string): OwnerTokenClaims | undefined {
  if (!JWT_RE.test(token)) return undefined;
  try {
    const parsed = claimsSchema.safeParse(
      JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString()),
    );
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export function isWellFormedJwt(token: string): boolean {
  return JWT_RE.test(token);
}

export function isExpired(
  claims: OwnerTokenClaims | undefined,
  nowSeconds = Math.floor(Date.now() / 1000),
): boolean {
  return claims?.exp !== undefined && claims.exp <= nowSeconds;
}
