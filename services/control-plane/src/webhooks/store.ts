import { randomBytes } from "node:crypto";
import { z } from "zod";
import type { Queryable } from "../db/db.ts";
import { iso } from "../db/values.ts";
import { ApiError } from "../http/errors.ts";
import type { WebhookSecretBox } from "./secret-box.ts";

/** Webhook rows (spec §A.7 routes): only sealed secrets are stored; none is ever returned. */

export const WEBHOOK_EVENTS = [
  "request.submitted",
  "request.approved",
  "request.rejected",
  "request.revoked",
  "request.expired",
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** What the owner's "send test event" delivers, whatever the webhook subscribes to. */
export const TEST_EVENT = "webhook.test";
/** Every event a delivery may carry. */
export type DeliveryEvent = WebhookEvent | typeof TEST_EVENT;
export const isDeliveryEvent = (event: string): event is DeliveryEvent =>
  event === TEST_EVENT || (WEBHOOK_EVENTS as readonly string[]).includes(event);

/** What `webhook` of POST /v1/services subscribes to (the reference's default). */
export const DEFAULT_EVENTS: WebhookEvent[] = [
  "request.submitted",
  "request.approved",
  "request.revoked",
  "request.rejected",
];

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const RESERVED_HEADERS = /^(content-type|content-length|host|connection|transfer-encoding|x-sigilum-.*)$/i;

export const webhookInputSchema = z
  .object({
    url: z.string().min(1).max(2048),
    events: z.array(z.enum(WEBHOOK_EVENTS)).min(1).max(WEBHOOK_EVENTS.length).optional(),
    secret: z.string().min(16).max(512),
    auth_header: z
      .string()
      .max(128)
      .regex(HEADER_NAME, "auth_header must be an HTTP header name")
      .refine((h) => !RESERVED_HEADERS.test(h), "auth_header may not be a framing or x-sigilum-* header")
      .optional(),
    auth_value: z
      .string()
      .max(2048)
      .regex(/^[^\r\n\0]*$/, "auth_value may not contain line breaks")
      .optional(),
  })
  .strict();
export type WebhookInput = z.output<typeof webhookInputSchema>;

export interface WebhookRow {
  id: string;
  service_id: string;
  url: string;
  events: string[];
  secret_sealed: string;
  auth_header: string | null;
  auth_value_sealed: string | null;
  active: boolean;
  failure_count: number;
  last_triggered_at: Date | null;
  last_failure_at: Date | null;
  created_at: Date;
  [k: string]: unknown;
}

export function presentWebhook(row: WebhookRow) {
  return {
    id: row.id,
    url: row.url,
    events: row.events,
    active: row.active,
    failure_count: row.failure_count,
    last_triggered_at: iso(row.last_triggered_at),
    last_failure_at: iso(row.last_failure_at),
    created_at: iso(row.created_at),
  };
}

export async function insertWebhook(
  db: Queryable,
  box: WebhookSecretBox,
  serviceId: string,
  input: WebhookInput & { url: string },
  maxPerService: number,
): Promise<WebhookRow> {
  const { rows: count } = await db.query<{ n: string }>(
    "SELECT count(*) AS n FROM webhooks WHERE service_id = $1 AND active",
    [serviceId],
  );
  if (Number(count[0]?.n ?? 0) >= maxPerService) {
    throw new ApiError("WEBHOOK_LIMIT_REACHED", `Maximum ${maxPerService} active webhooks per service.`);
  }
  const authValue = input.auth_header && input.auth_value ? box.seal(input.auth_value) : null;
  const { rows } = await db.query<WebhookRow>(
    `INSERT INTO webhooks (id, service_id, url, events, secret_sealed, auth_header, auth_value_sealed)
     VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7) RETURNING *`,
    [
      `wh_${randomBytes(8).toString("hex")}`,
      serviceId,
      input.url,
      JSON.stringify(input.events ?? DEFAULT_EVENTS),
      box.seal(input.secret),
      authValue ? input.auth_header : null,
      authValue,
    ],
  );
  return rows[0]!;
}

export async function listWebhooks(
  db: Queryable,
  serviceId: string,
  page: { limit: number; offset: number },
) {
  const { rows } = await db.query<WebhookRow>(
    "SELECT * FROM webhooks WHERE service_id = $1 ORDER BY created_at, id LIMIT $2 OFFSET $3",
    [serviceId, page.limit, page.offset],
  );
  const { rows: total } = await db.query<{ n: string }>(
    "SELECT count(*) AS n FROM webhooks WHERE service_id = $1",
    [serviceId],
  );
  return { rows, total: Number(total[0]?.n ?? 0) };
}

export async function deleteWebhook(db: Queryable, serviceId: string, webhookId: string): Promise<boolean> {
  const { rowCount } = await db.query("DELETE FROM webhooks WHERE id = $1 AND service_id = $2", [
    webhookId,
    serviceId,
  ]);
  return rowCount > 0;
}

export async function findWebhook(db: Queryable, id: string): Promise<WebhookRow | undefined> {
  const { rows } = await db.query<WebhookRow>("SELECT * FROM webhooks WHERE id = $1", [id]);
  return rows[0];
}

/** Active webhooks of a service subscribed to the event. */
export async function subscribers(
  db: Queryable,
  serviceId: string,
  event: WebhookEvent,
): Promise<WebhookRow[]> {
  const { rows } = await db.query<WebhookRow>(
    "SELECT * FROM webhooks WHERE service_id = $1 AND active AND events ? $2",
    [serviceId, event],
  );
  return rows;
}

export async function recordDelivered(db: Queryable, id: string): Promise<void> {
  await db.query("UPDATE webhooks SET last_triggered_at = now(), failure_count = 0 WHERE id = $1", [id]);
}

export async function recordFailure(db: Queryable, id: string, deactivate = false): Promise<void> {
  await db.query(
    `UPDATE webhooks SET failure_count = failure_count + 1, last_failure_at = now(),
            active = active AND NOT $2 WHERE id = $1`,
    [id, deactivate],
  );
}

export interface DeadLetter {
  delivery_id: string;
  webhook_id: string;
  event: string;
  payload: unknown;
  attempts: number;
  last_error: string;
  first_attempt_at: string;
}

export async function insertDeadLetter(db: Queryable, letter: DeadLetter): Promise<void> {
  await db.query(
    `INSERT INTO webhook_dead_letters
       (id, webhook_id, event, payload, attempts, last_error, first_attempt_at, delivery_id)
     VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
    [
      `dl_${randomBytes(8).toString("hex")}`,
      letter.webhook_id,
      letter.event,
      JSON.stringify(letter.payload),
      letter.attempts,
      letter.last_error.slice(0, 500),
      letter.first_attempt_at,
      letter.delivery_id,
    ],
  );
}

export async function listDeadLetters(
  db: Queryable,
  serviceId: string,
  page: { limit: number; offset: number },
) {
  const { rows } = await db.query<Record<string, unknown>>(
    `SELECT d.* FROM webhook_dead_letters d JOIN webhooks w ON w.id = d.webhook_id
      WHERE w.service_id = $1 ORDER BY d.failed_at DESC, d.id LIMIT $2 OFFSET $3`,
    [serviceId, page.limit, page.offset],
  );
  return rows.map((r) => ({
    id: r.id,
    delivery_id: r.delivery_id,
    webhook_id: r.webhook_id,
    event: r.event,
    payload: r.payload,
    attempts: r.attempts,
    last_error: r.last_error,
    first_attempt_at: iso(r.first_attempt_at),
    failed_at: iso(r.failed_at),
  }));
}

/** A dead letter of one of the service's webhooks. */
export async function findDeadLetter(
  db: Queryable,
  serviceId: string,
  letterId: string,
): Promise<{ id: string; webhook_id: string; event: string; payload: unknown } | undefined> {
  const { rows } = await db.query<{ id: string; webhook_id: string; event: string; payload: unknown }>(
    `SELECT d.id, d.webhook_id, d.event, d.payload FROM webhook_dead_letters d JOIN webhooks w ON w.id = d.webhook_id
      WHERE d.id = $1 AND w.service_id = $2`,
    [letterId, serviceId],
  );
  return rows[0];
}

export async function deleteDeadLetter(db: Queryable, letterId: string): Promise<void> {
  await db.query("DELETE FROM webhook_dead_letters WHERE id = $1", [letterId]);
}

export async function findServiceWebhook(
  db: Queryable,
  serviceId: string,
  webhookId: string,
): Promise<WebhookRow | undefined> {
  const { rows } = await db.query<WebhookRow>("SELECT * FROM webhooks WHERE id = $1 AND service_id = $2", [
    webhookId,
    serviceId,
  ]);
  return rows[0];
}
