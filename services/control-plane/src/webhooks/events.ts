import type { Logger } from "@sigilum-gw/shared/logger";
import type { Queryable } from "../db/db.ts";
import type { WebhookDelivery } from "./delivery.ts";
import { subscribers, type WebhookEvent } from "./store.ts";

/** Claim lifecycle → webhook deliveries for the claim's service. Failures are logged, never thrown. */
export interface WebhookEvents {
  claim(event: WebhookEvent, claimId: string, extra?: Record<string, unknown>): Promise<void>;
}

interface ClaimData {
  service_id: string;
  claim_id: string;
  namespace: string;
  service: string;
  public_key: string;
  agent_ip: string;
  subject: string | null;
  agent_id: string | null;
  agent_name: string | null;
  [k: string]: unknown;
}

export function createWebhookEvents(
  db: Queryable,
  delivery: WebhookDelivery | undefined,
  log: Logger,
): WebhookEvents {
  return {
    async claim(event, claimId, extra = {}) {
      if (!delivery) return;
      try {
        const { rows } = await db.query<ClaimData>(
          `SELECT service_id, claim_id, namespace, service, public_key, agent_ip, subject, agent_id, agent_name
             FROM authorizations WHERE claim_id = $1`,
          [claimId],
        );
        const claim = rows[0];
        if (!claim) return;
        const hooks = await subscribers(db, claim.service_id, event);
        if (hooks.length === 0) return;
        const { service_id: _id, ...data } = claim;
        const occurredAt = new Date().toISOString();
        const body = JSON.stringify({ event, timestamp: occurredAt, data: { ...data, ...extra } });
        for (const hook of hooks) {
          await delivery.enqueue({ webhook_id: hook.id, event, body, first_attempt_at: occurredAt });
        }
      } catch (err) {
        log.warn({ err, event, claim_id: claimId }, "webhook dispatch failed");
      }
    },
  };
}
