import type { CliContext } from "../../context.ts";
import { dataDir } from "../../core/paths.ts";
import { emit, note, success } from "../../output.ts";
import { pidFile, stackLayout } from "../../stack/layout.ts";
import { markerOf, type StackService, stopSignalOf } from "../../stack/plan.ts";
import { SUPERVISOR } from "../../stack/prepare.ts";
import { isOurProcess, removePidFile, terminate } from "../../stack/processes.ts";
import { readStackState, removeStackState } from "../../stack/state.ts";
import { inspect, seconds } from "./common.ts";

/** `sigilum down`: stops the supervisor (and with it every service) and clears the stack state. */

export async function down(ctx: CliContext, json: boolean | undefined): Promise<void> {
  const layout = stackLayout(dataDir(ctx.env, ctx.cwd));
  const found = await inspect(layout);
  const stopTimeoutMs = seconds(ctx, "SIGILUM_STOP_TIMEOUT_SECONDS", 10) * 1000;
  const stopped: { name: string; pid: number; how: string }[] = [];
  const state = await readStackState(layout);
  if (found.supervisor.running && found.supervisor.pid) {
    const pid = found.supervisor.pid;
    note(ctx, `stopping the stack (supervisor pid ${pid})`);
    // The supervisor stops its services first; give it their stop timeout plus a margin.
    const how = await terminate(pid, stopTimeoutMs + 5000);
    if (how === "killed" && state?.mode === "background") {
      // A detached supervisor leads its own process group: take its children with it.
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    stopped.push({ name: SUPERVISOR, pid, how });
  }
  for (const service of found.services) {
    if (service.pid && (await isOurProcess(service.pid, markerOf(service.name as StackService)))) {
      const how = await terminate(service.pid, stopTimeoutMs, stopSignalOf(service.name as StackService));
      stopped.push({ name: service.name, pid: service.pid, how });
    }
    await removePidFile(pidFile(layout, service.name));
  }
  await removePidFile(pidFile(layout, SUPERVISOR));
  await removeStackState(layout);
  const services = found.services.map((s) => ({
    name: s.name,
    pid: s.pid ?? null,
    was_running: s.running,
  }));
  // Progress on stderr; stdout carries only the result (one JSON document with --json).
  for (const s of found.services.filter((service) => service.running))
    success(ctx, `${s.name} stopped (pid ${s.pid})`);
  emit(ctx, json, { command: "down", data_dir: layout.dataDir, services, stopped }, () => [
    found.supervisor.running || found.services.some((s) => s.running)
      ? "Sigilum local stack stopped."
      : "Sigilum local stack was not running.",
  ]);
}
