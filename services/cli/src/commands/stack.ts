import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Command } from "commander";
import type { CliContext } from "../context.ts";
import { CliError, EXIT_FAILURE } from "../errors.ts";
import { ensurePrivateDir } from "../lib/files.ts";
import { dataDir, REPO_ROOT } from "../lib/paths.ts";
import { emit, keyValues, note, success, table } from "../output.ts";
import {
  type AddressVariable,
  type ListenAddress,
  type StackAddresses,
  stackAddresses,
} from "../stack/addresses.ts";
import { probeHealth, waitForHealth } from "../stack/health.ts";
import { logFile, pidFile, type StackLayout, stackLayout } from "../stack/layout.ts";
import { entryPathOf, STACK_SERVICES, type StackService } from "../stack/plan.ts";
import { canListen } from "../stack/ports.ts";
import { checkPostgresReachable } from "../stack/postgres-check.ts";
import {
  CLI_ENTRY,
  type PreparedStack,
  prepareStack,
  redisUrlOf,
  SUPERVISOR,
  SUPERVISOR_MARKER,
  stateFor,
} from "../stack/prepare.ts";
import { isOurProcess, readPidFile, removePidFile, terminate, writePidFile } from "../stack/processes.ts";
import { checkRedis, redactUrl } from "../stack/redis-check.ts";
import { readStackState, removeStackState, type StackState, writeStackState } from "../stack/state.ts";
import { Supervisor } from "../stack/supervisor.ts";

/** `sigilum up | down | status`: the local stack as processes on this machine (DESIGN.md §1, "Local, no Docker"). */

const serviceMarker = (service: StackService) => entryPathOf(service);

function seconds(ctx: CliContext, name: string, fallback: number): number {
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

async function inspect(
  layout: StackLayout,
): Promise<{ supervisor: ProcessReport; services: ProcessReport[] }> {
  const read = async (name: string, marker: string): Promise<ProcessReport> => {
    const pid = await readPidFile(pidFile(layout, name));
    return { name, pid, running: pid !== undefined && (await isOurProcess(pid, marker)) };
  };
  return {
    supervisor: await read(SUPERVISOR, SUPERVISOR_MARKER),
    services: await Promise.all(STACK_SERVICES.map((s) => read(s, serviceMarker(s)))),
  };
}

async function tail(path: string, lines = 15): Promise<string[]> {
  try {
    return (await readFile(path, "utf8")).trimEnd().split("\n").slice(-lines);
  } catch {
    return [];
  }
}

function summary(state: StackState, layout: StackLayout, redisUrl: string): string[] {
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
          : `PGlite in ${join(layout.controlPlaneDataDir, "pgdata")}`,
      ],
      ["redis", redactUrl(redisUrl)],
      ["data dir", layout.dataDir],
      ["logs", layout.logDir],
    ]),
    "",
    "Next steps:",
    `  sigilum init ${ns}                       # the agent's identity (same namespace as the gateway)`,
    "  sigilum service add my-api --upstream-base-url https://api.example.com --upstream-secret-stdin < token.txt",
    "  sigilum request GET /proxy/my-api/        # first call: 403 AUTH_CLAIM_REQUIRED, an approval is requested",
    "  sigilum approvals list",
    "  sigilum approvals approve <claim-id>",
    "  sigilum request GET /proxy/my-api/        # now reaches the API with the credential injected",
    "  sigilum down                              # stop everything",
  ];
}

async function preflight(prepared: {
  redisUrl: string;
  databaseUrl: string | undefined;
  addresses: StackAddresses;
}): Promise<void> {
  const redis = await checkRedis(prepared.redisUrl);
  if (!redis.ok) {
    throw new CliError(`Redis is not reachable at ${redactUrl(prepared.redisUrl)} (${redis.reason})`, {
      hint:
        "The gateway keeps nonces, claims and connections in Redis. Start it, then run `sigilum up` again:\n" +
        "  redis-server --daemonize yes            # or: docker run -d --name redis -p 6379:6379 redis:7\n" +
        "Or point REDIS_URL at a running Redis.",
    });
  }
  if (prepared.databaseUrl) {
    const postgres = await checkPostgresReachable(prepared.databaseUrl);
    if (!postgres.ok) {
      throw new CliError(
        `PostgreSQL is not reachable at ${redactUrl(prepared.databaseUrl)} (${postgres.reason})`,
        {
          hint: "Start PostgreSQL, fix DATABASE_URL, or unset DATABASE_URL to use the embedded PGlite database.",
        },
      );
    }
  }
  const checks: [AddressVariable, ListenAddress][] = [
    ["CONTROL_PLANE_ADDR", prepared.addresses.controlPlane],
    ["VERIFIER_ADDR", prepared.addresses.verifier],
    ["GATEWAY_ADDR", prepared.addresses.gateway],
    ["USAGE_WORKER_ADDR", prepared.addresses.usageWorker],
  ];
  for (const [variable, address] of checks) {
    if (!(await canListen(address))) {
      throw new CliError(
        `Cannot listen on ${address.addr} (${variable}): the port is in use or not available`,
        {
          hint: `Stop what uses it, or choose another port: ${variable}=127.0.0.1:<port> sigilum up`,
        },
      );
    }
  }
}

