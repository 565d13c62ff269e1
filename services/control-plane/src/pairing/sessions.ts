import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import type { Queryable } from "../db/db.ts";
import { ApiError, forbidden } from "../http/errors.ts";
import type { Owner } from "../owners/owners.ts";

/** Pairing sessions (spec §B.1–B.3) in PostgreSQL. The code is shown once; only its SHA-256 is kept. */

const CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
export const PAIR_CODE_LENGTH = 8;
/** Wrong codes a session survives; the next one locks it for good (40-bit codes, so guessing stays hopeless). */
export const MAX_CODE_ATTEMPTS = 10;
/** While a bridge is connected, a session within this of its end is pushed to now + LEASE_EXTENSION_MS (§B.4). */
const LEASE_REFRESH_WINDOW_MS = 2 * 60_000;
const LEASE_EXTENSION_MS = 5 * 60_000;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const startSessionSchema = z
  .object({
    namespace: z.string().min(3).max(64).optional(),
    ttl_seconds: z.number().int().min(30).max(3600).optional(),
  })
  .strict();

export interface SessionRow {
  id: string;
  owner_user_id: string;
  namespace: string;
  code_hash: string;
  created_at: Date;
  expires_at: Date;
  last_connected_at: Date | null;
  failed_attempts: number;
  gateway_public_key: string | null;
  [k: string]: unknown;
}

/** 8 characters of a 32-letter alphabet without I, O, 0 and 1 (256 is a multiple of 32: no modulo bias). */
export function newPairCode(): string {
  return Array.from(randomBytes(PAIR_CODE_LENGTH), (b) => CODE_ALPHABET[b % CODE_ALPHABET.length]).join("");
}

function hashCode(code: string): string {
  return createHash("sha256").update(code, "utf8").digest("hex");
}

export function codeMatches(row: SessionRow, code: string): boolean {
  const a = Buffer.from(hashCode(code), "hex");
  const b = Buffer.from(row.code_hash, "hex");
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function createSession(
  db: Queryable,
  owner: Owner,
  ttlSeconds: number,
): Promise<{ row: SessionRow; code: string }> {
  const code = newPairCode();
  const { rows } = await db.query<SessionRow>(
    `INSERT INTO pairing_sessions (id, owner_user_id, namespace, code_hash, expires_at)
     VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5)) RETURNING *`,
    [randomUUID(), owner.id, owner.namespace, hashCode(code), ttlSeconds],
  );
  return { row: rows[0]!, code };
}

export async function findSession(db: Queryable, id: string): Promise<SessionRow | undefined> {
  if (!UUID_RE.test(id)) return undefined;
  const { rows } = await db.query<SessionRow>("SELECT * FROM pairing_sessions WHERE id = $1", [id]);
  return rows[0];
}

export const isExpired = (row: SessionRow, now = Date.now()) => row.expires_at.getTime() <= now;

/** The owner's sessions that have not expired (a connected gateway keeps its session alive), newest first. */
export async function liveSessionsOf(db: Queryable, owner: Owner, limit = 20): Promise<SessionRow[]> {
  const { rows } = await db.query<SessionRow>(
    `SELECT * FROM pairing_sessions WHERE owner_user_id = $1 AND expires_at > now()
      ORDER BY created_at DESC, id LIMIT $2`,
    [owner.id, limit],
  );
  return rows;
}

/** The caller's own live session, or the reference's 404 / 403 / 410. */
export async function ownedLiveSession(db: Queryable, owner: Owner, id: string): Promise<SessionRow> {
  const row = await findSession(db, id);
  if (!row) throw new ApiError("NOT_FOUND", "Pair session not found");
  if (row.owner_user_id !== owner.id) throw forbidden("Pair session belongs to another owner");
  if (isExpired(row)) throw new ApiError("PAIR_SESSION_EXPIRED", "Pair session expired");
  return row;
}

/** Counts a wrong code; returns the attempts so far. */
export async function recordWrongCode(db: Queryable, id: string): Promise<number> {
  const { rows } = await db.query<{ failed_attempts: number }>(
    "UPDATE pairing_sessions SET failed_attempts = failed_attempts + 1 WHERE id = $1 RETURNING failed_attempts",
    [id],
  );
  return rows[0]?.failed_attempts ?? MAX_CODE_ATTEMPTS;
}

export async function markConnected(db: Queryable, id: string): Promise<void> {
  await db.query("UPDATE pairing_sessions SET last_connected_at = now() WHERE id = $1", [id]);
}

export async function recordGatewayKey(db: Queryable, id: string, publicKey: string): Promise<void> {
  await db.query("UPDATE pairing_sessions SET gateway_public_key = $2 WHERE id = $1", [id, publicKey]);
}

/** Heartbeat lease (§B.4): a session with a live bridge never expires. */
export async function extendSession(db: Queryable, id: string): Promise<void> {
  await db.query(
    `UPDATE pairing_sessions SET expires_at = now() + make_interval(secs => $2)
      WHERE id = $1 AND expires_at <= now() + make_interval(secs => $3)`,
    [id, LEASE_EXTENSION_MS / 1000, LEASE_REFRESH_WINDOW_MS / 1000],
  );
}
