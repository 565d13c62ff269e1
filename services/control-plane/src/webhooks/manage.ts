import type { Queryable } from "../db/db.ts";
import { ApiError } from "../http/errors.ts";
import type { WebhookDelivery } from "./delivery.ts";
import type { WebhookSecretBox } from "./secret-box.ts";
import {
  deleteDeadLetter,
  findDeadLetter,
  findServiceWebhook,
  insertWebhook,
  isDeliveryEvent,
  TEST_EVENT,
  type WebhookInput,
  type WebhookRow,
} from "./store.ts";
import { checkTarget, type TargetPolicy, TargetRefused } from "./target-policy.ts";

/** What creating a webhook needs; undefined in AppDeps without Redis (no delivery queue). */
export interface WebhookDeps {
  delivery: WebhookDelivery;
  box: WebhookSecretBox;
  policy: TargetPolicy;
  maxPerService: number;
}

export function requireWebhooks(webhooks: WebhookDeps | undefined): WebhookDeps {
  if (!webhooks) throw new ApiError("WEBHOOKS_UNAVAILABLE", "Webhook delivery needs Redis: set REDIS_URL");
  return webhooks;
}

/** 400 INVALID_WEBHOOK_URL unless the URL passes the SSRF rules. */
export async function validTargetUrl(url: string, policy: TargetPolicy): Promise<string> {
  try {
    return (await checkTarget(url, policy)).toString();
  } catch (err) {
    if (err instanceof TargetRefused)
      throw new ApiError("INVALID_WEBHOOK_URL", `Invalid webhook URL: ${err.message}`);
    throw err;
  }
}

export async function createWebhook(
  db: Queryable,
  deps: WebhookDeps,
  serviceId: string,
  input: WebhookInput,
) {
  const url = await validTargetUrl(input.url, deps.policy);
  const row = await insertWebhook(db, deps.box, serviceId, { ...input, url }, deps.maxPerService);
  return { id: row.id, url: row.url, events: row.events, active: row.active };
}

/** The service's webhook, active: 404 NOT_FOUND when it is not the service's, 409 WEBHOOK_INACTIVE when disabled. */
async function activeWebhook(db: Queryable, serviceId: string, webhookId: string): Promise<WebhookRow> {
  const hook = await findServiceWebhook(db, serviceId, webhookId);
  if (!hook) throw new ApiError("NOT_FOUND", "Webhook not found");
  if (!hook.active) {
    throw new ApiError(
      "WEBHOOK_INACTIVE",
      "Webhook is inactive (its target was refused); delete it and add it again",
    );
  }
  return hook;
}

/** Queues a `webhook.test` delivery to one webhook, signed like any other event. */
export async function sendTestEvent(
  db: Queryable,
  deps: WebhookDeps,
  service: { id: string; slug: string },
  webhookId: string,
): Promise<{ delivery_id: string; webhook_id: string; event: string }> {
  const hook = await activeWebhook(db, service.id, webhookId);
  const timestamp = new Date().toISOString();
  const body = JSON.stringify({
    event: TEST_EVENT,
    timestamp,
    data: { service: service.slug, webhook_id: hook.id, message: "Test event from the Sigilum dashboard" },
  });
  const deliveryId = await deps.delivery.enqueue({
    webhook_id: hook.id,
    event: TEST_EVENT,
    body,
    first_attempt_at: timestamp,
    requested: true,
  });
  return { delivery_id: deliveryId, webhook_id: hook.id, event: TEST_EVENT };
}

/** Sends a dead letter's payload again as a new delivery, and takes it off the dead-letter list. */
export async function redeliverDeadLetter(
  db: Queryable,
  deps: WebhookDeps,
  serviceId: string,
  letterId: string,
): Promise<{ delivery_id: string; webhook_id: string; event: string }> {
  const letter = await findDeadLetter(db, serviceId, letterId);
  if (!letter || !isDeliveryEvent(letter.event)) throw new ApiError("NOT_FOUND", "Dead letter not found");
  const hook = await activeWebhook(db, serviceId, letter.webhook_id);
  const deliveryId = await deps.delivery.enqueue({
    webhook_id: hook.id,
    event: letter.event,
    body: JSON.stringify(letter.payload),
    first_attempt_at: new Date().toISOString(),
    requested: true,
  });
  await deleteDeadLetter(db, letter.id);
  return { delivery_id: deliveryId, webhook_id: hook.id, event: letter.event };
}
