import type { Request } from "express";
import type { Queryable } from "../db/db.ts";
import { ApiError } from "../http/errors.ts";
import { bearerToken, resolveServiceKey, type ServiceKeyIdentity } from "./service-keys.ts";

/**
 * The Bearer service key of a signed machine request. Status codes follow the reference: the claims
 * feed answers 401 for any bad key; claim submit and usage answer 401 without a key, 403 for a bad one.
 */
export async function requireServiceKey(
  req: Request,
  db: Queryable,
  style: "feed" | "submit",
): Promise<ServiceKeyIdentity> {
  const token = bearerToken(req.headers.authorization);
  const key = token ? await resolveServiceKey(db, token) : undefined;
  if (key) return key;
  if (style === "feed") throw new ApiError("UNAUTHORIZED", "Missing or invalid service API key");
  if (!token) {
    throw new ApiError(
      "UNAUTHORIZED",
      "Missing or invalid Authorization header. Use: Bearer <service_api_key>",
    );
  }
  throw new ApiError("FORBIDDEN", "Invalid or revoked API key");
}
