import type { NonceStore } from "@sigilum-gw/shared/replay";
import type { Queryable } from "../db/db.ts";

/**
 * Replay window in PostgreSQL, used when Redis is not configured. An expired entry is overwritten,
 * so a nonce is accepted again only after its window.
 */
export class PgNonceStore implements NonceStore {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  async checkAndRecord(scope: string, nonce: string, ttlSeconds: number): Promise<boolean> {
    const { rows } = await this.#db.query(
      `INSERT INTO request_nonces (scope, nonce, expires_at)
       VALUES ($1, $2, now() + ($3::integer * interval '1 second'))
       ON CONFLICT (scope, nonce) DO UPDATE SET expires_at = EXCLUDED.expires_at
        WHERE request_nonces.expires_at <= now()
       RETURNING 1 AS fresh`,
      [scope, nonce, Math.max(1, Math.floor(ttlSeconds))],
    );
    return rows.length > 0;
  }
}

export async function purgeExpiredNonces(db: Queryable): Promise<number> {
  const res = await db.query("DELETE FROM request_nonces WHERE expires_at <= now()");
  return res.rowCount;
}
