import { randomUUID } from "node:crypto";
import { z } from "zod";
import { generateServiceKey, hashServiceKey, serviceKeyHint } from "../auth/service-keys.ts";
import type { Db, Queryable } from "../db/db.ts";
import { int, iso } from "../db/values.ts";
import { ApiError, notFound } from "../http/errors.ts";
import { type Page, pagination } from "../http/pagination.ts";

export const createKeySchema = z
  .object({ name: z.string().trim().min(1).max(100).optional() })
  .strict()
  .optional()
  .transform((v) => ({ name: v?.name ?? "Default" }));

async function assertOwned(db: Queryable, ownerId: string, serviceId: string, lock = false): Promise<void> {
  const { rows } = await db.query(
    `SELECT id FROM services WHERE id = $1 AND owner_user_id = $2${lock ? " FOR UPDATE" : ""}`,
    [serviceId, ownerId],
  );
  if (rows.length === 0) throw notFound("Service not found");
}

export async function listKeys(db: Queryable, ownerId: string, serviceId: string, page: Page) {
  await assertOwned(db, ownerId, serviceId);
  const total = await db.query<{ n: unknown }>(
    "SELECT count(*) AS n FROM service_api_keys WHERE service_id = $1 AND revoked_at IS NULL",
    [serviceId],
  );
  const { rows } = await db.query(
    `SELECT id, name, key_prefix, last_used_at, created_at, gateway_registered_at
       FROM service_api_keys WHERE service_id = $1 AND revoked_at IS NULL
      ORDER BY created_at DESC, id LIMIT $2 OFFSET $3`,
    [serviceId, page.limit, page.offset],
  );
  return {
    keys: rows.map((r) => ({
      id: r.id,
      name: r.name,
      key_prefix: r.key_prefix,
      last_used_at: iso(r.last_used_at),
      created_at: iso(r.created_at),
      gateway_registered_at: iso(r.gateway_registered_at),
    })),
    pagination: pagination(page, int(total.rows[0]?.n)),
  };
}

/** Creates a key and returns it in clear text: the only time it is ever shown. */
export async function createKey(
  db: Db,
  ownerId: string,
  serviceId: string,
  name: string,
  limits: { maxKeysPerService: number },
) {
  return db.transaction(async (tx) => {
    await assertOwned(tx, ownerId, serviceId, true);
    const active = await tx.query<{ n: unknown }>(
      "SELECT count(*) AS n FROM service_api_keys WHERE service_id = $1 AND revoked_at IS NULL",
      [serviceId],
    );
    if (int(active.rows[0]?.n) >= limits.maxKeysPerService) {
      throw new ApiError(
        "KEY_LIMIT_REACHED",
        `Maximum ${limits.maxKeysPerService} active API keys per service. Revoke an existing key first.`,
      );
    }
    const key = generateServiceKey();
    const id = randomUUID();
    await tx.query(
      "INSERT INTO service_api_keys (id, service_id, name, key_prefix, key_hash) VALUES ($1, $2, $3, $4, $5)",
      [id, serviceId, name, serviceKeyHint(key), hashServiceKey(key)],
    );
    return {
      id,
      name,
      key,
      key_prefix: serviceKeyHint(key),
      message: "Save this key now. It will not be shown again.",
    };
  });
}

export async function revokeKey(db: Queryable, ownerId: string, serviceId: string, keyId: string) {
  const res = await db.query(
    `UPDATE service_api_keys k SET revoked_at = now()
       FROM services s
      WHERE k.id = $1 AND k.service_id = $2 AND s.id = k.service_id AND s.owner_user_id = $3
        AND k.revoked_at IS NULL`,
    [keyId, serviceId, ownerId],
  );
  if (res.rowCount === 0) throw notFound("API key not found or already revoked");
  return { success: true };
}

/** Marks the key the gateway uses; only one key per service carries the mark. */
export async function markGatewayKey(db: Db, ownerId: string, serviceId: string, keyId: string) {
  return db.transaction(async (tx) => {
    await assertOwned(tx, ownerId, serviceId, true);
    const res = await tx.query(
      "UPDATE service_api_keys SET gateway_registered_at = now() WHERE id = $1 AND service_id = $2 AND revoked_at IS NULL",
      [keyId, serviceId],
    );
    if (res.rowCount === 0) throw notFound("API key not found or already revoked");
    await tx.query(
      "UPDATE service_api_keys SET gateway_registered_at = NULL WHERE service_id = $1 AND id <> $2",
      [serviceId, keyId],
    );
    return { success: true, key_id: keyId };
  });
}
