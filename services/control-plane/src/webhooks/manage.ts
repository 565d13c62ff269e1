import type { Queryable } from "../db/db.ts";
import { ApiError } from "../http/errors.ts";
import type { WebhookSecretBox } from "./secret-box.ts";
import { insertWebhook, type WebhookInput } from "./store.ts";
import { checkTarget, type TargetPolicy, TargetRefused } from "./target-policy.ts";

/** What creating a webhook needs; undefined in AppDeps without Redis (no delivery queue). */
export interface WebhookDeps {
  box: WebhookSecretBox;
  policy: TargetPolicy;
  maxPerService: number;
}

export function requireWebhooks(webhooks: WebhookDeps | undefined): WebhookDeps {
  if (!webhooks)
    throw new ApiError(503, "WEBHOOKS_UNAVAILABLE", "Webhook delivery needs Redis: set REDIS_URL");
  return webhooks;
}

/** 400 INVALID_WEBHOOK_URL unless the URL passes the SSRF rules. */
export async function validTargetUrl(url: string, policy: TargetPolicy): Promise<string> {
  try {
    return (await checkTarget(url, policy)).toString();
  } catch (err) {
    if (err instanceof TargetRefused)
      throw new ApiError(400, "INVALID_WEBHOOK_URL", `Invalid webhook URL: ${err.message}`);
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
