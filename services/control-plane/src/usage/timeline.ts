import { z } from "zod";
import type { Queryable } from "../db/db.ts";
import { int, iso } from "../db/values.ts";
import { ApiError } from "../http/errors.ts";
import { isoDateTime } from "./summary.ts";

const BUCKET_SECONDS = { minute: 60, hour: 3600, day: 86400 } as const;
/** A chart never has more bars than this; a wider range needs a coarser bucket. */
const MAX_BUCKETS = 500;

export const timelineQuerySchema = z.object({
  bucket: z.enum(["minute", "hour", "day"]).optional().default("hour"),
  provider: z.string().trim().min(1).max(128).optional(),
  agent: z.string().trim().min(1).max(256).optional(),
  from: isoDateTime("from").optional(),
  to: isoDateTime("to").optional(),
});
export type TimelineQuery = z.output<typeof timelineQuerySchema>;

/**
 * GET /v1/namespaces/:ns/usage/timeline — calls per time bucket and service (the dashboard's usage chart).
 * Default range: the last 48 buckets up to now.
 */
export async function usageTimeline(db: Queryable, namespace: string, q: TimelineQuery, now = new Date()) {
  const size = BUCKET_SECONDS[q.bucket];
  const to = q.to ? new Date(q.to) : now;
  const from = q.from ? new Date(q.from) : new Date(to.getTime() - 47 * size * 1000);
  if (from > to) throw new ApiError("VALIDATION_ERROR", "'from' must not be after 'to'");
  if ((to.getTime() - from.getTime()) / 1000 / size > MAX_BUCKETS) {
    throw new ApiError("VALIDATION_ERROR", `Range too wide for ${q.bucket} buckets (at most ${MAX_BUCKETS})`);
  }
  const params: unknown[] = [namespace, from.toISOString(), to.toISOString(), size];
  const where = [
    "namespace = $1",
    "created_at >= date_bin(make_interval(secs => $4), $2::timestamptz, 'epoch')",
    "created_at <= $3::timestamptz",
  ];
  if (q.provider) {
    params.push(q.provider);
    where.push(`service = $${params.length}`);
  }
  if (q.agent) {
    params.push(q.agent);
    where.push(`(coalesce(agent_id, '') = $${params.length} OR public_key = $${params.length})`);
  }
  const { rows } = await db.query<{ at: unknown; service: string; total: unknown; errors: unknown }>(
    `SELECT date_bin(make_interval(secs => $4), created_at, 'epoch') AS at, service,
            count(*) AS total, count(*) FILTER (WHERE outcome <> 'success') AS errors
       FROM usage_events WHERE ${where.join(" AND ")}
      GROUP BY 1, 2 ORDER BY 1, 2`,
    params,
  );
  return {
    bucket: q.bucket,
    from: from.toISOString(),
    to: to.toISOString(),
    points: rows.map((r) => ({
      at: iso(r.at),
      service: r.service,
      total: int(r.total),
      errors: int(r.errors),
    })),
  };
}
