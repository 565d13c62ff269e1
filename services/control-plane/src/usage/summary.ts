import { z } from "zod";
import type { Queryable } from "../db/db.ts";
import { int, iso } from "../db/values.ts";
import { pageSchema, pagination } from "../http/pagination.ts";

export const isoDateTime = (name: string) =>
  z
    .string()
    .max(64)
    .refine((v) => /^\d{4}-\d{2}-\d{2}/.test(v) && Number.isFinite(Date.parse(v)), {
      message: `Invalid '${name}' date-time; expected ISO format`,
    })
    .transform((v) => new Date(v).toISOString());

export const usageQuerySchema = z.object({
  subject: z.string().trim().max(256).optional(),
  provider: z.string().trim().max(128).optional(),
  agent: z.string().trim().max(256).optional(),
  from: isoDateTime("from").optional(),
  to: isoDateTime("to").optional(),
  sort: z.enum(["recent", "calls_desc", "subject_asc"]).optional().default("recent"),
  ...pageSchema(50, 200),
});
export type UsageQuery = z.output<typeof usageQuerySchema>;

const ORDER: Record<UsageQuery["sort"], string> = {
  recent: "last_used_at DESC, subject, provider, public_key",
  calls_desc: "total_calls DESC, last_used_at DESC, subject, provider, public_key",
  subject_asc: "subject ASC, last_used_at DESC, provider, public_key",
};

/** GET /v1/namespaces/:ns/usage — usage grouped by (subject, service, key, agent) plus a summary. */
export async function usageSummary(db: Queryable, namespace: string, q: UsageQuery) {
  const where = ["namespace = $1"];
  const params: unknown[] = [namespace];
  const add = (clause: (p: string) => string, value: unknown) => {
    params.push(value);
    where.push(clause(`$${params.length}`));
  };
  // strpos instead of LIKE: user text is matched literally, wildcards included.
  if (q.subject) add((p) => `strpos(lower(subject), lower(${p})) > 0`, q.subject);
  if (q.provider) add((p) => `service = ${p}`, q.provider);
  if (q.agent)
    add((p) => `(strpos(coalesce(agent_id, ''), ${p}) > 0 OR strpos(public_key, ${p}) > 0)`, q.agent);
  if (q.from) add((p) => `created_at >= ${p}::timestamptz`, q.from);
  if (q.to) add((p) => `created_at <= ${p}::timestamptz`, q.to);
  const cond = where.join(" AND ");

  const summary = await db.query<Record<string, unknown>>(
    `SELECT count(*) AS total_events,
            count(*) FILTER (WHERE outcome = 'success') AS successful_events,
            count(*) FILTER (WHERE outcome <> 'success') AS failed_events,
            count(DISTINCT subject) AS unique_subjects,
            count(DISTINCT service) AS unique_providers,
            count(DISTINCT coalesce(nullif(agent_id, ''), public_key)) AS unique_agents,
            count(DISTINCT (subject, service, public_key, coalesce(agent_id, ''))) AS groups
       FROM usage_events WHERE ${cond}`,
    params,
  );
  const s = summary.rows[0] ?? {};
  const { rows } = await db.query<Record<string, unknown>>(
    `SELECT subject, service AS provider, agent_id, public_key,
            count(*) AS total_calls,
            count(*) FILTER (WHERE outcome = 'success') AS success_calls,
            count(*) FILTER (WHERE outcome <> 'success') AS error_calls,
            max(created_at) AS last_used_at
       FROM usage_events WHERE ${cond}
      GROUP BY subject, service, public_key, agent_id
      ORDER BY ${ORDER[q.sort]}
      LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
    [...params, q.limit, q.offset],
  );
  return {
    rows: rows.map((r) => ({
      subject: r.subject,
      provider: r.provider,
      agent_id: r.agent_id ?? null,
      public_key: r.public_key,
      total_calls: int(r.total_calls),
      success_calls: int(r.success_calls),
      error_calls: int(r.error_calls),
      last_used_at: iso(r.last_used_at),
    })),
    summary: {
      total_events: int(s.total_events),
      successful_events: int(s.successful_events),
      failed_events: int(s.failed_events),
      unique_subjects: int(s.unique_subjects),
      unique_providers: int(s.unique_providers),
      unique_agents: int(s.unique_agents),
    },
    pagination: pagination(q, int(s.groups)),
    applied_filters: {
      subject: q.subject || null,
      provider: q.provider || null,
      agent: q.agent || null,
      from: q.from ?? null,
      to: q.to ?? null,
      sort: q.sort,
    },
  };
}
