import { z } from "zod";
import type { ServiceKeyIdentity } from "../auth/service-keys.ts";
import type { Queryable } from "../db/db.ts";
import { int, iso } from "../db/values.ts";
import { forbidden } from "../http/errors.ts";
import { pageSchema, pagination } from "../http/pagination.ts";
import { CLAIM_STATUSES, type ClaimRow, presentClaim } from "./records.ts";

export const namespaceClaimsQuerySchema = z.object({
  status: z.enum(CLAIM_STATUSES).optional(),
  service: z.string().min(1).max(128).optional(),
  ...pageSchema(50, 200),
});
export type NamespaceClaimsQuery = z.output<typeof namespaceClaimsQuerySchema>;

/** GET /v1/namespaces/:ns/claims — every claim of the (already authorised) namespace, newest first. */
/** Live claims and the decided ones a later request replaced (the owner's whole history). */
export const WITH_HISTORY =
  "(SELECT * FROM authorizations UNION ALL SELECT * FROM authorization_history) AS claims";

export async function listNamespaceClaims(db: Queryable, namespace: string, q: NamespaceClaimsQuery) {
  const where = ["namespace = $1"];
  const params: unknown[] = [namespace];
  if (q.status) {
    params.push(q.status);
    where.push(`status = $${params.length}`);
  }
  if (q.service) {
    params.push(q.service);
    where.push(`service = $${params.length}`);
  }
  const cond = where.join(" AND ");
  const total = await db.query<{ n: unknown }>(
    `SELECT count(*) AS n FROM ${WITH_HISTORY} WHERE ${cond}`,
    params,
  );
  const { rows } = await db.query<ClaimRow>(
    `SELECT * FROM ${WITH_HISTORY} WHERE ${cond}
      ORDER BY created_at DESC, claim_id LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
    [...params, q.limit, q.offset],
  );
  return { claims: rows.map(presentClaim), pagination: pagination(q, int(total.rows[0]?.n)) };
}

export const feedQuerySchema = z.object({
  service: z.string().min(1).max(128).optional(),
  ...pageSchema(500, 2000),
});
export type FeedQuery = z.output<typeof feedQuerySchema>;

/**
 * The approved-claims feed polled by gateways: approved claims of the key's own service row only,
 * so another owner's service with the same slug never shows up.
 */
export async function approvedClaimsFeed(db: Queryable, key: ServiceKeyIdentity, q: FeedQuery) {
  if (q.service !== undefined && q.service !== key.slug) {
    throw forbidden("Requested service does not match API key service");
  }
  const total = await db.query<{ n: unknown }>(
    "SELECT count(*) AS n FROM authorizations WHERE service_id = $1 AND status = 'approved'",
    [key.serviceId],
  );
  const { rows } = await db.query<ClaimRow>(
    `SELECT claim_id, namespace, public_key, service, subject, agent_id, agent_name, approved_at
       FROM authorizations WHERE service_id = $1 AND status = 'approved'
      ORDER BY approved_at DESC, created_at DESC, claim_id LIMIT $2 OFFSET $3`,
    [key.serviceId, q.limit, q.offset],
  );
  return {
    claims: rows.map((r) => ({
      claim_id: r.claim_id,
      namespace: r.namespace,
      public_key: r.public_key,
      service: r.service,
      subject: r.subject,
      agent_id: r.agent_id,
      agent_name: r.agent_name,
      approved_at: iso(r.approved_at),
    })),
    pagination: pagination(q, int(total.rows[0]?.n)),
  };
}

export const verifyQuerySchema = z.object({
  namespace: z.string().min(1).max(64),
  public_key: z.string().min(1).max(256),
  service: z.string().min(1).max(128),
});
export type VerifyQuery = z.output<typeof verifyQuerySchema>;

/** GET /v1/verify: is this key approved for a service (by slug) in the caller's own namespace? */
export async function verifyAuthorization(db: Queryable, q: VerifyQuery) {
  const { rows } = await db.query<{ claim_id: string; approved_at: Date }>(
    `SELECT claim_id, approved_at FROM authorizations
      WHERE namespace = $1 AND public_key = $2 AND service = $3 AND status = 'approved'
      ORDER BY approved_at DESC LIMIT 1`,
    [q.namespace, q.public_key, q.service],
  );
  const row = rows[0];
  if (!row) return { authorized: false as const, reason: "no_approved_claim" };
  return { authorized: true as const, claim_id: row.claim_id, approved_at: iso(row.approved_at) };
}