/** Waits for every service's /health, printing a line as each comes up; returns those that did not. */
async function awaitHealthy(
  ctx: CliContext,
  prepared: PreparedStack,
  timeoutMs: number,
  alive: (service: StackService) => boolean,
): Promise<{ name: StackService; outcome: "timeout" | "exited" }[]> {
  const started = Date.now();
  const outcomes = await Promise.all(
    prepared.plans.map(async (plan) => {
      const outcome = await waitForHealth(plan.url, { timeoutMs, stillRunning: () => alive(plan.name) });
      const elapsed = ((Date.now() - started) / 1000).toFixed(1);
      if (outcome === "healthy") success(ctx, `${plan.name} is healthy at ${plan.url} (${elapsed}s)`);
      return { name: plan.name, outcome };
    }),
  );
  return outcomes.filter(
    (o): o is { name: StackService; outcome: "timeout" | "exited" } => o.outcome !== "healthy",
  );
}

/** The service whose exit stopped the stack (the supervisor logs it), else the first that was not healthy. */
async function culprit(
  layout: StackLayout,
  failures: { name: StackService; outcome: string }[],
): Promise<StackService> {
  const lines = await tail(logFile(layout, SUPERVISOR), 50);
  for (const line of lines.reverse()) {
    const match = / (control-plane|verifier|proxy) exited with code \d+; stopping the stack$/.exec(line);
    if (match) return match[1] as StackService;
  }
  return (failures[0]?.name ?? "control-plane") as StackService;
}

async function reportFailure(layout: StackLayout, failed: StackService, timeoutMs?: number): Promise<never> {
  const lines = await tail(logFile(layout, failed));
  const supervisorLines = await tail(logFile(layout, SUPERVISOR), 5);
  const why = timeoutMs ? ` (not healthy within ${timeoutMs / 1000}s; SIGILUM_UP_TIMEOUT_SECONDS)` : "";
  throw new CliError(`${failed} did not start${why}; the stack was stopped`, {
    hint: [
      ...(lines.length > 0
        ? [`Last lines of ${logFile(layout, failed)}:`, ...lines.map((l) => `  ${l}`)]
        : []),
      ...(supervisorLines.length > 0 ? [`Supervisor:`, ...supervisorLines.map((l) => `  ${l}`)] : []),
      `Full logs: ${layout.logDir}`,
    ].join("\n"),
  });
}

async function alreadyRunning(
  ctx: CliContext,
  layout: StackLayout,
  json: boolean | undefined,
): Promise<boolean> {
  const found = await inspect(layout);
  const state = await readStackState(layout);
  if (found.supervisor.running && state) {
    note(ctx, `The local stack is already running (supervisor pid ${found.supervisor.pid}).`);
    emit(ctx, json, { command: "up", already_running: true, ...state }, () =>
      summary(state, layout, ctx.env.REDIS_URL?.trim() || "redis://127.0.0.1:6379"),
    );
    return true;
  }
  const leftovers = [found.supervisor, ...found.services].filter((p) => p.running);
  if (leftovers.length > 0) {
    throw new CliError(
      `Part of a previous stack is still running: ${leftovers.map((p) => `${p.name} (pid ${p.pid})`).join(", ")}`,
      { hint: "Run `sigilum down`, then `sigilum up`." },
    );
  }
  return false;
}

function printPreparation(ctx: CliContext, prepared: PreparedStack): void {
  for (const path of prepared.createdSecrets) note(ctx, `created ${path} (0600)`);
  if (prepared.identityCreated) {
    note(
      ctx,
      `created the gateway identity for namespace "${prepared.gatewayNamespace}" in ${prepared.layout.gatewayHome}`,
    );
  }
}

