import type { Queryable } from "../db/db.ts";
import { iso } from "../db/values.ts";
import type { Page } from "../http/pagination.ts";

/**
 * The owner's view of each delivery (table webhook_deliveries): one row per event sent to a webhook, updated on
 * every attempt. The worker writes it; the dashboard's deliveries list reads it.
 */

export type DeliveryStatus = "pending" | "retrying" | "delivered" | "dead_letter" | "skipped";

/** Kept this long, then purged by the sweeper. */
const RETENTION_DAYS = 30;

export interface DeliveryRow {
  id: string;
  webhook_id: string;
  event: string;
  status: DeliveryStatus;
  attempts: number;
  last_error: string | null;
  last_http_status: number | null;
  created_at: Date;
  last_attempt_at: Date | null;
  next_attempt_at: Date | null;
  [k: string]: unknown;
}

export interface AttemptOutcome {
  status: Exclude<DeliveryStatus, "pending">;
  attempts: number;
  error?: string;
  httpStatus?: number;
  nextAttemptAt?: Date;
}

export async function insertDelivery(
  db: Queryable,
  delivery: { id: string; webhook_id: string; event: string },
): Promise<void> {
  await db.query("INSERT INTO webhook_deliveries (id, webhook_id, event) VALUES ($1, $2, $3)", [
    delivery.id,
    delivery.webhook_id,
    delivery.event,
  ]);
}

export async function recordAttempt(db: Queryable, id: string, outcome: AttemptOutcome): Promise<void> {
  await db.query(
    `UPDATE webhook_deliveries SET status = $2, attempts = $3, last_error = $4, last_http_status = $5,
            last_attempt_at = CASE WHEN $3 > attempts THEN now() ELSE last_attempt_at END, next_attempt_at = $6
      WHERE id = $1`,
    [
      id,
      outcome.status,
      outcome.attempts,
      outcome.error ?? null,
      outcome.httpStatus ?? null,
      outcome.nextAttemptAt ?? null,
    ],
  );
}

export async function listDeliveries(db: Queryable, webhookId: string, page: Page) {
  const { rows } = await db.query<DeliveryRow>(
    `SELECT * FROM webhook_deliveries WHERE webhook_id = $1
      ORDER BY created_at DESC, id LIMIT $2 OFFSET $3`,
    [webhookId, page.limit, page.offset],
  );
  const { rows: total } = await db.query<{ n: string }>(
    "SELECT count(*) AS n FROM webhook_deliveries WHERE webhook_id = $1",
    [webhookId],
  );
  return { rows, total: Number(total[0]?.n ?? 0) };
}

export function presentDelivery(row: DeliveryRow) {
  return {
    id: row.id,
    webhook_id: row.webhook_id,
    event: row.event,
    status: row.status,
    attempts: row.attempts,
    last_error: row.last_error,
    last_http_status: row.last_http_status,
    created_at: iso(row.created_at),
    last_attempt_at: iso(row.last_attempt_at),
    next_attempt_at: iso(row.next_attempt_at),
  };
}

/** Deletes deliveries older than the retention; returns how many. */
export async function purgeOldDeliveries(db: Queryable): Promise<number> {
  const { rowCount } = await db.query(
    "DELETE FROM webhook_deliveries WHERE created_at < now() - make_interval(days => $1)",
    [RETENTION_DAYS],
  );
  return rowCount;
}
