import type { Queryable } from "../db/db.ts";

export const NAMESPACE_STRICT_RE = /^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$/;
export const NAMESPACE_MIXED_RE = /^[a-zA-Z0-9][a-zA-Z0-9-]{1,62}[a-zA-Z0-9]$/;

export interface Owner {
  id: string;
  email: string;
  namespace: string;
  plan: string;
  settings: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
  registration_tx_hash: string | null;
}

export async function findOwnerByNamespace(db: Queryable, namespace: string): Promise<Owner | undefined> {
  const { rows } = await db.query<Owner & Record<string, unknown>>(
    "SELECT id, email, namespace, plan, settings, created_at, updated_at, registration_tx_hash FROM users WHERE namespace = $1",
    [namespace],
  );
  return rows[0];
}

export type EnsureOwnerResult = { ok: true; owner: Owner } | { ok: false; reason: string };

/**
 * Finds the owner a verified JWT speaks for, creating it on first use. Anyone holding the JWT secret
 * can mint tokens (that is how the local CLI logs in), so the first valid token for a free namespace
 * provisions it. A token whose `sub` is not the namespace's existing owner is refused.
 */
export async function ensureOwner(
  db: Queryable,
  claims: { sub: string; email: string; namespace: string },
): Promise<EnsureOwnerResult> {
  let owner = await findOwnerByNamespace(db, claims.namespace);
  if (!owner) {
    if (!NAMESPACE_STRICT_RE.test(claims.namespace))
      return { ok: false, reason: "invalid namespace in token" };
    await db.query(
      `INSERT INTO users (id, email, namespace, plan, settings) VALUES ($1, $2, $3, 'free', '{}'::jsonb)
       ON CONFLICT DO NOTHING`,
      [claims.sub, claims.email, claims.namespace],
    );
    owner = await findOwnerByNamespace(db, claims.namespace);
    if (!owner) return { ok: false, reason: "token user conflicts with an existing account" };
  }
  if (owner.id !== claims.sub) return { ok: false, reason: "token subject is not the namespace owner" };
  return { ok: true, owner };
}
