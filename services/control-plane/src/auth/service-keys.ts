import { createHash, randomBytes } from "node:crypto";
import type { Queryable } from "../db/db.ts";

export const SERVICE_KEY_PREFIX = "sk_live_";

/** `sk_live_` + 48 lowercase hex (24 random bytes). */
export function generateServiceKey(): string {
  return SERVICE_KEY_PREFIX + randomBytes(24).toString("hex");
}

export function hashServiceKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** What the dashboard shows instead of the key: "..." + the last four characters. */
export function serviceKeyHint(key: string): string {
  return `...${key.slice(-4)}`;
}

export interface ServiceKeyIdentity {
  keyId: string;
  serviceId: string;
  slug: string;
  ownerUserId: string;
}

/** Extracts the Bearer value, or undefined when the header is missing or not `Bearer <x>`. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header?.startsWith("Bearer ")) return undefined;
  const token = header.slice(7).trim();
  return token.length > 0 && token.length <= 512 ? token : undefined;
}

/**
 * Resolves a non-revoked service API key to its service and owner. The key is scoped to that one
 * service row (and so to its owner), never to a bare slug.
 */
export async function resolveServiceKey(db: Queryable, key: string): Promise<ServiceKeyIdentity | undefined> {
  const { rows } = await db.query<{
    key_id: string;
    service_id: string;
    slug: string;
    owner_user_id: string;
  }>(
    `SELECT k.id AS key_id, s.id AS service_id, s.slug, s.owner_user_id
       FROM service_api_keys k JOIN services s ON s.id = k.service_id
      WHERE k.key_hash = $1 AND k.revoked_at IS NULL`,
    [hashServiceKey(key)],
  );
  const row = rows[0];
  if (!row) return undefined;
  // Feeds are polled every few seconds: record use at most once a minute per key.
  await db.query(
    `UPDATE service_api_keys SET last_used_at = now()
      WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '60 seconds')`,
    [row.key_id],
  );
  return { keyId: row.key_id, serviceId: row.service_id, slug: row.slug, ownerUserId: row.owner_user_id };
}
