import type { Command } from "commander";
import { z } from "zod";
import type { CliContext } from "../context.ts";
import { CliError } from "../errors.ts";
import { explainApiError, openOwnerSession } from "../lib/owner-session.ts";
import { emit, table } from "../output.ts";

/** `sigilum usage`: calls per service through the gateway, from the control plane's usage records. */

const rowSchema = z
  .object({
    provider: z.string(),
    total_calls: z.number(),
    success_calls: z.number(),
    error_calls: z.number(),
    last_used_at: z.string().nullable(),
  })
  .loose();
const answerSchema = z.object({
  rows: z.array(rowSchema),
  summary: z.object({ total_events: z.number() }).loose(),
  pagination: z.object({ has_more: z.boolean() }).loose(),
});

export interface ServiceUsage {
  service: string;
  calls: number;
  succeeded: number;
  failed: number;
  last_used_at: string | null;
}

/** The control plane groups by (subject, service, key, agent); the CLI adds them up per service. */
export function perService(rows: z.infer<typeof rowSchema>[]): ServiceUsage[] {
  const byService = new Map<string, ServiceUsage>();
  for (const row of rows) {
    const entry = byService.get(row.provider) ?? {
      service: row.provider,
      calls: 0,
      succeeded: 0,
      failed: 0,
      last_used_at: null,
    };
    entry.calls += row.total_calls;
    entry.succeeded += row.success_calls;
    entry.failed += row.error_calls;
    if (row.last_used_at && (!entry.last_used_at || row.last_used_at > entry.last_used_at))
      entry.last_used_at = row.last_used_at;
    byService.set(row.provider, entry);
  }
  return [...byService.values()].sort((a, b) => b.calls - a.calls || a.service.localeCompare(b.service));
}

export function registerUsageCommand(program: Command, ctx: CliContext): void {
  program
    .command("usage")
    .description("calls per service through the gateway (from the control plane)")
    .option("--service <slug>", "only this service")
    .option("--from <date-time>", "from this ISO date-time")
    .option("--to <date-time>", "up to this ISO date-time")
    .option("--namespace <namespace>", "owner namespace")
    .option("--api-url <url>", "control plane URL (default: the local stack)")
    .option("--token <jwt>", "namespace-owner token (default: the stored one)")
    .option("--json", "print JSON")
    .action(
      async (opts: {
        service?: string;
        from?: string;
        to?: string;
        namespace?: string;
        apiUrl?: string;
        token?: string;
        json?: boolean;
      }) => {
        const session = await openOwnerSession(ctx, opts);
        const rows: z.infer<typeof rowSchema>[] = [];
        for (let offset = 0; ; offset += 200) {
          const query = new URLSearchParams({ sort: "calls_desc", limit: "200", offset: String(offset) });
          if (opts.service) query.set("provider", opts.service);
          if (opts.from) query.set("from", opts.from);
          if (opts.to) query.set("to", opts.to);
          const body = await session.api
            .call(
              {
                method: "GET",
                path: `/v1/namespaces/${encodeURIComponent(session.namespace)}/usage?${query}`,
              },
              "Reading usage",
            )
            .catch((e) => explainApiError(e, session));
          const parsed = answerSchema.safeParse(body);
          if (!parsed.success) throw new CliError("The control plane answered an unexpected usage report");
          rows.push(...parsed.data.rows);
          if (!parsed.data.pagination.has_more || offset >= 10_000) break;
        }
        const services = perService(rows);
        emit(ctx, opts.json, { command: "usage", namespace: session.namespace, services }, () =>
          services.length === 0
            ? [`No calls recorded for namespace "${session.namespace}" yet.`]
            : table(
                ["SERVICE", "CALLS", "OK", "FAILED", "LAST USED"],
                services.map((s) => [
                  s.service,
                  String(s.calls),
                  String(s.succeeded),
                  String(s.failed),
                  s.last_used_at ?? "-",
                ]),
              ),
        );
      },
    );
}
