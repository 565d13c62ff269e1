import { readFile } from "node:fs/promises";
import type { CliContext } from "../../context.ts";
import { CliError } from "../../errors.ts";
import { keyValues } from "../../output.ts";
import { pidFile, type StackLayout } from "../../stack/layout.ts";
import { markerOf, STACK_SERVICES } from "../../stack/plan.ts";
import { SUPERVISOR, SUPERVISOR_MARKER } from "../../stack/prepare.ts";
import { isOurProcess, readPidFile } from "../../stack/processes.ts";
import type { StackState } from "../../stack/state.ts";

/** What `up`, `down` and `status` share: timeouts from the environment, process reports, the stack summary. */

export function seconds(ctx: CliContext, name: string, fallback: number): number {
  const raw = ctx.env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new CliError(`${name} must be a positive number of seconds`);
  return value;
}

interface ProcessReport {
  name: string;
  pid: number | undefined;
  running: boolean;
}

export async function inspect(
  layout: StackLayout,
): Promise<{ supervisor: ProcessReport; services: ProcessReport[] }> {
  const read = async (name: string, marker: string): Promise<ProcessReport> => {
    const pid = await readPidFile(pidFile(layout, name));
    return { name, pid, running: pid !== undefined && (await isOurProcess(pid, marker)) };
  };
  return {
    supervisor: await read(SUPERVISOR, SUPERVISOR_MARKER),
    services: await Promise.all(STACK_SERVICES.map((s) => read(s, markerOf(s)))),
  };
}

export async function tail(path: string, lines = 15): Promise<string[]> {
  try {
    return (await readFile(path, "utf8")).trimEnd().split("\n").slice(-lines);
  } catch {
    return [];
  }
}

export function summary(state: StackState, layout: StackLayout): string[] {
  const ns = state.gateway_namespace;
  return [
    `Sigilum local stack is up (gateway namespace: ${ns}).`,
    ...keyValues([
      ["gateway", `${state.urls.gateway}   (agents call /proxy/<service>/...; admin API /api/admin/*)`],
      ["control plane", state.urls.control_plane],
      ["verifier", state.urls.verifier],
      [
        "usage worker",
        `${state.services["usage-worker"]?.url ?? "-"}   (reports usage to the control plane)`,
      ],
      [
        "database",
        state.database === "postgres"
          ? "PostgreSQL (DATABASE_URL)"
          : `PostgreSQL, the stack's own server, data in ${layout.postgresDataDir}`,
      ],
      [
        "redis",
        state.redis.embedded
          ? `${state.redis.url}   (the stack's own redis-server, AOF in ${layout.redisDataDir})`
          : `${state.redis.url}   (REDIS_URL)`,
      ],
      ["key prefix", state.redis.prefix],
      ["data dir", layout.dataDir],
      ["logs", layout.logDir],
    ]),
    "",
    "Next steps:",
    `  sigilum init                              # the agent's identity, in the gateway's namespace (${ns})`,
    "  sigilum service add my-api --upstream-base-url https://api.example.com --upstream-secret-stdin < token.txt",
    "  sigilum request GET /proxy/my-api/        # first call: 403 AUTH_CLAIM_REQUIRED, an approval is requested",
    "  sigilum approvals list",
    "  sigilum approvals approve <claim-id>",
    "  sigilum request GET /proxy/my-api/        # now reaches the API with the credential injected",
    "  sigilum down                              # stop everything",
  ];
}
