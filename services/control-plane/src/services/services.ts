import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { Db, Queryable } from "../db/db.ts";
import { isUniqueViolation } from "../db/db.ts";
import { int, iso } from "../db/values.ts";
import { ApiError, notFound } from "../http/errors.ts";
import { NAMESPACE_STRICT_RE } from "../owners/owners.ts";
import { webhookInputSchema } from "../webhooks/store.ts";

export const SERVICE_SLUG_RE = NAMESPACE_STRICT_RE;

export const createServiceSchema = z
  .object({
    name: z.string().trim().min(1).max(100),
    slug: z.string().regex(SERVICE_SLUG_RE, "slug must match ^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$"),
    domain: z.string().trim().min(1).max(255),
    description: z.string().trim().min(1).max(500),
    /** Created with the service, subscribed to the default events unless `events` is given. */
    webhook: webhookInputSchema.optional(),
  })
  .strict();

export type CreateServiceInput = z.output<typeof createServiceSchema>;

export const updateServiceSchema = z
  .object({
    name: z.string().trim().min(1).max(100).optional(),
    domain: z.string().trim().max(255).optional(),
    description: z.string().trim().max(500).optional(),
  })
  .strict();

export type UpdateServiceInput = z.output<typeof updateServiceSchema>;

interface ServiceRow {
  id: string;
  owner_user_id: string;
  name: string;
  slug: string;
  domain: string | null;
  description: string | null;
  created_at: Date;
  updated_at: Date;
  registration_tx_hash: string | null;
  [k: string]: unknown;
}

function present(row: ServiceRow) {
  return {
    id: row.id,
    name: row.name,
    slug: row.slug,
    domain: row.domain,
    description: row.description,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
    registration_tx_hash: row.registration_tx_hash,
  };
}

export async function listServices(db: Queryable, ownerId: string) {
  const { rows } = await db.query<ServiceRow & { active_key_count: unknown }>(
    `SELECT s.*, (SELECT count(*) FROM service_api_keys k WHERE k.service_id = s.id AND k.revoked_at IS NULL)
              AS active_key_count
       FROM services s WHERE s.owner_user_id = $1 ORDER BY s.created_at, s.id`,
    [ownerId],
  );
  return { services: rows.map((r) => ({ ...present(r), active_key_count: int(r.active_key_count) })) };
}

/** The owner's own service, or 404 (another owner's service is indistinguishable from a missing one). */
export async function getOwnedService(db: Queryable, ownerId: string, serviceId: string) {
  const { rows } = await db.query<ServiceRow>("SELECT * FROM services WHERE id = $1 AND owner_user_id = $2", [
    serviceId,
    ownerId,
  ]);
  const row = rows[0];
  if (!row) throw notFound("Service not found");
  return { ...present(row), owner_user_id: row.owner_user_id };
}

export async function createService(
  db: Db,
  ownerId: string,
  input: CreateServiceInput,
  limits: { maxServicesPerOwner: number },
) {
  try {
    return await db.transaction(async (tx) => {
      // Serialise creations per owner so the service limit holds under concurrency.
      await tx.query("SELECT id FROM users WHERE id = $1 FOR UPDATE", [ownerId]);
      const dup = await tx.query("SELECT 1 FROM services WHERE owner_user_id = $1 AND slug = $2", [
        ownerId,
        input.slug,
      ]);
      if (dup.rows.length > 0) throw new ApiError("CONFLICT", `Service slug "${input.slug}" already exists`);
      const count = await tx.query<{ n: unknown }>(
        "SELECT count(*) AS n FROM services WHERE owner_user_id = $1",
        [ownerId],
      );
      if (int(count.rows[0]?.n) >= limits.maxServicesPerOwner) {
        throw new ApiError(
          "SERVICE_LIMIT_REACHED",
          `Maximum ${limits.maxServicesPerOwner} services per account reached.`,
        );
      }
      const { rows } = await tx.query<ServiceRow>(
        `INSERT INTO services (id, owner_user_id, name, slug, domain, description)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
        [randomUUID(), ownerId, input.name, input.slug, input.domain, input.description],
      );
      const row = rows[0]!;
      const { updated_at: _u, ...out } = present(row);
      return out;
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw new ApiError("CONFLICT", `Service slug "${input.slug}" already exists`);
    throw err;
  }
}

export async function updateService(
  db: Queryable,
  ownerId: string,
  serviceId: string,
  input: UpdateServiceInput,
) {
  const sets: string[] = [];
  const params: unknown[] = [serviceId, ownerId];
  const add = (column: string, value: unknown) => {
    params.push(value);
    sets.push(`${column} = $${params.length}`);
  };
  if (input.name !== undefined) add("name", input.name);
  // An empty domain or description clears it.
  if (input.domain !== undefined) add("domain", input.domain === "" ? null : input.domain);
  if (input.description !== undefined)
    add("description", input.description === "" ? null : input.description);
  if (sets.length === 0) throw new ApiError("VALIDATION_ERROR", "No fields to update");
  const res = await db.query(
    `UPDATE services SET ${sets.join(", ")}, updated_at = now() WHERE id = $1 AND owner_user_id = $2`,
    params,
  );
  if (res.rowCount === 0) throw notFound("Service not found");
  return { success: true };
}

/** Deletes the service with its keys and claims. Returns the slug so callers can announce the change. */
export async function deleteService(db: Queryable, ownerId: string, serviceId: string): Promise<string> {
  const { rows } = await db.query<{ slug: string }>(
    "DELETE FROM services WHERE id = $1 AND owner_user_id = $2 RETURNING slug",
    [serviceId, ownerId],
  );
  if (!rows[0]) throw notFound("Service not found");
  return rows[0].slug;
}
