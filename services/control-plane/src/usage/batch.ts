import { z } from "zod";
import type { ServiceKeyIdentity } from "../auth/service-keys.ts";
import type { Queryable } from "../db/db.ts";
import { parseWith } from "../http/validate.ts";
import { type UsageEvent, usageEventSchema } from "./events.ts";

/**
 * POST /v1/usage/events/batch: many usage events in one signed request, stored with one multi-row INSERT
 * (PostgreSQL `json_to_recordset` over the validated events as one JSON parameter) deduplicated on
 * (service, event_id). One signature and one
 * round trip per batch instead of per event: per-event delivery cost more CPU than forwarding the request.
 * Each event is judged on its own: a malformed one, one for another service or for an agent key without an
 * authorization on this service is rejected (listed with its code) and the others are stored.
 */

export const MAX_USAGE_BATCH = 1000;

const batchSchema = z.object({ events: z.array(z.unknown()).min(1).max(MAX_USAGE_BATCH) });

export interface RejectedEvent {
  index: number;
  event_id?: string;
  code: "VALIDATION_ERROR" | "FORBIDDEN";
  message: string;
}

export interface BatchResult {
  accepted: number;
  duplicates: number;
  rejected: RejectedEvent[];
}

const COLUMNS = [
  ["event_id", "text"],
  ["namespace", "text"],
  ["service", "text"],
  ["public_key", "text"],
  ["subject", "text"],
  ["agent_id", "text"],
  ["protocol", "text"],
  ["action", "text"],
  ["outcome", "text"],
  ["status_code", "integer"],
  ["duration_ms", "integer"],
  ["response_bytes", "bigint"],
  ["request_method", "text"],
  ["request_path", "text"],
  ["remote_ip", "text"],
] as const;

// One JSON parameter rather than one text array per column: node-postgres escapes every array element in
// JavaScript (a fifth of the control plane's CPU per event in a profile of the usage bench), JSON.stringify is native.
const INSERT_SQL = `INSERT INTO usage_events (service_id, ${COLUMNS.map(([c]) => c).join(", ")})
  SELECT $1, ${COLUMNS.map(([c]) => `e.${c}`).join(", ")}
  FROM json_to_recordset($2::json) AS e(${COLUMNS.map(([c, type]) => `${c} ${type}`).join(", ")})
  ON CONFLICT (service_id, event_id) DO NOTHING`;

const AUTHORIZED_SQL = `SELECT DISTINCT a.namespace, a.public_key FROM authorizations a
  JOIN unnest($2::text[], $3::text[]) AS k(namespace, public_key)
    ON a.namespace = k.namespace AND a.public_key = k.public_key
  WHERE a.service_id = $1`;

const pairKey = (namespace: string, publicKey: string) => `${namespace}\n${publicKey}`;

export async function recordUsageBatch(
  db: Queryable,
  key: ServiceKeyIdentity,
  rawBody: unknown,
): Promise<BatchResult> {
  const { events: raw } = parseWith(batchSchema, rawBody, `Body must be {"events": [1..${MAX_USAGE_BATCH}]}`);
  const rejected: RejectedEvent[] = [];
  const valid: { index: number; event: UsageEvent }[] = [];
  raw.forEach((value, index) => {
    const parsed = usageEventSchema.safeParse(value);
    const eventId = idOf(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue?.path.join(".") || "event";
      rejected.push({
        index,
        event_id: eventId,
        code: "VALIDATION_ERROR",
        message: `${where}: ${issue?.message}`,
      });
    } else if (parsed.data.service !== key.slug) {
      rejected.push({
        index,
        event_id: eventId,
        code: "FORBIDDEN",
        message: `API key belongs to service "${key.slug}" but event is for "${parsed.data.service}"`,
      });
    } else valid.push({ index, event: parsed.data });
  });

  const pairs = new Map<string, [string, string]>();
  for (const { event } of valid)
    pairs.set(pairKey(event.namespace, event.public_key), [event.namespace, event.public_key]);
  const authorized = new Set<string>();
  if (pairs.size > 0) {
    const list = [...pairs.values()];
    const { rows } = await db.query<{ namespace: string; public_key: string }>(AUTHORIZED_SQL, [
      key.serviceId,
      list.map(([ns]) => ns),
      list.map(([, pk]) => pk),
    ]);
    for (const row of rows) authorized.add(pairKey(row.namespace, row.public_key));
  }

  const rows: UsageEvent[] = [];
  const seen = new Set<string>();
  let duplicates = 0;
  for (const { index, event } of valid) {
    if (!authorized.has(pairKey(event.namespace, event.public_key))) {
      rejected.push({
        index,
        event_id: event.event_id,
        code: "FORBIDDEN",
        message: "No authorization exists for this agent key on this service",
      });
    } else if (seen.has(event.event_id)) duplicates++;
    else {
      seen.add(event.event_id);
      rows.push(event);
    }
  }
  let inserted = 0;
  if (rows.length > 0) {
    inserted = (await db.query(INSERT_SQL, [key.serviceId, JSON.stringify(rows)])).rowCount;
  }
  rejected.sort((a, b) => a.index - b.index);
  return { accepted: inserted, duplicates: duplicates + rows.length - inserted, rejected };
}

function idOf(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const id = (value as { event_id?: unknown }).event_id;
  return typeof id === "string" && id.length <= 128 ? id : undefined;
}
