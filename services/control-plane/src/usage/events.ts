import { z } from "zod";
import type { ServiceKeyIdentity } from "../auth/service-keys.ts";
import type { Queryable } from "../db/db.ts";
import { forbidden } from "../http/errors.ts";
import { parseWith } from "../http/validate.ts";

const str = (min: number, max: number) => z.string().trim().min(min).max(max);
const whole = (min: number, max: number) => z.number().int().min(min).max(max);

/** Body of POST /v1/usage/events as the gateway sends it (spec/gateway.md §4.5). */
export const usageEventSchema = z.object({
  event_id: str(1, 128),
  namespace: str(3, 64),
  service: str(1, 128),
  public_key: str(1, 256),
  subject: str(1, 256),
  protocol: z.enum(["http", "mcp"]),
  action: str(1, 64),
  outcome: str(1, 32),
  agent_id: str(1, 128).optional(),
  status_code: whole(100, 599).optional(),
  duration_ms: whole(0, 3_600_000).optional(),
  response_bytes: whole(0, 100_000_000).optional(),
  request_method: str(1, 16)
    .transform((m) => m.toUpperCase())
    .optional(),
  request_path: str(1, 512).optional(),
  remote_ip: str(1, 128).optional(),
});
export type UsageEvent = z.output<typeof usageEventSchema>;

/**
 * Records one usage event reported with a service key. The reporting gateway signs with its own
 * identity, so the event's namespace and key are not bound to the signer; instead the agent key must
 * have an authorization (in any state) on the key's own service, so a service can only report usage
 * for agents that asked it for access.
 */
export async function recordUsageEvent(db: Queryable, key: ServiceKeyIdentity, rawBody: unknown) {
  const e = parseWith(usageEventSchema, rawBody);
  if (e.service !== key.slug) {
    throw forbidden(`API key belongs to service "${key.slug}" but event is for "${e.service}"`);
  }
  const known = await db.query(
    "SELECT 1 FROM authorizations WHERE namespace = $1 AND service_id = $2 AND public_key = $3",
    [e.namespace, key.serviceId, e.public_key],
  );
  if (known.rows.length === 0) {
    throw forbidden("No authorization exists for this agent key on this service");
  }
  const res = await db.query(
    `INSERT INTO usage_events (service_id, event_id, namespace, service, public_key, subject, agent_id, protocol,
        action, outcome, status_code, duration_ms, response_bytes, request_method, request_path, remote_ip)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
     ON CONFLICT (service_id, event_id) DO NOTHING`,
    [
      key.serviceId,
      e.event_id,
      e.namespace,
      e.service,
      e.public_key,
      e.subject,
      e.agent_id ?? null,
      e.protocol,
      e.action,
      e.outcome,
      e.status_code ?? null,
      e.duration_ms ?? null,
      e.response_bytes ?? null,
      e.request_method ?? null,
      e.request_path ?? null,
      e.remote_ip ?? null,
    ],
  );
  const duplicate = res.rowCount === 0;
  return { status: duplicate ? 200 : 201, body: { event_id: e.event_id, accepted: true, duplicate } };
}
