import { z } from "zod";
import type { Db, Queryable } from "../db/db.ts";
import { iso } from "../db/values.ts";
import { ApiError } from "../http/errors.ts";
import { policySettingsSchema } from "./claim-policy.ts";
import type { Owner } from "./owners.ts";

const MAX_SETTINGS_BYTES = 16 * 1024;

/** PATCH /v1/auth/settings body: a JSON object merged shallowly; `policy` must be well-formed. */
export const settingsPatchSchema = z
  .record(z.string().min(1).max(64), z.unknown())
  .refine((v) => JSON.stringify(v).length <= MAX_SETTINGS_BYTES, "settings too large")
  .superRefine((v, ctx) => {
    if (!("policy" in v)) return;
    const parsed = policySettingsSchema.safeParse(v.policy);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: ["policy", ...issue.path] });
    }
  });

/** The user object of `/v1/auth/me`, login and sign-up, with the owner's passkeys. */
export function presentOwner(owner: Owner, passkeys: unknown[]) {
  return {
    id: owner.id,
    email: owner.email,
    namespace: owner.namespace,
    settings: owner.settings ?? {},
    registration_tx_hash: owner.registration_tx_hash,
    created_at: iso(owner.created_at),
    updated_at: iso(owner.updated_at),
    passkeys,
  };
}

export async function updateSettings(db: Queryable, owner: Owner, patch: Record<string, unknown>) {
  const { rows } = await db.query<{ settings: Record<string, unknown> }>(
    `UPDATE users SET settings = settings || $2::jsonb, updated_at = now()
      WHERE id = $1 AND pg_column_size(settings || $2::jsonb) <= $3 RETURNING settings`,
    [owner.id, JSON.stringify(patch), MAX_SETTINGS_BYTES * 2],
  );
  if (!rows[0]) throw new ApiError("VALIDATION_ERROR", "settings too large");
  return { success: true, settings: rows[0].settings };
}

/**
 * Deletes the owner with every service, key, claim and usage event of the namespace. Returns the
 * service slugs whose approved claims changed, so verifiers can be told.
 */
export async function deleteAccount(db: Db, owner: Owner): Promise<string[]> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{ slug: string }>(
      `SELECT slug FROM services WHERE owner_user_id = $1
       UNION SELECT service FROM authorizations WHERE namespace = $2 AND status = 'approved'`,
      [owner.id, owner.namespace],
    );
    await tx.query("DELETE FROM usage_events WHERE namespace = $1", [owner.namespace]);
    await tx.query("DELETE FROM users WHERE id = $1", [owner.id]);
    return rows.map((r) => r.slug);
  });
}
