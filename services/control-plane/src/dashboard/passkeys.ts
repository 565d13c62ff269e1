import { z } from "zod";
import type { Queryable } from "../db/db.ts";
import { int, iso } from "../db/values.ts";
import { ApiError, notFound } from "../http/errors.ts";
import { type Page, pagination } from "../http/pagination.ts";

/** A passkey as stored: the credential id (base64url) and its COSE public key. */
export interface StoredPasskey {
  id: string;
  user_id: string;
  public_key: Uint8Array;
  counter: number;
  transports: string[];
}

export const passkeyNameSchema = z.string().trim().min(1).max(100);
export const renameSchema = z.object({ name: passkeyNameSchema }).strict();

export async function insertPasskey(
  db: Queryable,
  p: {
    id: string;
    userId: string;
    publicKey: Uint8Array;
    counter: number;
    deviceType: string;
    backedUp: boolean;
    transports: string[];
    name: string;
  },
): Promise<void> {
  await db.query(
    `INSERT INTO webauthn_credentials (id, user_id, public_key, counter, device_type, backed_up, transports, name)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [
      p.id,
      p.userId,
      Buffer.from(p.publicKey),
      p.counter,
      p.deviceType,
      p.backedUp,
      p.transports.join(","),
      p.name,
    ],
  );
}

export async function findPasskey(db: Queryable, id: string): Promise<StoredPasskey | undefined> {
  const { rows } = await db.query<{
    id: string;
    user_id: string;
    public_key: Uint8Array;
    counter: unknown;
    transports: string;
  }>("SELECT id, user_id, public_key, counter, transports FROM webauthn_credentials WHERE id = $1", [id]);
  const r = rows[0];
  if (!r) return undefined;
  return {
    id: r.id,
    user_id: r.user_id,
    public_key: new Uint8Array(r.public_key),
    counter: int(r.counter),
    transports: r.transports ? r.transports.split(",") : [],
  };
}

/** Ids and transports of the owner's passkeys (to stop registering the same authenticator twice). */
export async function passkeyDescriptors(db: Queryable, userId: string) {
  const { rows } = await db.query<{ id: string; transports: string }>(
    "SELECT id, transports FROM webauthn_credentials WHERE user_id = $1",
    [userId],
  );
  return rows.map((r) => ({ id: r.id, transports: r.transports ? r.transports.split(",") : [] }));
}

export async function recordPasskeyUse(db: Queryable, id: string, counter: number): Promise<void> {
  await db.query("UPDATE webauthn_credentials SET counter = $2, last_used_at = now() WHERE id = $1", [
    id,
    counter,
  ]);
}

function present(r: Record<string, unknown>) {
  return {
    id: r.id,
    name: r.name,
    device_type: r.device_type,
    backed_up: r.backed_up === true,
    created_at: iso(r.created_at),
    last_used_at: iso(r.last_used_at),
  };
}

export async function listPasskeys(db: Queryable, userId: string, page: Page) {
  const total = await db.query<{ n: unknown }>(
    "SELECT count(*) AS n FROM webauthn_credentials WHERE user_id = $1",
    [userId],
  );
  const { rows } = await db.query(
    `SELECT id, name, device_type, backed_up, created_at, last_used_at FROM webauthn_credentials
      WHERE user_id = $1 ORDER BY created_at, id LIMIT $2 OFFSET $3`,
    [userId, page.limit, page.offset],
  );
  return { passkeys: rows.map(present), pagination: pagination(page, int(total.rows[0]?.n)) };
}

/** The passkeys shown inside the user object (`/v1/auth/me`, login, signup). */
export async function ownerPasskeys(db: Queryable, userId: string) {
  return (await listPasskeys(db, userId, { limit: 100, offset: 0 })).passkeys;
}

export async function renamePasskey(db: Queryable, userId: string, id: string, name: string) {
  const { rowCount } = await db.query(
    "UPDATE webauthn_credentials SET name = $3 WHERE id = $1 AND user_id = $2",
    [id, userId, name],
  );
  if (rowCount === 0) throw notFound("Passkey not found");
  return { success: true, name };
}

/**
 * Deletes one passkey. Unlike the reference, the last one may go: an owner can always sign in again with a login
 * link from the CLI (`sigilum auth login --open`), except an owner who signed up with a passkey and has no other.
 */
export async function deletePasskey(db: Queryable, userId: string, id: string, keepLast: boolean) {
  if (keepLast) {
    const { rows } = await db.query<{ n: unknown }>(
      "SELECT count(*) AS n FROM webauthn_credentials WHERE user_id = $1",
      [userId],
    );
    if (int(rows[0]?.n) <= 1) {
      throw new ApiError("LAST_PASSKEY", "Cannot delete your only passkey; add another one first");
    }
  }
  const { rowCount } = await db.query("DELETE FROM webauthn_credentials WHERE id = $1 AND user_id = $2", [
    id,
    userId,
  ]);
  if (rowCount === 0) throw notFound("Passkey not found");
  return { success: true, deleted: true, id };
}
