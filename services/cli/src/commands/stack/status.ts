import type { CliContext } from "../../context.ts";
import { dataDir } from "../../core/paths.ts";
import { EXIT_FAILURE } from "../../errors.ts";
import { emit, keyValues, table } from "../../output.ts";
import { probeHealth } from "../../stack/health.ts";
import { logFile, stackLayout } from "../../stack/layout.ts";
import { STORES, type StackService } from "../../stack/plan.ts";
import { readStackState } from "../../stack/state.ts";
import { inspect } from "./common.ts";

/** `sigilum status`: each service's process and health, as a table or `--json`. */

/** A service's state for `status`: healthy, unhealthy, restarting (crashed, restart scheduled) or stopped. */
function serviceState(s: { running: boolean; healthy: boolean; restarting: boolean }): string {
  if (s.running) return s.healthy ? "healthy" : "unhealthy";
  return s.restarting ? "restarting" : "stopped";
}

export async function status(ctx: CliContext, json: boolean | undefined): Promise<void> {
  const layout = stackLayout(dataDir(ctx.env, ctx.cwd));
  const found = await inspect(layout);
  const state = await readStackState(layout);
  // The stack's own Redis and PostgreSQL are among its services only when it runs them.
  const expected = found.services.filter(
    (s) => !STORES.includes(s.name as StackService) || state?.services[s.name] || s.running,
  );
  const services = await Promise.all(
    expected.map(async (s) => {
      const recorded = state?.services[s.name];
      const healthy = s.running && recorded !== undefined ? await probeHealth(recorded.health) : false;
      const restarting = !s.running && found.supervisor.running && recorded !== undefined;
      return {
        name: s.name,
        pid: s.running ? (s.pid ?? null) : null,
        running: s.running,
        healthy,
        state: serviceState({ running: s.running, healthy, restarting }),
        restarts: recorded?.restarts ?? 0,
        last_exit_code: recorded?.last_exit_code ?? null,
        url: recorded?.url ?? null,
        log: logFile(layout, s.name),
      };
    }),
  );
  const running = found.supervisor.running && services.every((s) => s.running);
  const healthy = running && services.every((s) => s.healthy);
  const failing = services.filter((s) => s.state !== "healthy");
  emit(
    ctx,
    json,
    {
      command: "status",
      running,
      healthy,
      failing: failing.map((s) => s.name),
      data_dir: layout.dataDir,
      gateway_namespace: state?.gateway_namespace ?? null,
      redis: state?.redis ?? null,
      urls: state?.urls ?? null,
      supervisor: {
        pid: found.supervisor.running ? found.supervisor.pid : null,
        running: found.supervisor.running,
      },
      services,
    },
    () => {
      if (!found.supervisor.running && services.every((s) => !s.running)) {
        return ["Sigilum local stack is not running.", "Start it with: sigilum up"];
      }
      return [
        healthy
          ? "Sigilum local stack is running."
          : `Sigilum local stack is degraded: ${failing.map((s) => `${s.name} ${s.state}`).join(", ")}.`,
        ...table(
          ["SERVICE", "PID", "STATE", "RESTARTS", "URL"],
          services.map((s) => [
            s.name,
            s.pid ? String(s.pid) : "-",
            s.state,
            s.restarts > 0 ? `${s.restarts} (last exit ${s.last_exit_code})` : "0",
            s.url ?? "-",
          ]),
        ),
        ...keyValues([
          ["gateway namespace", state?.gateway_namespace],
          ["data dir", layout.dataDir],
        ]),
        ...(healthy
          ? []
          : [
              "",
              ...failing.map((s) => `${s.name}: see ${s.log}`),
              "A crashed service is restarted by the supervisor; to start over: sigilum down && sigilum up",
            ]),
      ];
    },
  );
  if (!healthy) ctx.exitCode = EXIT_FAILURE;
}
