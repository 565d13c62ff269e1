import { createHash, randomBytes } from "node:crypto";
import { z } from "zod";
import type { Queryable } from "../db/db.ts";
import { findOwnerByNamespace, type Owner } from "../owners/owners.ts";

const sha256 = (token: string) => createHash("sha256").update(token).digest("hex");

export const redeemSchema = z
  .object({ token: z.string().regex(/^[A-Za-z0-9_-]{43}$/, "malformed login link") })
  .strict();

/** A fresh one-time link token (32 random bytes, base64url); only its SHA-256 is stored. */
export async function createLoginLink(
  db: Queryable,
  owner: Owner,
  ttlSeconds: number,
): Promise<{ token: string; expiresAt: Date }> {
  const token = randomBytes(32).toString("base64url");
  const { rows } = await db.query<{ expires_at: Date }>(
    `INSERT INTO login_links (token_hash, user_id, expires_at)
     VALUES ($1, $2, now() + ($3::integer * interval '1 second')) RETURNING expires_at`,
    [sha256(token), owner.id, ttlSeconds],
  );
  await db.query("DELETE FROM login_links WHERE expires_at < now() - interval '1 day'");
  return { token, expiresAt: new Date(String(rows[0]!.expires_at)) };
}

/** Uses the link up (atomically: two tabs racing get one session) and returns its owner, or undefined. */
export async function redeemLoginLink(db: Queryable, token: string): Promise<Owner | undefined> {
  const { rows } = await db.query<{ namespace: string }>(
    `UPDATE login_links l SET used_at = now() FROM users u
      WHERE l.token_hash = $1 AND l.used_at IS NULL AND l.expires_at > now() AND u.id = l.user_id
      RETURNING u.namespace`,
    [sha256(token)],
  );
  return rows[0] ? findOwnerByNamespace(db, rows[0].namespace) : undefined;
}