async function upBackground(
  ctx: CliContext,
  prepared: PreparedStack,
  json: boolean | undefined,
): Promise<void> {
  const { layout } = prepared;
  await ensurePrivateDir(layout.runDir);
  await mkdir(layout.logDir, { recursive: true, mode: 0o700 });
  const logFd = openSync(logFile(layout, SUPERVISOR), "a", 0o600);
  const child = spawn(process.execPath, [CLI_ENTRY, "__supervise"], {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ["ignore", logFd, logFd],
    env: {
      ...ctx.env,
      SIGILUM_DATA_DIR: layout.dataDir,
      GATEWAY_SIGILUM_NAMESPACE: prepared.gatewayNamespace,
    },
  });
  closeSync(logFd);
  child.unref();
  let supervisorAlive = true;
  child.once("exit", () => {
    supervisorAlive = false;
  });
  if (!child.pid) throw new CliError("Could not start the stack supervisor");
  await writePidFile(pidFile(layout, SUPERVISOR), child.pid);
  note(
    ctx,
    `starting ${prepared.plans.map((p) => `${p.name} on ${p.addr}`).join(", ")} (logs in ${layout.logDir})`,
  );
  const timeoutMs = seconds(ctx, "SIGILUM_UP_TIMEOUT_SECONDS", 90) * 1000;
  const failures = await awaitHealthy(ctx, prepared, timeoutMs, () => supervisorAlive);
  if (failures.length > 0) {
    const failed = await culprit(layout, failures);
    const timedOut = failures.find((f) => f.name === failed)?.outcome === "timeout";
    await terminate(child.pid, 20_000);
    await removePidFile(pidFile(layout, SUPERVISOR));
    await reportFailure(layout, failed, timedOut ? timeoutMs : undefined);
  }
  const state = (await readStackState(layout)) ?? stateFor(prepared, "background", {});
  emit(ctx, json, { command: "up", already_running: false, ...state }, () =>
    summary(state, layout, prepared.redisUrl),
  );
}

function supervisorFor(
  ctx: CliContext,
  prepared: PreparedStack,
  output: "prefix" | "files",
  log: (line: string) => void,
) {
  return new Supervisor({
    layout: prepared.layout,
    plans: prepared.plans,
    baseEnv: ctx.env,
    output,
    stopTimeoutMs: seconds(ctx, "SIGILUM_STOP_TIMEOUT_SECONDS", 10) * 1000,
    log,
    cwd: REPO_ROOT,
  });
}

function pidsOf(supervisor: Supervisor): Record<string, number> {
  const pids: Record<string, number> = {};
  for (const name of STACK_SERVICES) {
    const pid = supervisor.pidOf(name);
    if (pid) pids[name] = pid;
  }
  return pids;
}

function handleSignals(supervisor: Supervisor): () => void {
  const stop = () => void supervisor.stop(0);
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  return () => {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  };
}

async function upForeground(
  ctx: CliContext,
  prepared: PreparedStack,
  json: boolean | undefined,
): Promise<void> {
  const { layout } = prepared;
  const supervisor = supervisorFor(ctx, prepared, "prefix", (line) => note(ctx, line));
  const release = handleSignals(supervisor);
  try {
    await ensurePrivateDir(layout.runDir);
    await writePidFile(pidFile(layout, SUPERVISOR), process.pid);
    await supervisor.start();
    await writeStackState(layout, stateFor(prepared, "foreground", pidsOf(supervisor)));
    const timeoutMs = seconds(ctx, "SIGILUM_UP_TIMEOUT_SECONDS", 90) * 1000;
    const failures = await awaitHealthy(ctx, prepared, timeoutMs, (name) => supervisor.isRunning(name));
    if (failures.length > 0) {
      const failed = supervisor.firstExit ?? failures[0]?.name;
      await supervisor.stop(EXIT_FAILURE);
      throw new CliError(`${failed} did not start; the stack was stopped (its output is above)`);
    }
    const state = (await readStackState(layout)) ?? stateFor(prepared, "foreground", pidsOf(supervisor));
    emit(ctx, json, { command: "up", already_running: false, ...state }, () =>
      summary(state, layout, prepared.redisUrl),
    );
    note(ctx, "running in the foreground; press Ctrl-C to stop");
    ctx.exitCode = await supervisor.done;
  } finally {
    release();
    await removePidFile(pidFile(layout, SUPERVISOR));
  }
}

