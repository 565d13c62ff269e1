import type { Queryable } from "../db/db.ts";

/**
 * Expires pending claims older than `expiryHours`, except in namespaces whose owner set
 * `policy.autoExpire = false`. Returns the expired claims.
 */
export async function expireStalePendingClaims(db: Queryable, expiryHours: number) {
  const { rows } = await db.query<{ claim_id: string; namespace: string; service: string }>(
    `UPDATE authorizations a SET status = 'expired'
       FROM users u
      WHERE u.namespace = a.namespace
        AND a.status = 'pending'
        AND a.created_at < now() - ($1::integer * interval '1 hour')
        AND coalesce(u.settings #>> '{policy,autoExpire}', 'true') <> 'false'
      RETURNING a.claim_id, a.namespace, a.service`,
    [expiryHours],
  );
  return rows;
}
