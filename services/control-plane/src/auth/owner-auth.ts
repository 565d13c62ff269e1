import { verifyOwnerToken } from "@sigilum-gw/shared/owner-token";
import type { Request } from "express";
import type { Db } from "../db/db.ts";
import { ApiError, forbidden } from "../http/errors.ts";
import { ensureOwner, NAMESPACE_MIXED_RE, type Owner } from "../owners/owners.ts";

export const OWNER_COOKIE = "sigilum_token";

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      try {
        return decodeURIComponent(value);
      } catch {
        return value;
      }
    }
  }
  return undefined;
}

/** The `sigilum_token` session cookie, when the request has a non-empty one. */
export function sessionCookieFrom(req: Request): string | undefined {
  const cookie = cookieValue(req.headers.cookie, OWNER_COOKIE);
  return cookie && cookie.length > 0 ? cookie : undefined;
}

/** `Authorization: Bearer <jwt>` wins over the `sigilum_token` cookie, as in the reference. */
export function ownerTokenFrom(req: Request): string | undefined {
  const auth = req.headers.authorization;
  if (auth?.startsWith("Bearer ")) {
    const token = auth.slice(7).trim();
    if (token.length > 0) return token;
  }
  return sessionCookieFrom(req);
}

/** Authenticates the namespace owner behind the request or throws 401. */
export async function requireOwner(req: Request, deps: { db: Db; jwtSecret: string }): Promise<Owner> {
  const token = ownerTokenFrom(req);
  if (!token) throw new ApiError("UNAUTHORIZED", "Authentication required");
  if (token.length > 8192) throw new ApiError("TOKEN_EXPIRED", "Invalid or expired token");
  const verified = await verifyOwnerToken(token, deps.jwtSecret);
  if (!verified.ok) throw new ApiError("TOKEN_EXPIRED", "Invalid or expired token");
  const owner = await ensureOwner(deps.db, verified.claims);
  if (!owner.ok) throw new ApiError("UNAUTHORIZED", "Token does not match a namespace owner");
  return owner.owner;
}

/** Path namespace: 400 when malformed, 403 when it is not the caller's own. */
export function requireOwnNamespace(owner: Owner, namespace: string): void {
  if (!NAMESPACE_MIXED_RE.test(namespace)) {
    throw new ApiError("VALIDATION_ERROR", "Invalid namespace format");
  }
  if (namespace !== owner.namespace) throw forbidden("Access denied: namespace belongs to another owner");
}