/** The detached supervisor started by `up`: runs the services until SIGTERM (from `down`). */
async function supervise(ctx: CliContext): Promise<void> {
  const prepared = await prepareStack(ctx, {});
  const { layout } = prepared;
  const log = (line: string) => ctx.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const supervisor = supervisorFor(ctx, prepared, "files", log);
  const release = handleSignals(supervisor);
  try {
    await writePidFile(pidFile(layout, SUPERVISOR), process.pid);
    await supervisor.start();
    const state = stateFor(prepared, "background", pidsOf(supervisor));
    await writeStackState(layout, state);
    ctx.exitCode = await supervisor.done;
  } finally {
    release();
    await removePidFile(pidFile(layout, SUPERVISOR));
  }
}

async function down(ctx: CliContext, json: boolean | undefined): Promise<void> {
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
    if (service.pid && (await isOurProcess(service.pid, serviceMarker(service.name as StackService)))) {
      const how = await terminate(service.pid, stopTimeoutMs);
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
  emit(ctx, json, { command: "down", data_dir: layout.dataDir, services, stopped }, () => [
    ...found.services.map((s) =>
      s.running ? `[ok] ${s.name} stopped (pid ${s.pid})` : `[ok] ${s.name}: not running`,
    ),
    found.supervisor.running || found.services.some((s) => s.running)
      ? "Sigilum local stack stopped."
      : "Sigilum local stack was not running.",
  ]);
}

async function status(ctx: CliContext, json: boolean | undefined): Promise<void> {
  const layout = stackLayout(dataDir(ctx.env, ctx.cwd));
  const found = await inspect(layout);
  const state = await readStackState(layout);
  const services = await Promise.all(
    found.services.map(async (s) => {
      const url = state?.services[s.name]?.url;
      const healthy = s.running && url !== undefined ? await probeHealth(url) : false;
      return {
        name: s.name,
        pid: s.running ? (s.pid ?? null) : null,
        running: s.running,
        healthy,
        url: url ?? null,
        log: logFile(layout, s.name),
      };
    }),
  );
  const running = found.supervisor.running && services.every((s) => s.running);
  const healthy = running && services.every((s) => s.healthy);
  emit(
    ctx,
    json,
    {
      command: "status",
      running,
      healthy,
      data_dir: layout.dataDir,
      gateway_namespace: state?.gateway_namespace ?? null,
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
        healthy ? "Sigilum local stack is running." : "Sigilum local stack is degraded.",
        ...table(
          ["SERVICE", "PID", "STATE", "URL"],
          services.map((s) => [
            s.name,
            s.pid ? String(s.pid) : "-",
            s.running ? (s.healthy ? "healthy" : "unhealthy") : "stopped",
            s.url ?? "-",
          ]),
        ),
        ...keyValues([
          ["gateway namespace", state?.gateway_namespace],
          ["data dir", layout.dataDir],
        ]),
        ...(healthy
          ? []
          : ["", "See the logs in " + layout.logDir + ", or restart: sigilum down && sigilum up"]),
      ];
    },
  );
  if (!healthy) ctx.exitCode = EXIT_FAILURE;
}

export function registerStackCommands(program: Command, ctx: CliContext): void {
  program
    .command("up")
    .description("start the local stack: control plane, verifier and gateway (proxy in inline mode)")
    .option("--foreground", "keep the services attached to this terminal; Ctrl-C stops them")
    .option(
      "--namespace <namespace>",
      "the gateway's namespace (default: $SIGILUM_NAMESPACE or the only identity)",
    )
    .option("--json", "print JSON")
    .action(async (opts: { foreground?: boolean; namespace?: string; json?: boolean }) => {
      const layout = stackLayout(dataDir(ctx.env, ctx.cwd));
      if (await alreadyRunning(ctx, layout, opts.json)) return;
      // Checks first: a failed `up` leaves nothing behind.
      await preflight({
        redisUrl: redisUrlOf(ctx.env),
        databaseUrl: ctx.env.DATABASE_URL?.trim() || undefined,
        addresses: stackAddresses(ctx.env),
      });
      const prepared = await prepareStack(ctx, { namespace: opts.namespace });
      printPreparation(ctx, prepared);
      if (opts.foreground) await upForeground(ctx, prepared, opts.json);
      else await upBackground(ctx, prepared, opts.json);
    });

  program
    .command("down")
    .description("stop the local stack (SIGTERM, then SIGKILL after SIGILUM_STOP_TIMEOUT_SECONDS)")
    .option("--json", "print JSON")
    .action((opts: { json?: boolean }) => down(ctx, opts.json));

  program
    .command("status")
    .description("show whether the local stack runs and is healthy (exit 1 when not)")
    .option("--json", "print JSON")
    .action((opts: { json?: boolean }) => status(ctx, opts.json));

  program.command("__supervise", { hidden: true }).action(() => supervise(ctx));
}
