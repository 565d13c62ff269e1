import type { Queryable } from "../db/db.ts";
import { int, iso } from "../db/values.ts";
import { notFound } from "../http/errors.ts";

/** GET /v1/namespaces/:ns — the namespace's DID, owner and number of approved claims. */
export async function namespaceInfo(db: Queryable, namespace: string) {
  const { rows } = await db.query<{ id: string; created_at: Date; active_claims: unknown }>(
    `SELECT u.id, u.created_at,
            (SELECT count(*) FROM authorizations a WHERE a.namespace = u.namespace AND a.status = 'approved')
              AS active_claims
       FROM users u WHERE u.namespace = $1`,
    [namespace],
  );
  const row = rows[0];
  if (!row) throw notFound("Namespace not found");
  return {
    did: `did:sigilum:${namespace}`,
    namespace,
    owner: row.id,
    created_at: iso(row.created_at),
    active: true,
    active_claims: int(row.active_claims),
  };
}
